//! Where spans come from: the SQLite store ([`sqlite`]) or OTLP-JSON lines
//! files ([`jsonl`]), read into the common [`SpanRow`] model with the same
//! query either way. Bad rows and lines are counted in [`Skipped`] and never
//! stop a read.
//!
//! Memory stays bounded by what the caller keeps: spans are handed out one at
//! a time ([`Input::for_each_span`]) or one trace at a time
//! ([`Input::for_each_trace`]), and the store applies the time window and the
//! service filter in SQL. Only [`Input::load`] collects everything (for one
//! trace, or small inputs).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::model::{Names, SpanRow, SpanTiming, TraceId};
use super::search::SpanFilter;
use crate::store::{Store, StoreError};

pub mod jsonl;
pub mod spill;
pub mod sqlite;

/// Environment variable overriding [`spill::PART_INPUT_BYTES`] (JSON bytes
/// per temporary file when JSONL spans are grouped by trace).
pub const PART_BYTES_VAR: &str = "RINGSIDE_JSONL_PART_BYTES";

/// Which attributes to load with each span. Fewer is faster on a large store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AttrSelection {
    /// None.
    #[default]
    None,
    /// Only these keys (typed, like [`AttrSelection::All`]).
    Keys(Vec<String>),
    /// All of them, typed.
    All,
}

impl AttrSelection {
    /// Only `keys`; [`AttrSelection::None`] when there are none.
    pub fn of_keys(keys: Vec<String>) -> AttrSelection {
        if keys.is_empty() {
            AttrSelection::None
        } else {
            AttrSelection::Keys(keys)
        }
    }

    /// True when the selection keeps the attribute named `key`.
    pub fn wants(&self, key: &str) -> bool {
        match self {
            AttrSelection::All => true,
            AttrSelection::None => false,
            AttrSelection::Keys(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// What to load.
#[derive(Clone, Debug, Default)]
pub struct SpanQuery {
    /// Spans starting at or after this Unix ns time.
    pub since_ns: Option<u64>,
    /// Spans starting before this Unix ns time.
    pub until_ns: Option<u64>,
    /// Only these traces, whole (the time window does not apply).
    pub trace_ids: Option<Vec<TraceId>>,
    /// Only spans of these traces (sorted), inside the window.
    pub within_traces: Option<Vec<TraceId>>,
    /// Only spans of this service.
    pub service: Option<String>,
    /// Attributes to load.
    pub attributes: AttrSelection,
    /// Also load events, links and status messages.
    pub details: bool,
}

impl SpanQuery {
    /// True when `span` starts inside the window (or the query names its trace).
    pub fn selects(&self, span: &SpanRow) -> bool {
        if let Some(ids) = &self.trace_ids {
            return ids.contains(&span.trace_id);
        }
        self.since_ns.is_none_or(|t| span.start_ns >= t)
            && self.until_ns.is_none_or(|t| span.start_ns < t)
            && self.service.as_deref().is_none_or(|s| *span.service == *s)
            && self
                .within_traces
                .as_ref()
                .is_none_or(|ids| ids.binary_search(&span.trace_id).is_ok())
    }

    /// Keeps only what the query asked for of a fully loaded span.
    pub fn trim(&self, span: &mut SpanRow) {
        match &self.attributes {
            AttrSelection::All => {}
            AttrSelection::None => span.attributes.clear(),
            keys @ AttrSelection::Keys(_) => span.attributes.retain(|(k, _)| keys.wants(k)),
        }
        if !self.details {
            span.events.clear();
            span.links.clear();
            span.status_message = None;
        }
    }
}

/// Rows or lines that could not be used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many.
    pub count: u64,
    /// The first few, with where they were and why.
    pub examples: Vec<String>,
}

impl Skipped {
    /// How many examples are kept.
    pub const EXAMPLES: usize = 5;

    /// Counts one more, keeping its description if among the first few.
    pub fn add(&mut self, what: impl FnOnce() -> String) {
        self.count += 1;
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push(what());
        }
    }
}

/// The result of a load.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Spans, in no particular order.
    pub spans: Vec<SpanRow>,
    /// What was skipped.
    pub skipped: Skipped,
}

/// Why spans could not be loaded at all.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The store is missing, foreign, of another version, or failed.
    Store(StoreError),
    /// A JSONL file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Store(e) => e.fmt(f),
            LoadError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<StoreError> for LoadError {
    fn from(e: StoreError) -> Self {
        LoadError::Store(e)
    }
}

impl LoadError {
    /// True when the input itself is at fault (missing, unreadable, foreign,
    /// wrong version) rather than a failure while reading a good one.
    pub fn is_bad_input(&self) -> bool {
        match self {
            LoadError::Io { .. } => true,
            LoadError::Store(StoreError::Sqlite(_)) => false,
            LoadError::Store(_) => true,
        }
    }
}

/// A source of spans.
#[derive(Debug)]
pub enum Input {
    /// The SQLite store.
    Store(Store),
    /// OTLP-JSON lines files (one `ExportTraceServiceRequest` per line).
    Jsonl(Vec<PathBuf>),
}

impl Input {
    /// The store at `path`, read-only.
    pub fn store(path: &Path) -> Result<Input, LoadError> {
        Ok(Input::Store(Store::open_read_only(path)?))
    }

    /// Loads the spans `query` selects, all at once: for one trace, or inputs
    /// known to be small. The analysis commands stream instead.
    pub fn load(&self, query: &SpanQuery) -> Result<Loaded, LoadError> {
        let mut spans = Vec::new();
        let skipped = self.for_each_span(query, &mut |s| spans.push(s))?;
        Ok(Loaded { spans, skipped })
    }

