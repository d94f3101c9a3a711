/*
 * A storage gateway's write path, traced with the C++ wrapper (ringside.hpp).
 *
 *   c++ -std=c++17 -Wall -Wextra -Werror examples/cpp/storage_gateway.cpp \
 *       $(pkg-config --cflags --libs ringside) -o storage_gateway
 *   RINGSIDE_DIR=/tmp/rings ./storage_gateway 10
 *
 * Each request makes three spans that end themselves when they leave scope:
 *
 *   storage.file.write (server)        parent from the request's traceparent
 *   +- storage.metadata.commit          the new version
 *   +- data.write (client)       to a data node; its context goes into the RPC
 *                                frame (binary form). Every 5th write throws;
 *                                the spans still end during stack unwinding.
 *
 * Exits 0 when every call succeeded.
 */
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "ringside.hpp"

namespace {

bool failed = false;

void expect(rs_status_t status, const char *what) {
  if (status != RS_OK) {
    std::fprintf(stderr, "storage_gateway: %s: %s\n", what, ringside::strerror(status));
    failed = true;
  }
}

/* Sends the chunk to a data node; every 5th node refuses. */
void write_chunk(const ringside::Tracer &tracer, const ringside::Span &parent, int request) {
  ringside::Span span(tracer, "data.write", parent, RS_SPAN_KIND_CLIENT);
  span.attr("storage.chunk.id", request).attr("storage.chunk.size", 4096).attr("server.port", 7070);

  std::string frame;
  expect(span.context().to_binary(frame), "to_binary");
  size_t used = 0;
  ringside::Context echoed = ringside::Context::from_binary(
      reinterpret_cast<const uint8_t *>(frame.data()), frame.size(), &used);
  if (!echoed.valid() || used != frame.size() ||
      echoed.span_id_hex() != span.context().span_id_hex()) {
    std::fprintf(stderr, "storage_gateway: binary context did not round-trip\n");
    failed = true;
  }
  if (request % 5 == 4) {
    span.error("ECONNREFUSED", "data node refused the write");
    expect(span.status(), "data.write");
    throw std::runtime_error("data node refused the write");
  }
  span.event("chunk.acked", {ringside::attr("replicas", 3), ringside::attr("sync", true)});
  expect(span.status(), "data.write");
}

void serve_write(const ringside::Tracer &tracer, const std::string &traceparent, int request) {
  ringside::Context incoming = ringside::Context::extract(traceparent, "gw=1");
  std::string path = "/bucket/object-" + std::to_string(request);
  ringside::Span root =
      ringside::Span::file(tracer, RS_FILE_WRITE, path, 4096, "gw-client", &incoming);
  {
    ringside::Context parent = root.context();
    ringside::Span commit =
        ringside::Span::metadata(tracer, RS_METADATA_COMMIT, path, &parent);
    commit.metadata_result(RS_METADATA_HIT, static_cast<uint64_t>(request) + 1).attr("load", 0.5);
    expect(commit.status(), "metadata.commit");
  }
  try {
    write_chunk(tracer, root, request);
    root.ok();
  } catch (const std::exception &e) {
    root.error("write_failed", e.what());
  }
  std::string tp, ts;
  expect(root.context().inject(tp, ts), "inject");
  if (tp.size() != RS_TRACEPARENT_LEN || ts != "gw=1") {
    std::fprintf(stderr, "storage_gateway: injected headers are wrong: %s / %s\n", tp.c_str(),
                 ts.c_str());
    failed = true;
  }
  expect(root.status(), "file.write");
}

}  // namespace

int main(int argc, char **argv) {
  int requests = argc > 1 ? std::atoi(argv[1]) : 10;
  ringside::Tracer tracer("storage-gateway");
  if (!tracer.ok()) {
    std::fprintf(stderr, "storage_gateway: tracer: %s\n", ringside::strerror(tracer.status()));
    return 1;
  }
  expect(tracer.open(), "open ring");
  const std::string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  for (int i = 0; i < requests; i++) serve_write(tracer, traceparent, i);

  // A moved span is ended once, by its new owner.
  ringside::Span a(tracer, "moved");
  ringside::Span b(std::move(a));
  expect(b.end(), "end moved span");
  if (b.end() != RS_ERR_ENDED) failed = true;

  rs_ring_stats_t stats = tracer.stats();
  std::printf("written=%llu dropped=%llu lost=%llu\n",
              static_cast<unsigned long long>(stats.written),
              static_cast<unsigned long long>(stats.dropped),
              static_cast<unsigned long long>(stats.lost));
  return failed ? 1 : 0;
}
