"""A gateway and a chunk server in one process, traced with the ringside
package: the gateway reads chunks from the server over HTTP on 127.0.0.1 with
the W3C context in the headers, so each read is one trace across client and
server; chunk 3 fails with an OSError. tests/python_sidecar.rs runs it beside
``ringside run`` and checks the spans.

    RINGSIDE_DIR=/tmp/rings target/venv/bin/python python/tests/http_pair.py 5
"""

import errno
import http.server
import sys
import threading
import urllib.error
import urllib.request

import ringside

tracer = ringside.Tracer("py-chunk-server")


def read_chunk(chunk):
    with tracer.span("disk.read", attributes={"storage.disk": "nvme0", "chunk": chunk}):
        if chunk == 3:
            raise OSError(errno.EIO, "input/output error")
        return 65536 + chunk


class ChunkServer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        parent = ringside.extract(self.headers)
        status = 200
        try:
            with tracer.span("chunk.read", kind=ringside.SERVER, parent=parent) as span:
                chunk = int(self.path.rsplit("/", 1)[-1])
                span.set_attr("storage.chunk.index", chunk)
                span.set_attr("storage.cached", False)
                try:
                    size = read_chunk(chunk)
                except OSError as e:
                    span.add_event("chunk read failed", {"error": e.strerror})
                    raise
                span.set_attr("storage.size", size)
                span.add_event("chunk served", {"bytes": size, "ratio": 0.75})
        except OSError:
            status = 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def gateway_read(base, chunk):
    with tracer.span("gateway.read", kind=ringside.CLIENT) as span:
        span.set_attr("storage.chunk.index", chunk)
        request = urllib.request.Request(f"{base}/chunk/{chunk}", headers=ringside.inject({}))
        try:
            with urllib.request.urlopen(request) as response:
                status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        span.set_attr("http.response.status_code", status)
        if status != 200:
            span.add_event("chunk not read", {"status": status})
        return status


def main(reads):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChunkServer)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for chunk in range(reads):
            print(f"chunk {chunk}: {gateway_read(base, chunk)}")
    finally:
        server.shutdown()
        serving.join()
    written, dropped, lost = tracer.stats()
    print(f"written {written} dropped {dropped} lost {lost}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
