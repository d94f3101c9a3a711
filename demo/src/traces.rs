//! Spans as the demo's summary and tests read them back: from the ring files
//! directly ([`RingReader`], when no sidecar runs) or from the sidecar's JSONL
//! output ([`read_jsonl`]), and the slowest trace drawn as an indented tree.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ringside::clock::TickConverter;
use ringside::record::Value;
use ringside::record::{Record, RecordView, SpanKind, StatusCode};
use ringside::ring::Consumer;
use ringside::trace::storage::ERROR_TYPE;

/// One span, as much of it as the summary and the tests look at.
#[derive(Clone, Debug)]
pub struct SpanRow {
    /// Service of the process that wrote it.
    pub service: String,
    /// Trace id, hex.
    pub trace_id: String,
    /// Span id, hex.
    pub span_id: String,
    /// Parent span id, hex; `None` for a root.
    pub parent: Option<String>,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, Unix ns.
    pub start_ns: u64,
    /// End, Unix ns.
    pub end_ns: u64,
    /// The status is error.
    pub failed: bool,
    /// Attributes, values as text.
    pub attrs: Vec<(String, String)>,
}

impl SpanRow {
    /// The value of attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Duration in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    fn from_view(service: &str, v: &RecordView<'_>, ns: impl Fn(u64) -> u64) -> SpanRow {
        SpanRow {
            service: service.to_string(),
            trace_id: ringside::trace::context::hex(&v.trace_id()),
            span_id: ringside::trace::context::hex(&v.span_id()),
            parent: v
                .parent_span_id()
                .map(|p| ringside::trace::context::hex(&p)),
            name: v.name().to_string(),
            kind: v.kind(),
            start_ns: ns(v.start()),
            end_ns: ns(v.end()),
            failed: v.status() == StatusCode::Error,
            attrs: v
                .attrs()
                .map(|a| {
                    let value = match a.value {
                        Value::Str(s) => s.to_string(),
                        Value::I64(i) => i.to_string(),
                        Value::F64(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                    };
                    (a.key.to_string(), value)
                })
                .collect(),
        }
    }
}

/// Reads every ring in a directory, keeping the spans in memory. It does not
/// release what it read (the rings stay as they are for a later reader), so
/// the rings must be large enough for the whole run.
pub struct RingReader {
    dir: PathBuf,
    rings: HashMap<PathBuf, Consumer>,
    clock: TickConverter,
    /// The spans read so far.
    pub spans: Vec<SpanRow>,
}

/// Drop counters summed over the rings of a directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingDrops {
    /// Spans the writers accepted.
    pub written: u64,
    /// Spans refused because a ring was full.
    pub dropped: u64,
    /// Positions the reader gave up on.
    pub abandoned: u64,
}

impl RingReader {
    /// A reader of the rings in `dir`.
    pub fn new(dir: &Path) -> RingReader {
        RingReader {
            dir: dir.to_path_buf(),
            rings: HashMap::new(),
            clock: TickConverter::new(),
            spans: Vec::new(),
        }
    }

    /// Opens rings that appeared and reads what they hold.
    pub fn poll(&mut self) -> std::io::Result<()> {
        for path in ring_files(&self.dir)? {
            if !self.rings.contains_key(&path)
                && let Ok(c) = Consumer::open(&path)
            {
                self.rings.insert(path, c);
            }
        }
        self.clock.refresh();
        let mut batch: Vec<Record> = Vec::new();
        for consumer in self.rings.values_mut() {
            let service = consumer.identity().service();
            let cal = consumer.identity().clock;
            loop {
                batch.clear();
                consumer.read(4096, &mut batch);
                if batch.is_empty() {
                    break;
                }
                let clock = &self.clock;
                for rec in &batch {
                    if let Ok(v) = RecordView::new(rec) {
                        let row = SpanRow::from_view(&service, &v, |t| clock.to_unix_ns(&cal, t));
                        self.spans.push(row);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `*.ring` files of a directory.
pub fn ring_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ring") {
            out.push(path);
        }
    }
    Ok(out)
}

/// Drop counters of every ring in `dir`, read from their headers.
pub fn ring_drops(dir: &Path) -> std::io::Result<RingDrops> {
    let mut d = RingDrops::default();
    for path in ring_files(dir)? {
        if let Ok(c) = Consumer::open(&path) {
            let s = c.stats();
            d.written += s.written;
            d.dropped += s.dropped;
            d.abandoned += s.abandoned;
        }
    }
    Ok(d)
}

/// Reads the spans of an OTLP/JSON lines file (the sidecar's JSONL output).
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<SpanRow>> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let doc: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            let service = otlp_attrs(&rs["resource"]["attributes"])
                .into_iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v)
                .unwrap_or_default();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push(otlp_span(&service, s));
                }
            }
        }
    }
    Ok(out)
}

