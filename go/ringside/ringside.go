// Package ringside writes spans into ringside's shared-memory ring through its
// C ABI (include/ringside.h), for the ringside sidecar (`ringside run`) to
// drain, sample and export.
//
// A span is a record kept in Go memory until it ends, then copied into the
// ring in one call: no lock, system call or C allocation per span. The current
// span travels in a context.Context:
//
//	ctx, span := tracer.Start(ctx, "storage.data.read", ringside.WithKind(ringside.KindServer))
//	defer span.End()
//
// W3C Trace Context crosses HTTP with Extract and Inject.
//
// Build: install the C library with scripts/install-c-abi.sh PREFIX, then
// build with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig (cgo finds it through
// pkg-config) and the library on the loader's path (ldconfig, or
// CGO_LDFLAGS=-Wl,-rpath,PREFIX/lib).
package ringside

/*
#cgo pkg-config: ringside
#include <stdlib.h>
#include <ringside.h>
*/
import "C"

import (
	"context"
	"runtime"
	"unsafe"
)

// Error is a failure code of the C ABI; compare with the Err values using
// errors.Is or ==.
type Error int32

// The errors calls can return (see rs_strerror in include/ringside.h).
const (
	ErrNull       Error = C.RS_ERR_NULL
	ErrUTF8       Error = C.RS_ERR_UTF8
	ErrTooLong    Error = C.RS_ERR_TOO_LONG
	ErrClosed     Error = C.RS_ERR_CLOSED
	ErrEnded      Error = C.RS_ERR_ENDED
	ErrNotStarted Error = C.RS_ERR_NOT_STARTED
	ErrInvalid    Error = C.RS_ERR_INVALID
	ErrBuffer     Error = C.RS_ERR_BUFFER
	ErrNoContext  Error = C.RS_ERR_NO_CONTEXT
	ErrRing       Error = C.RS_ERR_RING
	ErrInternal   Error = C.RS_ERR_INTERNAL
)

func (e Error) Error() string {
	return "ringside: " + C.GoString(C.rs_strerror(C.rs_status_t(e)))
}

// check turns a status into an error (nil for RS_OK).
func check(st C.rs_status_t) error {
	if st == C.RS_OK {
		return nil
	}
	return Error(st)
}

// Version is the C library's version, such as "0.1.0".
func Version() string {
	return C.GoString(C.rs_version())
}

// noBytes stands in for the data of an empty string, which the C ABI wants
// as a valid pointer.
var noBytes = [1]byte{0}

// cstr passes s to C without copying: a pointer to its bytes (not
// NUL-terminated) and its length. Go string data holds no Go pointers, so
// C may read it for the duration of the call (the cgo pointer rules).
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return (*C.char)(unsafe.Pointer(&noBytes[0])), 0
	}
	return (*C.char)(unsafe.Pointer(*(**byte)(unsafe.Pointer(&s)))), C.size_t(len(s))
}

// Tracer creates spans for one service; safe for concurrent use. Its C side
// is freed when the Tracer and every span started from it are unreachable.
type Tracer struct {
	c *C.rs_tracer_t
}

// NewTracer creates a tracer for service (at most 64 bytes) writing to a
// ring in ringDir ("" means $RINGSIDE_DIR, else /run/ringside). The ring is
// created with the first span, or by Open.
func NewTracer(service, ringDir string) (*Tracer, error) {
	cService := C.CString(service)
	defer C.free(unsafe.Pointer(cService))
	var cDir *C.char
	if ringDir != "" {
		cDir = C.CString(ringDir)
		defer C.free(unsafe.Pointer(cDir))
	}
	var st C.rs_status_t
	c := C.rs_tracer_new(cService, cDir, &st)
	if c == nil {
		return nil, check(st)
	}
	t := &Tracer{c: c}
	runtime.SetFinalizer(t, func(t *Tracer) { C.rs_tracer_free(t.c) })
	return t, nil
}

// Open creates the ring now, so that the first span does not pay for it and
// a ring that cannot be created is known at start-up (ErrRing; spans are then
// counted as lost and the program carries on).
func (t *Tracer) Open() error {
	return check(C.rs_tracer_open(t.c))
}

// Close stops the tracer: spans no longer start (ErrClosed), and spans still
// open are not written when they end.
func (t *Tracer) Close() error {
	return check(C.rs_tracer_close(t.c))
}

// Stats are a tracer's ring counters.
type Stats struct {
	Written uint64 // spans accepted by the ring
	Dropped uint64 // spans dropped because the ring was full
	Lost    uint64 // spans lost because the ring could not be created
}

// Stats reads the ring's counters.
func (t *Tracer) Stats() (Stats, error) {
	var s C.rs_ring_stats_t
	if err := check(C.rs_tracer_stats(t.c, &s)); err != nil {
		return Stats{}, err
	}
	return Stats{uint64(s.written), uint64(s.dropped), uint64(s.lost)}, nil
}

// Kind is a span's kind, numbered as in OTLP.
type Kind uint32

// Span kinds.
const (
	KindInternal Kind = C.RS_SPAN_KIND_INTERNAL
	KindServer   Kind = C.RS_SPAN_KIND_SERVER
	KindClient   Kind = C.RS_SPAN_KIND_CLIENT
	KindProducer Kind = C.RS_SPAN_KIND_PRODUCER
	KindConsumer Kind = C.RS_SPAN_KIND_CONSUMER
)

// SpanOption configures Start.
type SpanOption struct {
	kind Kind
}

// WithKind sets the kind of the span Start starts (default KindInternal).
func WithKind(k Kind) SpanOption {
	return SpanOption{kind: k}
}

// currentKey is the context key of the current span (*Span) or of a remote
// parent (*SpanContext).
type currentKey struct{}

// Start starts a span named name (names over 128 bytes are cut), a child of
// the span or remote parent in ctx, else the root of a new trace. It returns
// ctx with the new span as current. End the span, typically with defer.
//
// Starting fails only on a closed tracer; the span returned is then inert
// (its calls do nothing) and still safe to End.
func (t *Tracer) Start(ctx context.Context, name string, opts ...SpanOption) (context.Context, *Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	kind := KindInternal
	for _, o := range opts {
		if o.kind != 0 {
			kind = o.kind
		}
	}
	s := &Span{tracer: t}
	var parent *C.rs_span_context_t
	if pc, ok := SpanContextFromContext(ctx); ok {
		parent = &pc.c
	}
	n, l := cstr(name)
	C.rs_span_start(t.c, &s.raw, n, l, C.rs_span_kind_t(kind), parent)
	return context.WithValue(ctx, currentKey{}, s), s
}

// SpanFromContext is the current span of ctx, or nil.
func SpanFromContext(ctx context.Context) *Span {
	s, _ := ctx.Value(currentKey{}).(*Span)
	return s
}

// SpanContextFromContext is the context of ctx's current span, or the remote
// parent Extract put in it.
func SpanContextFromContext(ctx context.Context) (SpanContext, bool) {
	switch v := ctx.Value(currentKey{}).(type) {
	case *Span:
		return v.Context(), true
	case *SpanContext:
		return *v, true
	}
	return SpanContext{}, false
}
