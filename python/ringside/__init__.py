"""Write spans into ringside's shared-memory ring from Python.

Each span becomes one fixed-size record in the process's ring when it ends;
the ringside sidecar (``ringside run``) drains, samples and exports it. The
current span is a ``contextvars`` variable, so threads and asyncio tasks each
have their own::

    tracer = ringside.Tracer("chunk-server")
    with tracer.span("chunk.read", kind=ringside.SERVER, parent=ringside.extract(headers)) as span:
        span.set_attr("storage.chunk.index", 7)
        span.add_event("chunk served", {"bytes": 65536})

An exception leaving a ``with`` block marks its span failed (``error.type`` is
the exception's class name) and propagates.
"""

import contextlib
import contextvars

from ._native import Span, SpanContext, extract as _extract, inject as _inject
from ._native import Tracer as _NativeTracer

__all__ = [
    "Tracer", "Span", "SpanContext", "current_span", "extract", "inject",
    "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER",
    "UNSET", "OK", "ERROR",
]

# Span kinds and status codes, numbered as in OTLP.
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5
UNSET, OK, ERROR = 0, 1, 2

_current = contextvars.ContextVar("ringside_current_span", default=None)

# Passed as `parent` to start a new trace even inside a span.
ROOT = object()


def _parent(parent):
    """The parent a new span gets: the one given, none for ROOT, else the
    current span's context."""
    if parent is ROOT:
        return None
    if parent is None:
        current = _current.get()
        return current.context() if current is not None else None
    return parent


@contextlib.contextmanager
def _current_block(span):
    """Makes ``span`` current for a ``with`` block and ends it after; an
    exception leaving the block marks it failed and propagates."""
    token = _current.set(span)
    try:
        yield span
    except BaseException as e:
        span.record_error(type(e).__name__, str(e))
        raise
    finally:
        _current.reset(token)
        span.end()


def current_span():
    """The span of the innermost ``with tracer.span(...)`` block, or None."""
    return _current.get()


class Tracer:
    """Creates spans for one service (ring in ``ring_dir``, default
    ``$RINGSIDE_DIR`` or ``/run/ringside``)."""

    def __init__(self, service, ring_dir=None):
        self._native = _NativeTracer(service, ring_dir)

    def span(self, name, kind=INTERNAL, parent=None, attributes=None):
        """A span for the ``with`` block, current inside it. ``parent``: a
        SpanContext (from ``extract``), ``ROOT`` for a new trace, or None for
        the current span."""
        span = self._native.start_span(name, kind, _parent(parent))
        for key, value in (attributes or {}).items():
            span.set_attr(key, value)
        return _current_block(span)

    # Storage helpers: spans named and attributed as README's storage
    # vocabulary says, as `ringside::trace::storage` makes them.

    def file_op(self, op, path, client_id, size=None, parent=None):
        """Server span of a file operation (read, write, delete, stat, list,
        rename) for the ``with`` block; ``span.set_size()`` once known."""
        return _current_block(self._native.file_op(op, path, client_id, size, _parent(parent)))

    def metadata_op(self, op, key, parent=None):
        """Server span of a metadata operation (lookup, allocate, commit,
        delete, list, rename); ``span.set_metadata_result(found, version)``."""
        return _current_block(self._native.metadata_op(op, key, _parent(parent)))

    def data_op(self, op, chunk_id, size, node, replica=0, parent=None):
        """Server span of an operation (read, write, delete, verify) on one
        replica of a chunk held by data node ``node``."""
        return _current_block(
            self._native.data_op(op, chunk_id, size, node, replica, _parent(parent))
        )

    def start_span(self, name, kind=INTERNAL, parent=None):
        """A span that is not made current; end it with ``end()``."""
        return self._native.start_span(name, kind, parent)

    def open(self):
        """Creates the ring now (OSError if it cannot be)."""
        self._native.open()

    def stats(self):
        """(written, dropped, lost) span counts of the ring."""
        return self._native.stats()


def extract(headers):
    """The remote parent in a mapping of HTTP headers (any case of
    ``traceparent``/``tracestate``), or None."""
    get = headers.get
    return _extract(get("traceparent") or get("Traceparent"), get("tracestate") or get("Tracestate"))


def inject(headers, span=None):
    """Adds the W3C headers of ``span`` (default: the current span) to the
    ``headers`` dict; nothing outside a span."""
    span = span or _current.get()
    if span is not None:
        headers.update(_inject(span.context()))
    return headers
