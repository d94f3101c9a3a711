/*
 * ringside C++ wrapper (C++17): RAII over the C ABI in ringside.h.
 *
 *   ringside::Tracer tracer("data-node");            // ring dir: $RINGSIDE_DIR or /run/ringside
 *   ringside::Span span(tracer, "chunk.read", RS_SPAN_KIND_SERVER, &parent);
 *   span.attr("storage.chunk.id", chunk).attr("storage.size", 4096);
 *   auto file = ringside::Span::file(tracer, RS_FILE_READ, path, RS_UNKNOWN, "tenant-7", &parent);
 *   // ... the span ends (and is written) when it goes out of scope, or at span.end().
 *
 * Nothing here throws or allocates per span. Tracer and Span are move-only;
 * Context is plain data. Every call that can fail returns, or keeps, an
 * rs_status_t: Span::status() is the first error any of its calls met.
 */

#ifndef RINGSIDE_HPP
#define RINGSIDE_HPP

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ringside.h"

namespace ringside {

/** The text of a status code. */
inline const char *strerror(rs_status_t status) { return rs_strerror(status); }

/** An attribute for Span::event and Span::link. */
inline rs_attr_t attr(std::string_view key, std::string_view value) {
  return rs_attr_str(key.data(), key.size(), value.data(), value.size());
}
/** An attribute for Span::event and Span::link. */
inline rs_attr_t attr(std::string_view key, const char *value) {
  return attr(key, std::string_view(value));
}
/** An attribute for Span::event and Span::link. */
inline rs_attr_t attr(std::string_view key, bool value) {
  return rs_attr_bool(key.data(), key.size(), value);
}
/** An attribute for Span::event and Span::link (any integer). */
template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
inline rs_attr_t attr(std::string_view key, T value) {
  return rs_attr_i64(key.data(), key.size(), static_cast<int64_t>(value));
}
/** An attribute for Span::event and Span::link (any floating-point type). */
template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
inline rs_attr_t attr(std::string_view key, T value) {
  return rs_attr_f64(key.data(), key.size(), static_cast<double>(value));
}

/** A span context: plain data, copy it freely. A default one is invalid (no parent). */
class Context {
 public:
  Context() { std::memset(&ctx_, 0, sizeof ctx_); }
  explicit Context(const rs_span_context_t &ctx) : ctx_(ctx) {}

  /** From the `traceparent` and `tracestate` header values; invalid (a new trace) if absent or malformed. */
  static Context extract(std::string_view traceparent, std::string_view tracestate = {},
                         rs_status_t *status = nullptr) {
    Context c;
    rs_status_t s = rs_context_extract(traceparent.data(), traceparent.size(), tracestate.data(),
                                       tracestate.size(), &c.ctx_);
    if (status) *status = s;
    return c;
  }

  /** From the binary form with its trace state at the start of a frame; `*consumed` gets its length. */
  static Context from_binary(const uint8_t *bytes, size_t len, size_t *consumed = nullptr,
                             rs_status_t *status = nullptr) {
    Context c;
    size_t used = 0;
    rs_status_t s = rs_context_from_binary_with_state(bytes, len, &c.ctx_, &used);
    if (consumed) *consumed = used;
    if (status) *status = s;
    return c;
  }

  /** True when both ids are set. */
  bool valid() const { return rs_context_is_valid(&ctx_); }

  /** The W3C header values; `tracestate` is left empty when there is no state. */
  rs_status_t inject(std::string &traceparent, std::string &tracestate) const {
    char tp[RS_TRACEPARENT_LEN + 1];
    char ts[RS_TRACESTATE_MAX + 1];
    size_t ts_len = 0;
    rs_status_t s = rs_context_inject(&ctx_, tp, sizeof tp, ts, sizeof ts, &ts_len);
    if (s == RS_OK) {
      traceparent.assign(tp, RS_TRACEPARENT_LEN);
      tracestate.assign(ts, ts_len);
    }
    return s;
  }

  /** Appends the binary form with trace state to `frame`. */
  rs_status_t to_binary(std::string &frame) const {
    uint8_t buf[RS_BINARY_LEN + 2 + RS_TRACESTATE_MAX];
    size_t n = 0;
    rs_status_t s = rs_context_to_binary_with_state(&ctx_, buf, sizeof buf, &n);
    if (s == RS_OK) frame.append(reinterpret_cast<const char *>(buf), n);
    return s;
  }

  /** The trace id as 32 lowercase hex digits. */
  std::string trace_id_hex() const { return hex(ctx_.trace_id, sizeof ctx_.trace_id); }
  /** The span id as 16 lowercase hex digits. */
  std::string span_id_hex() const { return hex(ctx_.span_id, sizeof ctx_.span_id); }

