package ringside

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func newTracer(t testing.TB) *Tracer {
	tracer, err := NewTracer("go-test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := tracer.Open(); err != nil {
		t.Fatal(err)
	}
	return tracer
}

func written(t *testing.T, tracer *Tracer) uint64 {
	s, err := tracer.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s.Written
}

func TestEachEndedSpanIsWrittenOnce(t *testing.T) {
	tracer := newTracer(t)
	ctx, parent := tracer.Start(context.Background(), "parent")
	_, child := tracer.Start(ctx, "child", WithKind(KindClient))
	child.SetString("storage.disk", "nvme0")
	child.SetInt("storage.size", 4096)
	child.SetFloat("ratio", 0.5)
	child.SetBool("cached", true)
	child.AddEvent("flushed", String("why", "full"), Int("bytes", 1), Float64("f", 1.5), Bool("b", false))
	child.AddLink(parent.Context(), String("reason", "batch"))
	child.RecordError("EIO", errors.New("disk gone"))
	child.End()
	child.End()
	parent.End()
	if got := written(t, tracer); got != 2 {
		t.Fatalf("written %d spans, want 2", got)
	}
	if err := tracer.Close(); err != nil {
		t.Fatal(err)
	}
	_, late := tracer.Start(context.Background(), "after close")
	late.SetInt("ignored", 1)
	late.End()
	if got := written(t, tracer); got != 2 {
		t.Fatalf("a closed tracer wrote: %d spans", got)
	}
	if err := tracer.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}

func TestChildrenShareTheTraceOfTheirContext(t *testing.T) {
	tracer := newTracer(t)
	if _, ok := SpanContextFromContext(context.Background()); ok {
		t.Fatal("context without a span has a span context")
	}
	ctx, parent := tracer.Start(context.Background(), "parent")
	defer parent.End()
	_, child := tracer.Start(ctx, "child")
	defer child.End()
	p, c := parent.Context(), child.Context()
	if !p.IsValid() || p.TraceID() != c.TraceID() || p.SpanID() == c.SpanID() {
		t.Fatalf("parent %s/%s child %s/%s", p.TraceID(), p.SpanID(), c.TraceID(), c.SpanID())
	}
	if len(p.TraceID()) != 32 || len(p.SpanID()) != 16 || p.IsRemote() {
		t.Fatalf("ids %q %q remote %v", p.TraceID(), p.SpanID(), p.IsRemote())
	}
	if SpanFromContext(ctx) != parent {
		t.Fatal("SpanFromContext is not the span Start returned")
	}
	_, root := tracer.Start(context.Background(), "root")
	defer root.End()
	if root.Context().TraceID() == p.TraceID() {
		t.Fatal("a span without a parent joined another trace")
	}
}

func TestHeadersCarryTheContextAcross(t *testing.T) {
	tracer := newTracer(t)
	in := http.Header{}
	in.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	in.Add("tracestate", "vendor=a")
	in.Add("tracestate", "other=b")
	ctx := Extract(context.Background(), in)
	remote, ok := SpanContextFromContext(ctx)
	if !ok || !remote.IsRemote() || remote.TraceID() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("extracted %v %s", ok, remote.TraceID())
	}
	ctx, server := tracer.Start(ctx, "server", WithKind(KindServer))
	defer server.End()
	out := http.Header{}
	Inject(ctx, out)
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + server.Context().SpanID() + "-01"
	if out.Get("traceparent") != want || out.Get("tracestate") != "vendor=a,other=b" {
		t.Fatalf("injected %v, want traceparent %s", out, want)
	}
}

func TestBadInputGivesAnError(t *testing.T) {
	if _, err := NewTracer("", t.TempDir()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty service: %v", err)
	}
	if _, err := NewTracer(strings.Repeat("s", 65), t.TempDir()); !errors.Is(err, ErrTooLong) {
		t.Fatalf("long service: %v", err)
	}
	if _, err := ExtractHeaders("00-zz", ""); !errors.Is(err, ErrNoContext) {
		t.Fatalf("malformed traceparent: %v", err)
	}
	bad := http.Header{}
	bad.Set("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	if _, ok := SpanContextFromContext(Extract(context.Background(), bad)); ok {
		t.Fatal("a zero trace id became a parent")
	}
	if _, _, err := InjectHeaders(SpanContext{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("inject of an invalid context: %v", err)
	}
	if ErrClosed.Error() == "" || !strings.HasPrefix(ErrRing.Error(), "ringside: ") {
		t.Fatalf("error text %q", ErrRing.Error())
	}
}
