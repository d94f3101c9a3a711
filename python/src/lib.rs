//! `ringside._native`: the writer API for Python. The Python package
//! (`ringside/__init__.py`) adds the current span (a `contextvars` variable)
//! and the `with tracer.span(...)` form on top.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use ringside::trace::storage::{self, DataOp, FileOp, MetadataOp, MetadataResult};
use ringside::trace::{self, SpanKind, StatusCode, Value, propagation};

/// The operation named `op` (its `storage.operation` value) among `all`.
fn parse_op<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, op: &str) -> PyResult<T> {
    all.iter()
        .copied()
        .find(|o| as_str(*o) == op)
        .ok_or_else(|| {
            let names: Vec<_> = all.iter().map(|o| as_str(*o)).collect();
            PyValueError::new_err(format!("operation {op:?} is not one of {names:?}"))
        })
}

const FILE_OPS: [FileOp; 6] = [
    FileOp::Read,
    FileOp::Write,
    FileOp::Delete,
    FileOp::Stat,
    FileOp::List,
    FileOp::Rename,
];
const METADATA_OPS: [MetadataOp; 6] = [
    MetadataOp::Lookup,
    MetadataOp::Allocate,
    MetadataOp::Commit,
    MetadataOp::Delete,
    MetadataOp::List,
    MetadataOp::Rename,
];
const DATA_OPS: [DataOp; 4] = [DataOp::Read, DataOp::Write, DataOp::Delete, DataOp::Verify];

