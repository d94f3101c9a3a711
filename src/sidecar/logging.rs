//! Structured logs on stderr, one `key=value` line per event (logfmt), which
//! journald and log shippers parse as they are. The level comes from the
//! configuration, overridden by `RUST_LOG` (a plain level name). The message
//! and any value with a space, quote, `=` or control character are quoted
//! with Rust string escapes, so text from rings cannot break a line.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logfmt;

static LOGGER: Logfmt = Logfmt;

impl Log for Logfmt {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let ms = ringside::clock::unix_ns() / 1_000_000;
        let msg = record.args().to_string();
        let mut line = format!(
            "ts={}.{:03} level={level} msg={:?}",
            ms / 1000,
            ms % 1000,
            msg
        );
        struct Fields<'a>(&'a mut String);
        impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
            fn visit_pair(
                &mut self,
                key: log::kv::Key<'kvs>,
                value: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                push_field(self.0, key.as_str(), &value.to_string());
                Ok(())
            }
        }
        let _ = record.key_values().visit(&mut Fields(&mut line));
        line.push('\n');
        // One write per line so lines from several threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Appends ` key=value` to a log line. Values can come from rings (service
/// and span names): one with a space, quote, `=` or any control character
/// is quoted with escapes, so it cannot end the line or forge another one.
fn push_field(line: &mut String, key: &str, v: &str) {
    let plain = !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '='));
    if plain {
        line.push_str(&format!(" {key}={v}"));
    } else {
        line.push_str(&format!(" {key}={v:?}"));
    }
}

/// Parses a level name.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        "off" => Some(LevelFilter::Off),
        _ => None,
    }
}

/// Installs the logger (once per process) and sets the level: `RUST_LOG` if it
/// names a level, else `configured`.
pub fn init(configured: &str) {
    let _ = log::set_logger(&LOGGER);
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| parse_level(&v))
        .or_else(|| parse_level(configured))
        .unwrap_or(LevelFilter::Info);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_from_rings_cannot_forge_a_line() {
        let mut line = String::new();
        push_field(&mut line, "service", "svc\nts=0 level=error msg=forged");
        push_field(&mut line, "name", "op\u{1b}[2J");
        push_field(&mut line, "tab", "a\tb");
        push_field(&mut line, "plain", "data-node");
        assert_eq!(
            line,
            " service=\"svc\\nts=0 level=error msg=forged\" name=\"op\\u{1b}[2J\" \
             tab=\"a\\tb\" plain=data-node"
        );
        assert!(!line.contains(['\n', '\u{1b}', '\t']));
    }
}
