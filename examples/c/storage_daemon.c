/*
 * A small storage daemon's read path, traced through the ringside C ABI.
 *
 *   cc -std=c11 -Wall -Wextra -Werror examples/c/storage_daemon.c \
 *      $(pkg-config --cflags --libs ringside) -lpthread -o storage_daemon
 *   RINGSIDE_DIR=/tmp/rings ./storage_daemon 100 2 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
 *
 * Arguments: requests per thread, threads, and the `traceparent` header the
 * requests arrive with (optional; without it every request starts a trace).
 * Each request makes four spans:
 *
 *   storage.file.read (server)       the client's request, parent from traceparent
 *   +- storage.metadata.lookup       where the file's chunk lives
 *   +- storage.data.read             the chunk from disk (every 10th fails: EIO)
 *      +- client/ReadReply (client)  the chunk to the client, context injected
 *
 * The rs_storage_* helpers name and attribute them as the Rust storage
 * helpers do. Spans live on the stack (rs_span_t); the tracer is shared by all
 * threads.
 * Exits 0 when every call succeeded and prints the ring's counters.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringside.h"

/* Set by any thread whose call failed. */
static int failed;

/* Reports a failed call; evaluates to nonzero on failure. */
static int check(rs_status_t status, const char *what) {
  if (status != RS_OK) {
    fprintf(stderr, "storage_daemon: %s: %s\n", what, rs_strerror(status));
    __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
    return 1;
  }
  return 0;
}

struct worker {
  const rs_tracer_t *tracer;
  int id;
  int requests;
  const char *traceparent; /* may be NULL */
};

/* Sends the chunk back, as a client span carrying the context onward. */
static void network_send(const rs_tracer_t *tracer, const rs_span_context_t *parent,
                         long long bytes) {
  rs_span_t span;
  if (check(rs_storage_transfer_start(tracer, &span, parent, RS_LIT("client/ReadReply"),
                                      RS_LIT("192.0.2.12"), 7070),
            "start transfer"))
    return;

  /* What goes into the reply's headers (text) and the RPC frame (binary). */
  rs_span_context_t ctx;
  char traceparent[RS_TRACEPARENT_LEN + 1];
  char tracestate[RS_TRACESTATE_MAX + 1];
  size_t tracestate_len = 0;
  uint8_t frame[RS_BINARY_LEN + 2 + RS_TRACESTATE_MAX];
  size_t frame_len = 0, consumed = 0;
  rs_span_context_t decoded;
  check(rs_span_context(&span, &ctx), "context");
  check(rs_context_inject(&ctx, traceparent, sizeof traceparent, tracestate, sizeof tracestate,
                          &tracestate_len),
        "inject");
  check(rs_context_to_binary_with_state(&ctx, frame, sizeof frame, &frame_len), "to_binary");
  check(rs_context_from_binary_with_state(frame, frame_len, &decoded, &consumed), "from_binary");
  if (strlen(traceparent) != RS_TRACEPARENT_LEN || consumed != frame_len ||
      memcmp(decoded.span_id, ctx.span_id, sizeof ctx.span_id) != 0) {
    fprintf(stderr, "storage_daemon: context did not survive its round trip\n");
    __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
  }
  check(rs_storage_transfer_end(&span, (uint64_t)bytes, 0, NULL, 0, NULL, 0), "end transfer");
}

/* Reads one chunk; every 10th read fails with EIO. */
static void data_read(const rs_tracer_t *tracer, const rs_span_context_t *parent, int request,
                      long long chunk) {
  char chunk_id[32];
  int chunk_len = snprintf(chunk_id, sizeof chunk_id, "c-%lld", chunk);
  rs_span_t span;
  if (check(rs_storage_data_start(tracer, &span, parent, RS_DATA_READ, chunk_id,
                                  (size_t)chunk_len, 65536, 3, 0),
            "start data.read"))
    return;
  if (request % 10 == 9) {
    check(rs_span_record_error(&span, RS_LIT("EIO"), RS_LIT("checksum mismatch")), "error");
  } else {
    rs_attr_t attrs[] = {rs_attr_f64(RS_LIT("latency.ms"), 0.25)};
    check(rs_span_add_event(&span, RS_LIT("checksum.ok"), attrs, 1), "event");
    rs_span_context_t ctx;
    check(rs_span_context(&span, &ctx), "context");
    network_send(tracer, &ctx, 65536 + 64);
  }
  check(rs_span_end(&span), "end data.read");
}

