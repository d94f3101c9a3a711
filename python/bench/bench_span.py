"""Cost of one span from Python, ringside beside the OpenTelemetry SDK in the
same run: a span with a string and an integer attribute, made current for its
``with`` block. The SDK has its BatchSpanProcessor and an exporter that
discards; ringside a fresh ring each round (50 000 spans, below its 65 536
slots, so none is dropped). Rounds alternate; medians of 7.

Run: target/venv/bin/python python/bench/bench_span.py
"""

import os
import statistics
import tempfile
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import ringside

SPANS = 50_000
ROUNDS = 7


class Discard(SpanExporter):
    """Counts what it is given and keeps nothing."""

    def __init__(self):
        self.exported = 0

    def export(self, spans):
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def ringside_round(ring_dir):
    tracer = ringside.Tracer("bench", ring_dir)
    tracer.open()
    start = time.perf_counter_ns()
    for _ in range(SPANS):
        with tracer.span("storage.read") as span:
            span.set_attr("file.path", "/vol/a/b")
            span.set_attr("file.size", 4096)
    elapsed = time.perf_counter_ns() - start
    assert tracer.stats() == (SPANS, 0, 0), tracer.stats()
    return elapsed / SPANS


def otel_round(tracer):
    start = time.perf_counter_ns()
    for _ in range(SPANS):
        with tracer.start_as_current_span("storage.read") as span:
            span.set_attribute("file.path", "/vol/a/b")
            span.set_attribute("file.size", 4096)
    return (time.perf_counter_ns() - start) / SPANS


def main():
    exporter = Discard()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    otel = provider.get_tracer("bench")
    times = {"ringside": [], "opentelemetry-sdk": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(ROUNDS):
            ring_dir = f"{tmp}/round-{n}"
            os.mkdir(ring_dir)
            times["ringside"].append(ringside_round(ring_dir))
            times["opentelemetry-sdk"].append(otel_round(otel))
    provider.force_flush()
    provider.shutdown()
    ours = statistics.median(times["ringside"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:18} median {med:7.0f} ns/span  (min {min(ts):.0f}, max {max(ts):.0f})  {med / ours:.2f}x")
    print(f"opentelemetry-sdk exported {exporter.exported} of {SPANS * ROUNDS} spans")


if __name__ == "__main__":
    main()