fn otlp_span(service: &str, s: &serde_json::Value) -> SpanRow {
    let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
    let ns = |k: &str| match &s[k] {
        serde_json::Value::String(v) => v.parse().unwrap_or(0),
        v => v.as_u64().unwrap_or(0),
    };
    let parent = text("parentSpanId");
    SpanRow {
        service: service.to_string(),
        trace_id: text("traceId").to_ascii_lowercase(),
        span_id: text("spanId").to_ascii_lowercase(),
        parent: (!parent.is_empty()).then(|| parent.to_ascii_lowercase()),
        name: text("name"),
        kind: match s["kind"].as_u64() {
            Some(2) => SpanKind::Server,
            Some(3) => SpanKind::Client,
            Some(4) => SpanKind::Producer,
            Some(5) => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        start_ns: ns("startTimeUnixNano"),
        end_ns: ns("endTimeUnixNano"),
        failed: s["status"]["code"].as_u64() == Some(StatusCode::Error as u64),
        attrs: otlp_attrs(&s["attributes"]),
    }
}

fn otlp_attrs(attrs: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in attrs.as_array().into_iter().flatten() {
        let key = a["key"].as_str().unwrap_or_default().to_string();
        let v = &a["value"];
        let value = if let Some(s) = v["stringValue"].as_str() {
            s.to_string()
        } else if let Some(i) = v.get("intValue") {
            i.as_str().map_or_else(|| i.to_string(), str::to_string)
        } else if let Some(b) = v["boolValue"].as_bool() {
            b.to_string()
        } else {
            v["doubleValue"].to_string()
        };
        out.push((key, value));
    }
    out
}

/// Spans grouped by trace id.
pub fn by_trace(spans: &[SpanRow]) -> HashMap<&str, Vec<&SpanRow>> {
    let mut traces: HashMap<&str, Vec<&SpanRow>> = HashMap::new();
    for s in spans {
        traces.entry(s.trace_id.as_str()).or_default().push(s);
    }
    traces
}

/// The trace whose root span took longest, drawn as an indented tree: one
/// line per span with its duration, service and, for a failed span, its
/// `error.type`. `None` when no trace has a root.
pub fn slowest_tree(spans: &[SpanRow]) -> Option<String> {
    let traces = by_trace(spans);
    let (_, root, members) = traces
        .iter()
        .filter_map(|(id, members)| {
            let root = members.iter().find(|s| s.parent.is_none())?;
            Some((id, *root, members))
        })
        .max_by_key(|(_, root, _)| root.duration_ns())?;
    let mut children: HashMap<&str, Vec<&SpanRow>> = HashMap::new();
    for s in members {
        if let Some(p) = &s.parent {
            children.entry(p.as_str()).or_default().push(s);
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_ns);
    }
    let mut out = format!("trace {}\n", root.trace_id);
    draw(&mut out, root, &children, 0, root.start_ns);
    Some(out)
}

fn draw(
    out: &mut String,
    span: &SpanRow,
    children: &HashMap<&str, Vec<&SpanRow>>,
    depth: usize,
    origin: u64,
) {
    let kind = match span.kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        _ => "internal",
    };
    let _ = write!(
        out,
        "{:indent$}{} [{}, {kind}] {:.3} ms (at +{:.3} ms)",
        "",
        span.name,
        span.service,
        span.duration_ns() as f64 / 1e6,
        span.start_ns.saturating_sub(origin) as f64 / 1e6,
        indent = 2 + depth * 2,
    );
    if span.failed {
        let _ = write!(out, "  ERROR {}", span.attr(ERROR_TYPE).unwrap_or("?"));
    }
    out.push('\n');
    for child in children.get(span.span_id.as_str()).into_iter().flatten() {
        draw(out, child, children, depth + 1, origin);
    }
}
