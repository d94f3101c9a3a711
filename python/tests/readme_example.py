"""The README's Python example, run by tests/python_sidecar.rs."""

import ringside

tracer = ringside.Tracer("chunk-server")  # ring in $RINGSIDE_DIR


def handle(headers, chunk):
    with tracer.span("chunk.read", kind=ringside.SERVER, parent=ringside.extract(headers)) as span:
        span.set_attr("storage.chunk.index", chunk)
        with tracer.span("disk.read") as disk:  # a child of chunk.read
            disk.set_attr("storage.size", 65536)
        span.add_event("chunk served", {"bytes": 65536})
        return ringside.inject({})  # headers for the next hop


caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
out = handle({"traceparent": caller}, 7)
assert out["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-"), out
print("written {} dropped {} lost {}".format(*tracer.stats()))