    /// Calls `f` with each span `query` selects, in no particular order.
    pub fn for_each_span(
        &self,
        query: &SpanQuery,
        f: &mut dyn FnMut(SpanRow),
    ) -> Result<Skipped, LoadError> {
        let mut skipped = Skipped::default();
        match self {
            Input::Store(store) => sqlite::for_each_span(store, query, &mut skipped, f)?,
            Input::Jsonl(paths) => for_each_jsonl_span(paths, &mut skipped, &mut |mut span| {
                if query.selects(&span) {
                    query.trim(&mut span);
                    f(span);
                }
            })?,
        }
        Ok(skipped)
    }

    /// Calls `f` with the timing (service, name, status, duration and the
    /// selected attributes) of each span `query` selects, in no particular
    /// order. From the store only those columns are read, and nothing is
    /// allocated per row, so this is the cheapest full read; a row is
    /// skipped when one of them is bad.
    pub fn for_each_timing(
        &self,
        query: &SpanQuery,
        f: &mut dyn FnMut(&SpanTiming<'_>),
    ) -> Result<Skipped, LoadError> {
        match self {
            Input::Store(store) => {
                let mut skipped = Skipped::default();
                sqlite::for_each_timing(store, query, &mut skipped, f)?;
                Ok(skipped)
            }
            Input::Jsonl(_) => self.for_each_span(query, &mut |s| f(&SpanTiming::of(&s))),
        }
    }

    /// Calls `f` with the spans `query` selects of one trace at a time (all
    /// of a trace's selected spans in one call), traces in no particular
    /// order.
    pub fn for_each_trace(
        &self,
        query: &SpanQuery,
        f: &mut dyn FnMut(Vec<SpanRow>),
    ) -> Result<Skipped, LoadError> {
        let mut skipped = Skipped::default();
        match self {
            Input::Store(store) => sqlite::for_each_trace(store, query, &mut skipped, f)?,
            Input::Jsonl(paths) if spill::fits(query) => {
                // A trace's spans may be anywhere in the files: group them
                // through temporary files when the input is large.
                let bytes: u64 = paths
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum();
                let part_bytes = std::env::var(PART_BYTES_VAR)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&b| b > 0)
                    .unwrap_or(spill::PART_INPUT_BYTES);
                let parts = bytes.div_ceil(part_bytes).clamp(1, spill::MAX_PARTS);
                spill::group(
                    parts,
                    |emit| {
                        skipped = self.for_each_span(query, emit)?;
                        Ok(())
                    },
                    f,
                )?;
            }
            Input::Jsonl(_) => {
                let mut by_trace: HashMap<TraceId, Vec<SpanRow>> = HashMap::new();
                skipped = self.for_each_span(query, &mut |s| {
                    by_trace.entry(s.trace_id).or_default().push(s)
                })?;
                for spans in by_trace.into_values() {
                    f(spans);
                }
            }
        }
        Ok(skipped)
    }

    /// Calls `f` with the spans `query` selects of one trace at a time,
    /// starting from one end of the window (`newest_first`: its end), each
    /// trace with a bound: every trace not passed yet has all its selected
    /// spans starting at or before the bound (newest first) or at or after
    /// it (oldest first). Stops when `f` breaks, so a search for the latest
    /// traces reads the store only as far back as its answer reaches
    /// ([`sqlite::for_each_trace_from_end`]).
    ///
    /// JSONL files have no index to walk: every trace is passed, in no
    /// particular order, with the bound that promises nothing (`u64::MAX`
    /// newest first, 0 oldest first).
    pub fn for_each_trace_from_end(
        &self,
        query: &SpanQuery,
        newest_first: bool,
        f: &mut dyn FnMut(u64, Vec<SpanRow>) -> ControlFlow<()>,
    ) -> Result<Skipped, LoadError> {
        match self {
            Input::Store(store) => {
                let mut skipped = Skipped::default();
                sqlite::for_each_trace_from_end(store, query, newest_first, &mut skipped, f)?;
                Ok(skipped)
            }
            Input::Jsonl(_) => {
                let bound = if newest_first { u64::MAX } else { 0 };
                let mut done = false;
                self.for_each_trace(query, &mut |spans| {
                    if !done {
                        done = f(bound, spans).is_break();
                    }
                })
            }
        }
    }

    /// The traces (sorted ids) with a span inside `query`'s window that
    /// passes every filter of `filter`.
    pub fn traces_matching(
        &self,
        query: &SpanQuery,
        filter: &SpanFilter,
    ) -> Result<(Vec<TraceId>, Skipped), LoadError> {
        let mut ids = Vec::new();
        let skipped = match self {
            Input::Store(store) => {
                let mut skipped = Skipped::default();
                sqlite::traces_matching(store, query, filter, &mut skipped, &mut ids)?;
                skipped
            }
            Input::Jsonl(_) => {
                let mut query = query.clone();
                query.attributes = AttrSelection::of_keys(filter.attr_keys());
                self.for_each_span(&query, &mut |s| {
                    if filter.matches(&s) {
                        ids.push(s.trace_id);
                    }
                })?
            }
        };
        ids.sort_unstable();
        ids.dedup();
        Ok((ids, skipped))
    }
}

/// Reads every span of the files, in order.
fn for_each_jsonl_span(
    paths: &[PathBuf],
    skipped: &mut Skipped,
    f: &mut dyn FnMut(SpanRow),
) -> Result<(), LoadError> {
    let mut names = Names::default();
    for path in paths {
        let io = |error| LoadError::Io {
            path: path.clone(),
            error,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let reader = std::io::BufReader::with_capacity(1 << 20, file);
        let label = path.display().to_string();
        jsonl::read(reader, &label, &mut names, skipped, &mut *f).map_err(io)?;
    }
    Ok(())
}
