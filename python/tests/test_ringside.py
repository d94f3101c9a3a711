"""Unit tests of the ringside Python package (run by tests/python_sidecar.rs
with the venv's python: ``python -m unittest discover -s python/tests``)."""

import tempfile
import threading
import unittest

import ringside


class RingsideTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.tracer = ringside.Tracer("py-test", self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def test_nested_spans_share_the_trace_and_each_is_written_once(self):
        with self.tracer.span("parent") as parent:
            self.assertIs(ringside.current_span(), parent)
            with self.tracer.span("child") as child:
                p, c = parent.context(), child.context()
                self.assertEqual(p.trace_id, c.trace_id)
                self.assertNotEqual(p.span_id, c.span_id)
            with self.tracer.span("new trace", parent=ringside.ROOT) as other:
                self.assertNotEqual(other.context().trace_id, p.trace_id)
        self.assertIsNone(ringside.current_span())
        self.assertEqual(self.tracer.stats(), (3, 0, 0))

    def test_an_exception_fails_the_span_and_propagates(self):
        with self.assertRaises(KeyError):
            with self.tracer.span("failing"):
                raise KeyError("k")
        self.assertEqual(self.tracer.stats()[0], 1)

    def test_headers_carry_the_context(self):
        self.assertEqual(ringside.inject({}), {})
        headers = {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "vendor=a",
        }
        remote = ringside.extract(headers)
        self.assertTrue(remote.is_remote)
        self.assertEqual(remote.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736")
        with self.tracer.span("server", kind=ringside.SERVER, parent=remote) as span:
            out = ringside.inject({})
        want = f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span.context().span_id}-01"
        self.assertEqual(out, {"traceparent": want, "tracestate": "vendor=a"})
        self.assertIsNone(ringside.extract({"traceparent": "00-zz"}))
        self.assertIsNone(ringside.extract({}))

    def test_each_thread_has_its_own_current_span(self):
        seen = []
        with self.tracer.span("main thread"):
            t = threading.Thread(target=lambda: seen.append(ringside.current_span()))
            t.start()
            t.join()
        self.assertEqual(seen, [None])

    def test_storage_helpers_nest_like_other_spans(self):
        with self.tracer.file_op("read", "/vol/a", "tenant-7") as f:
            f.set_size(4096)
            with self.tracer.metadata_op("lookup", "/vol/a") as m:
                m.set_metadata_result(True, 3)
                self.assertEqual(m.context().trace_id, f.context().trace_id)
            with self.tracer.data_op("read", "c-1", 4096, node=2) as d:
                self.assertEqual(d.context().trace_id, f.context().trace_id)
        self.assertEqual(self.tracer.stats(), (3, 0, 0))
        with self.assertRaisesRegex(ValueError, "not one of"):
            self.tracer.file_op("chmod", "/vol/a", "tenant-7")

    def test_bad_input_raises_clear_errors(self):
        with self.tracer.span("s") as span:
            with self.assertRaisesRegex(TypeError, 'attribute "x"'):
                span.set_attr("x", [1])
            with self.assertRaisesRegex(ValueError, "outside i64"):
                span.set_attr("big", 2**64)
            with self.assertRaises(ValueError):
                span.set_status(7)
            with self.assertRaises(TypeError):
                span.add_event("e", {"k": object()})
            span.set_attr("ok", 1.5)
        with self.assertRaisesRegex(ValueError, "already ended"):
            span.set_attr("late", 1)
        with self.assertRaises(ValueError):
            self.tracer.start_span("bad kind", 9)
        with self.assertRaises(ValueError):
            ringside.Tracer("")


if __name__ == "__main__":
    unittest.main()