  const rs_span_context_t *get() const { return &ctx_; }

 private:
  static std::string hex(const uint8_t *bytes, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; i++) {
      out.push_back(digits[bytes[i] >> 4]);
      out.push_back(digits[bytes[i] & 15]);
    }
    return out;
  }

  rs_span_context_t ctx_;
};

/** A tracer for one service; frees itself. Move-only; share one per process between threads. */
class Tracer {
 public:
  /** `ring_dir` NULL: `$RINGSIDE_DIR`, else /run/ringside. Check ok() or status(). */
  explicit Tracer(const char *service, const char *ring_dir = nullptr)
      : tracer_(rs_tracer_new(service, ring_dir, &status_)) {}
  ~Tracer() { rs_tracer_free(tracer_); }
  Tracer(Tracer &&other) noexcept
      : tracer_(std::exchange(other.tracer_, nullptr)), status_(other.status_) {}
  Tracer &operator=(Tracer &&other) noexcept {
    if (this != &other) {
      rs_tracer_free(tracer_);
      tracer_ = std::exchange(other.tracer_, nullptr);
      status_ = other.status_;
    }
    return *this;
  }
  Tracer(const Tracer &) = delete;
  Tracer &operator=(const Tracer &) = delete;

  bool ok() const { return tracer_ != nullptr; }
  rs_status_t status() const { return status_; }
  /** Creates the ring file now (RS_ERR_RING if it cannot be). */
  rs_status_t open() const { return rs_tracer_open(tracer_); }
  /** Stops new spans; see rs_tracer_close. */
  rs_status_t close() const { return rs_tracer_close(tracer_); }
  rs_ring_stats_t stats() const {
    rs_ring_stats_t s{};
    rs_tracer_stats(tracer_, &s);
    return s;
  }
  const rs_tracer_t *get() const { return tracer_; }

 private:
  rs_tracer_t *tracer_;
  rs_status_t status_ = RS_OK;
};

/**
 * A span that ends when destroyed (also during stack unwinding). Move-only: a
 * moved-from span is inert. The tracer must outlive it.
 */
class Span {
 public:
  Span(const Tracer &tracer, std::string_view name, rs_span_kind_t kind = RS_SPAN_KIND_INTERNAL,
       const Context *parent = nullptr)
      : status_(rs_span_start(tracer.get(), &span_, name.data(), name.size(), kind,
                              parent ? parent->get() : nullptr)),
        live_(status_ == RS_OK) {}
  Span(const Tracer &tracer, std::string_view name, rs_span_kind_t kind, const Context &parent)
      : Span(tracer, name, kind, &parent) {}
  /** A child of `parent`, of the same tracer. */
  Span(const Tracer &tracer, std::string_view name, const Span &parent,
       rs_span_kind_t kind = RS_SPAN_KIND_INTERNAL)
      : Span(tracer, name, kind, parent.context()) {}
  ~Span() {
    if (live_) rs_span_end(&span_);
  }
  Span(Span &&other) noexcept
      : span_(other.span_), status_(other.status_), live_(std::exchange(other.live_, false)) {
    other.forget();
  }
  Span &operator=(Span &&other) noexcept {
    if (this != &other) {
      if (live_) rs_span_end(&span_);
      span_ = other.span_;
      status_ = other.status_;
      live_ = std::exchange(other.live_, false);
      other.forget();
    }
    return *this;
  }
  Span(const Span &) = delete;
  Span &operator=(const Span &) = delete;

  Span &attr(std::string_view key, std::string_view value) {
    return keep(rs_span_set_str(&span_, key.data(), key.size(), value.data(), value.size()));
  }
  Span &attr(std::string_view key, const char *value) { return attr(key, std::string_view(value)); }
  Span &attr(std::string_view key, bool value) {
    return keep(rs_span_set_bool(&span_, key.data(), key.size(), value));
  }
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Span &attr(std::string_view key, T value) {
    return keep(rs_span_set_i64(&span_, key.data(), key.size(), static_cast<int64_t>(value)));
  }
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Span &attr(std::string_view key, T value) {
    return keep(rs_span_set_f64(&span_, key.data(), key.size(), static_cast<double>(value)));
  }

  /** An event now, with attributes made by ringside::attr. */
  Span &event(std::string_view name, std::initializer_list<rs_attr_t> attrs = {}) {
    return keep(rs_span_add_event(&span_, name.data(), name.size(), attrs.begin(), attrs.size()));
  }
  Span &link(const Context &to, std::initializer_list<rs_attr_t> attrs = {}) {
    return keep(rs_span_add_link(&span_, to.get(), attrs.begin(), attrs.size()));
  }
  Span &kind(rs_span_kind_t kind) { return keep(rs_span_set_kind(&span_, kind)); }
  Span &ok() { return keep(rs_span_set_status(&span_, RS_STATUS_OK, nullptr, 0)); }
  /** Status error with `message`, and `error.type` = `error_type`. */
  Span &error(std::string_view error_type, std::string_view message) {
    return keep(rs_span_record_error(&span_, error_type.data(), error_type.size(), message.data(),
                                     message.size()));
  }

