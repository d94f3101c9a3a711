//! Console exporter, for debugging: one human-readable line per span on
//! standard output.
//!
//! ```text
//! 2026-11-26T01:14:17.081239123Z data-node a0010101/0101015c storage.data.write server 250.001µs error "disk full" path="/vol/a" size=-4096 events=[retry] links=1
//! ```
//!
//! Fields: start time (UTC), service, the first four bytes of the trace id and
//! of the span id in hex, name, kind, duration, status (with its message),
//! attributes (strings quoted and escaped, so a line stays one line), then the
//! names of the events and the number of links when there are any.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{ExportError, ExportOutcome, Exporter};
use crate::batch::SpanBatch;
use crate::batch::SpoolCursor;
use ringside::record::{EntryView, RecordView, StatusCode, Value};

/// The `[[exporters]]` entry of kind `console`: it has no settings.
#[derive(Clone, Debug, Default, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {}

/// Writes one line per span to standard output (or another writer).
pub struct ConsoleExporter {
    out: Box<dyn Write + Send>,
    line: String,
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        ConsoleExporter::new()
    }
}

impl ConsoleExporter {
    /// An exporter writing to standard output.
    pub fn new() -> ConsoleExporter {
        ConsoleExporter::to_writer(io::stdout())
    }

    /// An exporter writing to `out`.
    pub fn to_writer(out: impl Write + Send + 'static) -> ConsoleExporter {
        ConsoleExporter {
            out: Box::new(out),
            line: String::new(),
        }
    }
}

impl Exporter for ConsoleExporter {
    fn name(&self) -> &str {
        "console"
    }

    /// A failed write is permanent: these lines are for a person watching,
    /// not worth holding the spool back.
    fn export(
        &mut self,
        batches: &[SpanBatch],
        _cursor: SpoolCursor,
    ) -> Result<ExportOutcome, ExportError> {
        let mut accepted = 0;
        let mut text = String::new();
        for batch in batches {
            for view in batch.views() {
                self.line.clear();
                span_line(&mut self.line, &batch.resource.service, &view);
                text.push_str(&self.line);
                text.push('\n');
                accepted += 1;
            }
        }
        let written = self
            .out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush());
        written.map_err(|e| ExportError::Permanent {
            reason: format!("writing span lines: {e}"),
        })?;
        Ok(ExportOutcome {
            accepted,
            rejected: 0,
        })
    }
}

/// Appends the line of one span (without the newline) to `out`.
pub fn span_line(out: &mut String, service: &str, v: &RecordView<'_>) {
    // Writing to a String cannot fail.
    let _ = write_span(out, service, v);
}

fn write_span(out: &mut String, service: &str, v: &RecordView<'_>) -> std::fmt::Result {
    write_utc(out, v.start())?;
    out.push(' ');
    word(out, service)?;
    out.push(' ');
    hex(out, &v.trace_id()[..4])?;
    out.push('/');
    hex(out, &v.span_id()[..4])?;
    let duration = std::time::Duration::from_nanos(v.end().saturating_sub(v.start()));
    out.push(' ');
    word(out, v.name())?;
    write!(
        out,
        " {} {duration:?} {}",
        v.kind().as_str(),
        v.status().as_str()
    )?;
    if v.status() == StatusCode::Error || v.status_message().is_some_and(|m| !m.is_empty()) {
        write!(out, " {:?}", v.status_message().unwrap_or_default())?;
    }
    for a in v.attrs() {
        out.push(' ');
        word(out, a.key)?;
        out.push('=');
        match a.value {
            Value::Str(s) => write!(out, "{s:?}")?,
            Value::I64(i) => write!(out, "{i}")?,
            Value::F64(f) => write!(out, "{f}")?,
            Value::Bool(b) => write!(out, "{b}")?,
        }
    }
    let mut events = v.entries().filter_map(|e| match e {
        EntryView::Event { name, .. } => Some(name),
        _ => None,
    });
    if let Some(first) = events.next() {
        write!(out, " events=[{first:?}")?;
        for name in events {
            write!(out, ",{name:?}")?;
        }
        out.push(']');
    }
    let links = v
        .entries()
        .filter(|e| matches!(e, EntryView::Link { .. }))
        .count();
    if links > 0 {
        write!(out, " links={links}")?;
    }
    Ok(())
}

