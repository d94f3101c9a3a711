// Command storaged is a gateway and a chunk server in one process, traced
// with the ringside Go package: the gateway reads chunks from the server over
// HTTP on 127.0.0.1 with the W3C context in the headers, so each read is one
// trace across client and server; chunk 3 fails with EIO.
//
// Run beside the sidecar (the C library installed as the package says):
//
//	ringside run --ring-dir /tmp/rings --spool-dir /tmp/spool --jsonl /tmp/spans.jsonl &
//	RINGSIDE_DIR=/tmp/rings go run ./examples/storaged -reads 5
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"path"
	"strconv"
	"syscall"

	"ringside/go/ringside"
)

func main() {
	reads := flag.Int("reads", 5, "chunks the gateway reads")
	flag.Parse()
	tracer, err := ringside.NewTracer("go-chunk-server", "") // "": $RINGSIDE_DIR
	if err != nil {
		log.Fatal(err)
	}
	if err := tracer.Open(); err != nil {
		log.Printf("tracing off: %v", err) // the program carries on
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Handler: chunkServer{tracer}}
	go server.Serve(ln)
	base := "http://" + ln.Addr().String()
	for chunk := 0; chunk < *reads; chunk++ {
		fmt.Printf("chunk %d: %d\n", chunk, gatewayRead(context.Background(), tracer, base, chunk))
	}
	server.Shutdown(context.Background())
	stats, _ := tracer.Stats()
	fmt.Printf("written %d dropped %d lost %d\n", stats.Written, stats.Dropped, stats.Lost)
}

// gatewayRead is the client side: one span per read, its context injected
// into the request.
func gatewayRead(ctx context.Context, tracer *ringside.Tracer, base string, chunk int) int {
	ctx, span := tracer.Start(ctx, "gateway.read", ringside.WithKind(ringside.KindClient))
	defer span.End()
	span.SetInt("storage.chunk.index", int64(chunk))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/chunk/"+strconv.Itoa(chunk), nil)
	if err != nil {
		span.RecordError("request", err)
		return 0
	}
	ringside.Inject(ctx, req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		span.RecordError("transport", err)
		return 0
	}
	resp.Body.Close()
	span.SetInt("http.response.status_code", int64(resp.StatusCode))
	if resp.StatusCode != http.StatusOK {
		span.AddEvent("chunk not read", ringside.Int("status", int64(resp.StatusCode)))
	}
	return resp.StatusCode
}

// chunkServer is the server side: the request's headers give its span a
// remote parent.
type chunkServer struct {
	tracer *ringside.Tracer
}

func (s chunkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := ringside.Extract(r.Context(), r.Header)
	ctx, span := s.tracer.Start(ctx, "chunk.read", ringside.WithKind(ringside.KindServer))
	defer span.End()
	chunk, err := strconv.Atoi(path.Base(r.URL.Path))
	if err != nil {
		span.SetStatus(ringside.StatusError, "bad chunk index")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	span.SetInt("storage.chunk.index", int64(chunk))
	span.SetBool("storage.cached", false)
	size, err := readChunk(ctx, s.tracer, chunk)
	if err != nil {
		span.RecordError("EIO", err)
		span.AddEvent("chunk read failed", ringside.String("error", err.Error()))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	span.SetInt("storage.size", size)
	span.AddEvent("chunk served", ringside.Int("bytes", size), ringside.Float64("ratio", 0.75))
}

// readChunk is the disk: a child span of the request's.
func readChunk(ctx context.Context, tracer *ringside.Tracer, chunk int) (int64, error) {
	_, span := tracer.Start(ctx, "disk.read")
	defer span.End()
	span.SetString("storage.disk", "nvme0")
	span.SetInt("chunk", int64(chunk))
	if chunk == 3 {
		return 0, syscall.EIO
	}
	return 65536 + int64(chunk), nil
}