/// An attribute value taken from Python, owned until the call that writes it.
enum Owned {
    Str(String),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl Owned {
    fn from_py(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Owned> {
        // bool before int: Python's bool is an int.
        if v.is_instance_of::<PyBool>() {
            Ok(Owned::Bool(v.extract()?))
        } else if v.is_instance_of::<PyInt>() {
            v.extract().map(Owned::I64).map_err(|_| {
                PyValueError::new_err(format!("attribute {key:?}: integer outside i64"))
            })
        } else if v.is_instance_of::<PyFloat>() {
            Ok(Owned::F64(v.extract()?))
        } else if v.is_instance_of::<PyString>() {
            Ok(Owned::Str(v.extract()?))
        } else {
            Err(PyTypeError::new_err(format!(
                "attribute {key:?}: str, int, float or bool expected, got {}",
                v.get_type().name()?
            )))
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Owned::Str(s) => Value::Str(s),
            Owned::I64(v) => Value::I64(*v),
            Owned::F64(v) => Value::F64(*v),
            Owned::Bool(v) => Value::Bool(*v),
        }
    }
}

/// Attributes from an optional dict, owned.
fn owned_attrs(attrs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, Owned)>> {
    let mut out = Vec::new();
    for (k, v) in attrs.into_iter().flat_map(|d| d.iter()) {
        let key: String = k.extract()?;
        let value = Owned::from_py(&key, &v)?;
        out.push((key, value));
    }
    Ok(out)
}

/// What identifies a span to its children and to other processes.
#[pyclass(frozen, module = "ringside._native")]
#[derive(Clone)]
struct SpanContext(trace::SpanContext);

#[pymethods]
impl SpanContext {
    /// Trace id, lowercase hex.
    #[getter]
    fn trace_id(&self) -> String {
        self.0.trace_id.to_hex()
    }
    /// Span id, lowercase hex.
    #[getter]
    fn span_id(&self) -> String {
        self.0.span_id.to_hex()
    }
    /// True when the context came from another process.
    #[getter]
    fn is_remote(&self) -> bool {
        self.0.is_remote
    }
    fn __repr__(&self) -> String {
        format!("SpanContext({}, {})", self.trace_id(), self.span_id())
    }
}

/// Creates spans for one service.
#[pyclass(frozen, module = "ringside._native")]
struct Tracer(&'static trace::Tracer);

#[pymethods]
impl Tracer {
    /// A tracer for `service` writing to a ring in `ring_dir` (None:
    /// `$RINGSIDE_DIR`, else `/run/ringside`). The tracer lives for the rest
    /// of the process, as open spans refer to it.
    #[new]
    #[pyo3(signature = (service, ring_dir = None))]
    fn new(service: &str, ring_dir: Option<&str>) -> PyResult<Tracer> {
        if service.is_empty() {
            return Err(PyValueError::new_err("service name is empty"));
        }
        let mut b = trace::Tracer::builder(service);
        if let Some(d) = ring_dir {
            b = b.dir(d);
        }
        Ok(Tracer(Box::leak(Box::new(b.build()))))
    }

    /// Starts a span of `kind` (an OTLP kind number), child of `parent`, or
    /// the root of a new trace when it is None.
    #[pyo3(signature = (name, kind = 1, parent = None))]
    fn start_span(&self, name: &str, kind: u8, parent: Option<&SpanContext>) -> PyResult<Span> {
        let kind = match kind {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            k => return Err(PyValueError::new_err(format!("span kind {k} is not 1..=5"))),
        };
        let mut span = self.0.span_with_parent(name, parent.map(|p| &p.0));
        span.set_kind(kind);
        Ok(Span::new(span))
    }

    /// The server span of a file operation (`read`, `write`, `delete`,
    /// `stat`, `list`, `rename`) as `ringside::trace::storage::file_op`.
    #[pyo3(signature = (op, path, client_id, size = None, parent = None))]
    fn file_op(
        &self,
        op: &str,
        path: &str,
        client_id: &str,
        size: Option<u64>,
        parent: Option<&SpanContext>,
    ) -> PyResult<Span> {
        let op = parse_op(&FILE_OPS, FileOp::as_str, op)?;
        Ok(Span::new(storage::file_op(
            self.0,
            parent.map(|p| &p.0),
            op,
            path,
            size,
            client_id,
        )))
    }

    /// The server span of a metadata operation (`lookup`, `allocate`,
    /// `commit`, `delete`, `list`, `rename`) on `key`.
    #[pyo3(signature = (op, key, parent = None))]
    fn metadata_op(&self, op: &str, key: &str, parent: Option<&SpanContext>) -> PyResult<Span> {
        let op = parse_op(&METADATA_OPS, MetadataOp::as_str, op)?;
        Ok(Span::new(storage::metadata_op(
            self.0,
            parent.map(|p| &p.0),
            op,
            key,
        )))
    }

    /// The server span of an operation (`read`, `write`, `delete`, `verify`)
    /// on one replica of a chunk held by data node `node`.
    #[pyo3(signature = (op, chunk_id, size, node, replica = 0, parent = None))]
    fn data_op(
        &self,
        op: &str,
        chunk_id: &str,
        size: u64,
        node: u32,
        replica: u32,
        parent: Option<&SpanContext>,
    ) -> PyResult<Span> {
        let op = parse_op(&DATA_OPS, DataOp::as_str, op)?;
        let parent = parent.map(|p| &p.0);
        Ok(Span::new(storage::data_op(
            self.0, parent, op, chunk_id, size, node, replica,
        )))
    }

    /// Creates the ring now; raises OSError with the reason if it cannot be.
    fn open(&self) -> PyResult<()> {
        self.0.open().map_err(pyo3::exceptions::PyOSError::new_err)
    }

    /// (written, dropped, lost) spans: accepted by the ring, dropped because
    /// it was full, lost because it could not be created.
    fn stats(&self) -> (u64, u64, u64) {
        let s = self.0.stats();
        (
            s.as_ref().map_or(0, |s| s.written),
            s.as_ref().map_or(0, |s| s.dropped),
            self.0.lost(),
        )
    }
}

/// A span being recorded; written to the ring by `end()`.
#[pyclass(module = "ringside._native")]
struct Span {
    /// None once ended.
    live: Option<trace::Span<'static>>,
    /// Its context, which outlives the end.
    context: trace::SpanContext,
}

impl Span {
    fn new(span: trace::Span<'static>) -> Span {
        Span {
            context: span.context(),
            live: Some(span),
        }
    }

    fn live(&mut self) -> PyResult<&mut trace::Span<'static>> {
        self.live
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("span already ended"))
    }
}

#[pymethods]
impl Span {
    /// Adds an attribute: str, int (i64), float or bool.
    fn set_attr(&mut self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = Owned::from_py(key, value)?;
        self.live()?.set_attr(key, v.value());
        Ok(())
    }

