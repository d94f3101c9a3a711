package ringside

import (
	"context"
	"testing"
)

// Run: go test -run '^$' -bench . -count 5 (see README "Go through cgo").

// benchSpans runs span b.N times with a ring that never fills: every
// ringSpans spans, untimed, the tracer is replaced by one with a fresh ring.
func benchSpans(b *testing.B, span func(*Tracer)) {
	const ringSpans = 60000 // below the default 65536 slots
	var tracer *Tracer
	for i := 0; i < b.N; i++ {
		if i%ringSpans == 0 {
			b.StopTimer()
			if tracer != nil {
				tracer.Close()
			}
			tracer = newTracer(b)
			b.StartTimer()
		}
		span(tracer)
	}
}

// A span with a string and an integer attribute, as the Rust and C benches.
func BenchmarkSpan(b *testing.B) {
	ctx := context.Background()
	benchSpans(b, func(t *Tracer) {
		_, s := t.Start(ctx, "storage.read")
		s.SetString("file.path", "/vol/a/b")
		s.SetInt("file.size", 4096)
		s.End()
	})
}

// The same span as the child of one in ctx.
func BenchmarkChildSpan(b *testing.B) {
	tracer := newTracer(b)
	ctx, parent := tracer.Start(context.Background(), "request")
	defer parent.End()
	benchSpans(b, func(t *Tracer) {
		_, s := t.Start(ctx, "storage.read")
		s.SetString("file.path", "/vol/a/b")
		s.SetInt("file.size", 4096)
		s.End()
	})
}

// One cgo crossing to a C function that returns at once.
func BenchmarkCgoCall(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cgoCall()
	}
}