  /** A `storage.file.<op>` server span (rs_storage_file_start); `size` may be RS_UNKNOWN. */
  static Span file(const Tracer &tracer, rs_file_op_t op, std::string_view path, uint64_t size,
                   std::string_view client_id, const Context *parent = nullptr) {
    Span s;
    s.begin(rs_storage_file_start(tracer.get(), &s.span_, parent ? parent->get() : nullptr, op,
                                  path.data(), path.size(), size, client_id.data(),
                                  client_id.size()));
    return s;
  }
  /** A `storage.metadata.<op>` server span on `key` (rs_storage_metadata_start). */
  static Span metadata(const Tracer &tracer, rs_metadata_op_t op, std::string_view key,
                       const Context *parent = nullptr) {
    Span s;
    s.begin(rs_storage_metadata_start(tracer.get(), &s.span_, parent ? parent->get() : nullptr,
                                      op, key.data(), key.size()));
    return s;
  }
  /** A `storage.data.<op>` server span on one replica of a chunk (rs_storage_data_start). */
  static Span data(const Tracer &tracer, rs_data_op_t op, std::string_view chunk_id, uint64_t size,
                   uint32_t node, uint32_t replica, const Context *parent = nullptr) {
    Span s;
    s.begin(rs_storage_data_start(tracer.get(), &s.span_, parent ? parent->get() : nullptr, op,
                                  chunk_id.data(), chunk_id.size(), size, node, replica));
    return s;
  }
  /** A client span `<service>/<method>` to `peer_ip`:`port` (rs_storage_transfer_start). */
  static Span transfer(const Tracer &tracer, std::string_view name, std::string_view peer_ip,
                       uint16_t port, const Context *parent = nullptr) {
    Span s;
    s.begin(rs_storage_transfer_start(tracer.get(), &s.span_, parent ? parent->get() : nullptr,
                                      name.data(), name.size(), peer_ip.data(), peer_ip.size(),
                                      port));
    return s;
  }
  /** `file.size`, once known. */
  Span &size(uint64_t size) { return keep(rs_storage_set_size(&span_, size)); }
  /** What a metadata operation found, and the entry's version (or RS_UNKNOWN). */
  Span &metadata_result(rs_metadata_result_t result, uint64_t version = RS_UNKNOWN) {
    return keep(rs_storage_set_metadata_result(&span_, result, version));
  }
  /** Marks a server span whose incoming context was invalid. */
  Span &invalid_context() { return keep(rs_storage_mark_invalid_context(&span_)); }
  /** Ends a transfer with its byte counts and, if `error_type` is not empty, its failure. */
  rs_status_t end_transfer(uint64_t sent, uint64_t received, std::string_view error_type = {},
                           std::string_view message = {}) {
    if (!live_) return status_ == RS_OK ? RS_ERR_ENDED : status_;
    live_ = false;
    return rs_storage_transfer_end(&span_, sent, received, error_type.data(), error_type.size(),
                                   message.data(), message.size());
  }

  /** This span's context (invalid if the span never started). */
  Context context() const {
    rs_span_context_t c;
    if (rs_span_context(&span_, &c) != RS_OK) return Context();
    return Context(c);
  }

  /** Ends the span now; the destructor then does nothing. */
  rs_status_t end() {
    if (!live_) return status_ == RS_OK ? RS_ERR_ENDED : status_;
    live_ = false;
    return rs_span_end(&span_);
  }

  /** RS_OK, or the first error that any call on this span returned. */
  rs_status_t status() const { return status_; }

 private:
  /** An inert span, filled by the storage factories through begin(). */
  Span() : status_(RS_ERR_NOT_STARTED), live_(false) { std::memset(&span_, 0, sizeof span_); }
  void begin(rs_status_t s) {
    status_ = s;
    live_ = s == RS_OK;
  }

  /** Makes a moved-from span inert: later calls on it get RS_ERR_NOT_STARTED. */
  void forget() {
    std::memset(&span_, 0, sizeof span_);
    status_ = RS_ERR_NOT_STARTED;
  }

  Span &keep(rs_status_t s) {
    if (status_ == RS_OK) status_ = s;
    return *this;
  }

  rs_span_t span_;
  rs_status_t status_;
  bool live_;
};

}  // namespace ringside

#endif /* RINGSIDE_HPP */
