package ringside

/*
#include <stdlib.h>
#include <string.h>
#include <ringside.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Span is an operation being timed; one goroutine at a time may use it. Its
// record lives in the Span (Go memory) until End copies it into the ring.
// Attributes that do not fit in the record are dropped and counted; long
// strings are cut at a character boundary.
type Span struct {
	raw    C.rs_span_t
	tracer *Tracer // keeps the C tracer alive while the span is
}

// End ends the span and writes it to the ring; later calls do nothing. A full
// ring drops the span and counts it (Tracer.Stats).
func (s *Span) End() {
	C.rs_span_end(&s.raw)
	runtime.KeepAlive(s.tracer)
}

// SetString adds a string attribute.
func (s *Span) SetString(key, value string) {
	k, kl := cstr(key)
	v, vl := cstr(value)
	C.rs_span_set_str(&s.raw, k, kl, v, vl)
}

// SetInt adds an integer attribute.
func (s *Span) SetInt(key string, value int64) {
	k, kl := cstr(key)
	C.rs_span_set_i64(&s.raw, k, kl, C.int64_t(value))
}

// SetFloat adds a floating-point attribute.
func (s *Span) SetFloat(key string, value float64) {
	k, kl := cstr(key)
	C.rs_span_set_f64(&s.raw, k, kl, C.double(value))
}

// SetBool adds a boolean attribute.
func (s *Span) SetBool(key string, value bool) {
	k, kl := cstr(key)
	C.rs_span_set_bool(&s.raw, k, kl, C.bool(value))
}

// SetKind changes the span's kind.
func (s *Span) SetKind(k Kind) {
	C.rs_span_set_kind(&s.raw, C.rs_span_kind_t(k))
}

// StatusCode is a span's status, numbered as in OTLP.
type StatusCode uint32

// Status codes.
const (
	StatusUnset StatusCode = C.RS_STATUS_UNSET
	StatusOK    StatusCode = C.RS_STATUS_OK
	StatusError StatusCode = C.RS_STATUS_ERROR
)

// SetStatus sets the status; the message is kept for StatusError only.
func (s *Span) SetStatus(code StatusCode, message string) {
	m, ml := cstr(message)
	C.rs_span_set_status(&s.raw, C.rs_status_code_t(code), m, ml)
}

// RecordError marks the span failed: status error with err's text, and the
// attribute error.type = errorType (a low-cardinality class such as
// "timeout" or "EIO").
func (s *Span) RecordError(errorType string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	t, tl := cstr(errorType)
	m, ml := cstr(msg)
	C.rs_span_record_error(&s.raw, t, tl, m, ml)
}

// Context is the span's context, to link to it or pass it on.
func (s *Span) Context() SpanContext {
	var c SpanContext
	C.rs_span_context(&s.raw, &c.c)
	return c
}

// AddEvent adds an event that happens now, with attributes (at most 32).
func (s *Span) AddEvent(name string, attrs ...Attr) {
	n, nl := cstr(name)
	withCAttrs(attrs, func(a *C.rs_attr_t, count C.size_t) {
		C.rs_span_add_event(&s.raw, n, nl, a, count)
	})
}

// AddLink adds a link to another span (for example the request that queued
// this work), with attributes.
func (s *Span) AddLink(to SpanContext, attrs ...Attr) {
	withCAttrs(attrs, func(a *C.rs_attr_t, count C.size_t) {
		C.rs_span_add_link(&s.raw, &to.c, a, count)
	})
}

// Attr is an attribute of an event or link.
type Attr struct {
	key  string
	kind C.rs_value_kind_t
	str  string
	num  int64
	real float64
}

// String is a string attribute.
func String(key, value string) Attr { return Attr{key: key, kind: C.RS_VALUE_STR, str: value} }

// Int is an integer attribute.
func Int(key string, value int64) Attr { return Attr{key: key, kind: C.RS_VALUE_I64, num: value} }

// Float64 is a floating-point attribute.
func Float64(key string, value float64) Attr {
	return Attr{key: key, kind: C.RS_VALUE_F64, real: value}
}

// Bool is a boolean attribute.
func Bool(key string, value bool) Attr {
	a := Attr{key: key, kind: C.RS_VALUE_BOOL}
	if value {
		a.num = 1
	}
	return a
}

// withCAttrs calls f with attrs as a C array. The array points at the
// strings, so it and the string bytes live in one C allocation for the call
// (cgo forbids passing Go memory that holds Go pointers).
func withCAttrs(attrs []Attr, f func(*C.rs_attr_t, C.size_t)) {
	if len(attrs) == 0 {
		f(nil, 0)
		return
	}
	head := len(attrs) * C.sizeof_rs_attr_t
	size := head
	for _, a := range attrs {
		size += len(a.key) + len(a.str)
	}
	mem := C.malloc(C.size_t(size))
	defer C.free(mem)
	arr := unsafe.Slice((*C.rs_attr_t)(mem), len(attrs))
	text := unsafe.Slice((*byte)(unsafe.Add(mem, head)), size-head)
	off := 0
	put := func(s string) C.rs_str_t {
		p := (*C.char)(unsafe.Add(mem, head+off))
		off += copy(text[off:], s)
		return C.rs_str_t{ptr: p, len: C.size_t(len(s))}
	}
	for i, a := range attrs {
		c := &arr[i]
		c.key = put(a.key)
		c.kind = a.kind
		value := unsafe.Pointer(&c.value)
		switch a.kind {
		case C.RS_VALUE_STR:
			*(*C.rs_str_t)(value) = put(a.str)
		case C.RS_VALUE_I64:
			*(*C.int64_t)(value) = C.int64_t(a.num)
		case C.RS_VALUE_F64:
			*(*C.double)(value) = C.double(a.real)
		case C.RS_VALUE_BOOL:
			*(*C.uint8_t)(value) = C.uint8_t(a.num)
		}
	}
	f(&arr[0], C.size_t(len(attrs)))
}
