package ringside_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"ringside/go/ringside"
)

// A server span whose parent is the caller's, and a client span that passes
// its context on, over HTTP on loopback.
func Example() {
	dir, _ := os.MkdirTemp("", "ringside-example")
	defer os.RemoveAll(dir)

	tracer, err := ringside.NewTracer("chunk-server", dir) // "" for $RINGSIDE_DIR
	if err != nil {
		panic(err)
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		ctx := ringside.Extract(r.Context(), r.Header) // the caller's span is the parent
		ctx, span := tracer.Start(ctx, "chunk.read", ringside.WithKind(ringside.KindServer))
		defer span.End()
		span.SetInt("storage.chunk.index", 7)
		span.AddEvent("chunk served", ringside.Int("bytes", 65536))
		_ = ctx // pass ctx on: spans started from it are children
	}
	server := httptest.NewServer(http.HandlerFunc(handler))
	defer server.Close()

	ctx, span := tracer.Start(context.Background(), "gateway.read", ringside.WithKind(ringside.KindClient))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server.URL+"/chunk/7", nil)
	ringside.Inject(ctx, req.Header) // traceparent (and tracestate) of the current span
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		span.RecordError("transport", err)
	} else {
		resp.Body.Close()
	}
	span.End()

	stats, _ := tracer.Stats()
	fmt.Println("spans written:", stats.Written)
	// Output: spans written: 2
}