/// Writes a string from a ring (service, span name, attribute key) as it is
/// when it is one plain word, else quoted with escapes, so that no control
/// character (newline, ESC) reaches the terminal or forges a line.
fn word(out: &mut String, s: &str) -> std::fmt::Result {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '"' && c != '=');
    if plain {
        out.push_str(s);
        Ok(())
    } else {
        write!(out, "{s:?}")
    }
}

fn hex(out: &mut String, bytes: &[u8]) -> std::fmt::Result {
    bytes.iter().try_for_each(|b| write!(out, "{b:02x}"))
}

/// Unix nanoseconds as RFC 3339 UTC with nanoseconds.
fn write_utc(out: &mut String, unix_ns: u64) -> std::fmt::Result {
    let secs = unix_ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        unix_ns % 1_000_000_000
    )
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::batch::Resource;
    use ringside::record::{Record, SpanKind};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn utc_dates_match_known_days() {
        let mut s = String::new();
        write_utc(&mut s, 0).expect("formats");
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
        s.clear();
        // 2024-02-29 (a leap day) 23:59:59.5
        write_utc(&mut s, 1_709_251_199_500_000_000).expect("formats");
        assert_eq!(s, "2024-02-29T23:59:59.500000000Z");
        s.clear();
        write_utc(&mut s, 1_764_119_657_081_239_123).expect("formats");
        assert_eq!(s, "2025-11-26T01:14:17.081239123Z");
    }

    #[test]
    fn one_line_per_span_with_every_field() {
        let mut r = Record::new("storage.data.write");
        r.trace_id = [0xa0; 16];
        r.span_id = [0x5c; 8];
        r.kind = SpanKind::Server as u8;
        r.start = 1_764_119_657_000_000_000;
        r.end = r.start + 250_001;
        r.push_attr("path", Value::Str("/vol/a \"q\"\n"));
        r.push_attr("size", Value::I64(-4096));
        r.push_attr("ratio", Value::F64(0.25));
        r.push_attr("sync", Value::Bool(true));
        r.push_event(r.start + 10, "retry", &[]);
        r.push_link([1; 16], [2; 8], 1, &[]);
        r.set_status(StatusCode::Error, "disk full");
        let mut second = Record::new("second");
        second.trace_id = [1; 16];
        second.span_id = [2; 8];
        second.kind = SpanKind::Internal as u8;
        let batch = SpanBatch {
            resource: Arc::new(Resource {
                service: "data-node".into(),
                ..Resource::default()
            }),
            records: vec![r, second],
        };
        let out = Shared::default();
        let mut exporter = ConsoleExporter::to_writer(out.clone());
        let outcome = exporter
            .export(&[batch], SpoolCursor::default())
            .expect("writes");
        assert_eq!(
            outcome,
            ExportOutcome {
                accepted: 2,
                rejected: 0
            }
        );
        let text = String::from_utf8(out.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            lines[0],
            "2025-11-26T01:14:17.000000000Z data-node a0a0a0a0/5c5c5c5c storage.data.write server \
             250.001µs error \"disk full\" path=\"/vol/a \\\"q\\\"\\n\" size=-4096 ratio=0.25 sync=true \
             events=[\"retry\"] links=1"
        );
        assert!(
            lines[1].contains(" second internal 0ns unset"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn ring_strings_with_control_characters_are_quoted() {
        let mut r = Record::new("read\n2026-01-01T00:00:00Z forged");
        r.trace_id = [1; 16];
        r.span_id = [2; 8];
        r.kind = SpanKind::Internal as u8;
        r.push_attr("k\u{1b}[31m", Value::I64(1));
        let v = RecordView::new(&r).expect("valid record");
        let mut line = String::new();
        span_line(&mut line, "svc\rx", &v);
        assert!(!line.contains(['\n', '\r', '\u{1b}']), "{line:?}");
        assert!(line.contains("\"svc\\rx\""), "{line}");
        assert!(
            line.contains("\"read\\n2026-01-01T00:00:00Z forged\""),
            "{line}"
        );
        assert!(line.contains("\"k\\u{1b}[31m\"=1"), "{line}");
    }
}
