//! What the analysis subcommands share: where spans come from (`--store`,
//! `--jsonl`), the time window, loading with bad rows reported, output helpers.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit::BadInput;
use ringside_agent::analyze::input::{Input, LoadError, Loaded, Skipped, SpanQuery};
use ringside_agent::analyze::model::{TraceId, parse_trace_id};
use ringside_agent::analyze::time::{now_ns, parse_instant};
use ringside_agent::sidecar::config::{Config, DEFAULT_PATH, ExporterConfig, SqliteConfig};

/// `println!` that does not panic when stdout is closed (`ringside stats |
/// head`): what cannot be written is dropped.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use outln;

/// Where the store is when neither `--store` nor the configuration says.
pub const DEFAULT_STORE: &str = "/var/lib/ringside/traces.db";

/// Where spans come from.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// SQLite span store written by the sidecar's sqlite exporter. Default:
    /// the `path` of the first `sqlite` exporter in the configuration file,
    /// else /var/lib/ringside/traces.db.
    #[arg(long, value_name = "PATH", conflicts_with = "jsonl")]
    pub store: Option<PathBuf>,
    /// OTLP-JSON lines file(s) instead of the store: ringside's jsonl exporter
    /// or the OpenTelemetry Collector's file exporter. Repeatable. Bad lines
    /// are counted and reported, never fatal.
    #[arg(long, value_name = "PATH")]
    pub jsonl: Vec<PathBuf>,
    /// Configuration file consulted for the default store path.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

impl InputArgs {
    /// The store path to use when no `--jsonl` is given.
    pub fn store_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        if !self.config.exists() {
            return Ok(PathBuf::from(DEFAULT_STORE));
        }
        let config = Config::load(&self.config)
            .map_err(|e| BadInput(format!("{}: {e}", self.config.display())))?;
        Ok(config
            .exporters
            .iter()
            .find_map(|e| match e {
                ExporterConfig::Sqlite(SqliteConfig { path, .. }) => Some(path.clone()),
                _ => None,
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE)))
    }

    /// Opens the input.
    pub fn open(&self) -> anyhow::Result<Input> {
        if !self.jsonl.is_empty() {
            return Ok(Input::Jsonl(self.jsonl.clone()));
        }
        let path = self.store_path()?;
        Input::store(&path).map_err(load_error)
    }
}

/// A load error as the exit code wants it.
pub fn load_error(e: LoadError) -> anyhow::Error {
    if e.is_bad_input() {
        BadInput(e.to_string()).into()
    } else {
        anyhow::Error::new(e)
    }
}

/// The time window of the spans to look at.
#[derive(Args, Debug, Clone, Default)]
pub struct WindowArgs {
    /// Only spans starting at or after this: an age (`1h`, `30m`, `2days`) or
    /// an RFC 3339 time (`2026-05-01T12:00:00Z`). Default: everything.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only spans starting before this (same forms as --since).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

impl WindowArgs {
    /// The window as a query.
    pub fn query(&self) -> anyhow::Result<SpanQuery> {
        let now = now_ns();
        let parse = |s: &Option<String>, flag: &str| -> anyhow::Result<Option<u64>> {
            s.as_deref()
                .map(|s| parse_instant(s, now).map_err(|e| BadInput(format!("{flag}: {e}")).into()))
                .transpose()
        };
        let since_ns = parse(&self.since, "--since")?;
        let until_ns = parse(&self.until, "--until")?;
        if since_ns.zip(until_ns).is_some_and(|(a, b)| a >= b) {
            return Err(BadInput("--since must be before --until".into()).into());
        }
        Ok(SpanQuery {
            since_ns,
            until_ns,
            ..SpanQuery::default()
        })
    }
}

/// Loads, telling stderr about skipped rows or lines.
pub fn load(input: &Input, query: &SpanQuery) -> anyhow::Result<Loaded> {
    let loaded = input.load(query).map_err(load_error)?;
    warn_skipped(&loaded.skipped);
    Ok(loaded)
}

/// Tells stderr how many rows or lines were skipped and why (the first few).
pub fn warn_skipped(skipped: &Skipped) {
    if skipped.count == 0 {
        return;
    }
    eprintln!(
        "ringside: warning: skipped {} bad rows or lines",
        skipped.count
    );
    for e in &skipped.examples {
        eprintln!("  {e}");
    }
}

/// Parses a trace id argument.
pub fn trace_id(s: &str) -> anyhow::Result<TraceId> {
    parse_trace_id(s).ok_or_else(|| {
        BadInput(format!(
            "{s:?} is not a trace id (32 hex digits, not all zero)"
        ))
        .into()
    })
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    outln!("{text}");
    Ok(())
}

/// Prints rows as a table with a header, columns padded to their widest
/// cell; columns listed in `right` are right-aligned (numbers).
pub fn print_table(header: &[&str], rows: &[Vec<String>], right: &[usize]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            let pad = width[i].saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            let last = i + 1 == width.len();
            if right.contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if !last {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        outln!("{}", s.trim_end());
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

/// Writes `text` to `path`, naming the path in the error.
pub fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}
