package ringside

/*
#include <ringside.h>
*/
import "C"

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"unsafe"
)

// SpanContext identifies a span to its children and to other processes:
// trace id, span id, W3C flags and trace state. Plain data: copy it freely.
// The zero value is invalid (no parent).
type SpanContext struct {
	c C.rs_span_context_t
}

// IsValid reports whether both ids are non-zero.
func (c SpanContext) IsValid() bool {
	return bool(C.rs_context_is_valid(&c.c))
}

// TraceID is the trace id in lowercase hex.
func (c SpanContext) TraceID() string {
	id := *(*[16]byte)(unsafe.Pointer(&c.c.trace_id))
	return hex.EncodeToString(id[:])
}

// SpanID is the span id in lowercase hex.
func (c SpanContext) SpanID() string {
	id := *(*[8]byte)(unsafe.Pointer(&c.c.span_id))
	return hex.EncodeToString(id[:])
}

// IsRemote reports whether the context came from another process.
func (c SpanContext) IsRemote() bool {
	return c.c.is_remote != 0
}

// ExtractHeaders parses the values of the traceparent and tracestate headers
// (strict W3C Trace Context). ErrNoContext when traceparent is absent or
// malformed; an invalid tracestate is dropped without failing.
func ExtractHeaders(traceparent, tracestate string) (SpanContext, error) {
	var c SpanContext
	tp, tpl := cstr(traceparent)
	ts, tsl := cstr(tracestate)
	if err := check(C.rs_context_extract(tp, tpl, ts, tsl, &c.c)); err != nil {
		return SpanContext{}, err
	}
	return c, nil
}

// Extract returns ctx with the remote parent carried by h's W3C headers,
// for the server span a handler starts next. Without a valid traceparent it
// returns ctx unchanged, and that span starts a new trace.
func Extract(ctx context.Context, h http.Header) context.Context {
	c, err := ExtractHeaders(h.Get("traceparent"), strings.Join(h.Values("tracestate"), ","))
	if err != nil {
		return ctx
	}
	return ContextWithRemoteParent(ctx, c)
}

// ContextWithRemoteParent returns ctx with parent as the parent of the next
// span started from it.
func ContextWithRemoteParent(ctx context.Context, parent SpanContext) context.Context {
	return context.WithValue(ctx, currentKey{}, &parent)
}

// InjectHeaders formats c as the traceparent value and the tracestate value
// ("" when there is none).
func InjectHeaders(c SpanContext) (traceparent, tracestate string, err error) {
	var tp [C.RS_TRACEPARENT_LEN + 1]C.char
	var ts [C.RS_TRACESTATE_MAX + 1]C.char
	var tsl C.size_t
	st := C.rs_context_inject(&c.c, &tp[0], C.size_t(len(tp)), &ts[0], C.size_t(len(ts)), &tsl)
	if err := check(st); err != nil {
		return "", "", err
	}
	return C.GoString(&tp[0]), C.GoStringN(&ts[0], C.int(tsl)), nil
}

// Inject sets the W3C headers of ctx's current span (or remote parent) on h,
// for an outgoing request. Nothing when ctx has none.
func Inject(ctx context.Context, h http.Header) {
	c, ok := SpanContextFromContext(ctx)
	if !ok {
		return
	}
	tp, ts, err := InjectHeaders(c)
	if err != nil {
		return
	}
	h.Set("traceparent", tp)
	if ts != "" {
		h.Set("tracestate", ts)
	}
}