/* Serves one read request. */
static void serve_read(const struct worker *w, int request) {
  rs_span_context_t incoming;
  const rs_span_context_t *parent = NULL;
  if (w->traceparent != NULL) {
    if (check(rs_context_extract(w->traceparent, strlen(w->traceparent), RS_LIT("vendor=abc"),
                                 &incoming),
              "extract"))
      return;
    parent = &incoming;
  }
  char path[64];
  int path_len = snprintf(path, sizeof path, "/vol1/t%d/file-%d", w->id, request);
  long long chunk = (long long)w->id * 1000000 + request;

  rs_span_t root;
  if (check(rs_storage_file_start(w->tracer, &root, parent, RS_FILE_READ, path, (size_t)path_len,
                                  RS_UNKNOWN, RS_LIT("tenant-7")),
            "start file.read"))
    return;
  rs_span_context_t root_ctx;
  check(rs_span_context(&root, &root_ctx), "context");

  rs_span_t lookup;
  if (!check(rs_storage_metadata_start(w->tracer, &lookup, &root_ctx, RS_METADATA_LOOKUP, path,
                                       (size_t)path_len),
             "start metadata.lookup")) {
    check(rs_storage_set_metadata_result(&lookup, RS_METADATA_HIT, (uint64_t)request + 1),
          "result");
    check(rs_span_set_bool(&lookup, RS_LIT("cached"), request % 2 == 0), "attr");
    check(rs_span_end(&lookup), "end metadata.lookup");
  }
  check(rs_storage_set_size(&root, 65536), "size");

  data_read(w->tracer, &root_ctx, request, chunk);
  if (request % 10 == 9)
    check(rs_span_set_status(&root, RS_STATUS_ERROR, RS_LIT("read failed")), "status");
  else
    check(rs_span_set_status(&root, RS_STATUS_OK, NULL, 0), "status");
  check(rs_span_end(&root), "end file.read");
}

static void *run_worker(void *arg) {
  const struct worker *w = arg;
  for (int i = 0; i < w->requests; i++) serve_read(w, i);
  return NULL;
}

int main(int argc, char **argv) {
  int requests = argc > 1 ? atoi(argv[1]) : 10;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  const char *traceparent = argc > 3 ? argv[3] : NULL;
  if (requests < 0 || threads < 1 || threads > 64) {
    fprintf(stderr, "usage: storage_daemon [requests] [threads 1..64] [traceparent]\n");
    return 2;
  }

  rs_status_t status = RS_OK;
  rs_tracer_t *tracer = rs_tracer_new("storage-daemon", NULL, &status);
  if (tracer == NULL) {
    fprintf(stderr, "storage_daemon: tracer: %s\n", rs_strerror(status));
    return 1;
  }
  if (check(rs_tracer_open(tracer), "open ring")) {
    rs_tracer_free(tracer);
    return 1;
  }

  pthread_t ids[64];
  struct worker workers[64];
  for (int t = 0; t < threads; t++) {
    workers[t] = (struct worker){tracer, t, requests, traceparent};
    if (pthread_create(&ids[t], NULL, run_worker, &workers[t]) != 0) {
      fprintf(stderr, "storage_daemon: cannot start thread %d\n", t);
      return 1;
    }
  }
  for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);

  rs_ring_stats_t stats;
  check(rs_tracer_stats(tracer, &stats), "stats");
  printf("ringside %s: written=%llu dropped=%llu lost=%llu\n", rs_version(),
         (unsigned long long)stats.written, (unsigned long long)stats.dropped,
         (unsigned long long)stats.lost);
  check(rs_tracer_close(tracer), "close");
  rs_tracer_free(tracer);
  return failed ? 1 : 0;
}