    /// Adds an event that happens now, with attributes.
    #[pyo3(signature = (name, attributes = None))]
    fn add_event(&mut self, name: &str, attributes: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let owned = owned_attrs(attributes)?;
        let attrs: Vec<(&str, Value<'_>)> =
            owned.iter().map(|(k, v)| (k.as_str(), v.value())).collect();
        self.live()?.add_event(name, &attrs);
        Ok(())
    }

    /// Adds a link to another span, with attributes.
    #[pyo3(signature = (to, attributes = None))]
    fn add_link(
        &mut self,
        to: &SpanContext,
        attributes: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let owned = owned_attrs(attributes)?;
        let attrs: Vec<(&str, Value<'_>)> =
            owned.iter().map(|(k, v)| (k.as_str(), v.value())).collect();
        self.live()?.add_link(&to.0, &attrs);
        Ok(())
    }

    /// Sets the status: 0 unset, 1 ok, 2 error (the message is kept for
    /// errors only).
    #[pyo3(signature = (code, message = ""))]
    fn set_status(&mut self, code: u8, message: &str) -> PyResult<()> {
        let code = match code {
            0 => StatusCode::Unset,
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            c => return Err(PyValueError::new_err(format!("status {c} is not 0..=2"))),
        };
        self.live()?.set_status(code, message);
        Ok(())
    }

    /// Marks the span failed: status error with `message`, and the
    /// attribute `error.type`.
    fn record_error(&mut self, error_type: &str, message: &str) -> PyResult<()> {
        self.live()?.record_error(error_type, message);
        Ok(())
    }

    /// Records a file's size once known (storage helpers).
    fn set_size(&mut self, size: u64) -> PyResult<()> {
        storage::set_size(self.live()?, size);
        Ok(())
    }

    /// Records whether a metadata key was found and, if known, its version.
    #[pyo3(signature = (found, version = None))]
    fn set_metadata_result(&mut self, found: bool, version: Option<u64>) -> PyResult<()> {
        let result = if found {
            MetadataResult::Hit
        } else {
            MetadataResult::Miss
        };
        storage::set_metadata_result(self.live()?, result, version);
        Ok(())
    }

    /// This span's context (also after it ended).
    fn context(&self) -> SpanContext {
        SpanContext(self.context.clone())
    }

    /// Ends the span and writes it to the ring; later calls do nothing.
    fn end(&mut self) {
        if let Some(s) = self.live.take() {
            s.end();
        }
    }
}

/// The parent carried by W3C header values, or None (missing or malformed:
/// the next span starts a new trace).
#[pyfunction]
#[pyo3(signature = (traceparent, tracestate = None))]
fn extract(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<SpanContext> {
    propagation::extract(traceparent, tracestate)
        .ok()
        .map(SpanContext)
}

/// The W3C headers for `ctx` as a dict: `traceparent`, and `tracestate` when
/// there is one.
#[pyfunction]
fn inject<'py>(py: Python<'py>, ctx: &SpanContext) -> PyResult<Bound<'py, PyDict>> {
    let headers = PyDict::new(py);
    let mut result = Ok(());
    propagation::inject(&ctx.0, |name, value| {
        if result.is_ok() {
            result = headers.set_item(name, value);
        }
    });
    result.map(|()| headers)
}

/// The native part of the `ringside` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Tracer>()?;
    m.add_class::<Span>()?;
    m.add_class::<SpanContext>()?;
    m.add_function(wrap_pyfunction!(extract, m)?)?;
    m.add_function(wrap_pyfunction!(inject, m)?)?;
    Ok(())
}
