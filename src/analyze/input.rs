//! Where spans come from: the SQLite store or OTLP-JSON lines files, loaded
//! into the common [`Span`] model with the same query either way. Bad rows and
//! lines are counted in [`Skipped`] and never stop a load.

use std::path::{Path, PathBuf};

use super::jsonl;
use super::model::{Names, Span, TraceId};
use crate::store::{Store, StoreError};

/// Which attributes to load with each span. Fewer is faster on a large store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AttrSelection {
    /// None.
    #[default]
    None,
    /// Only these keys (values come back in their text form from the store).
    Keys(Vec<String>),
    /// All of them, typed.
    All,
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
    /// Attributes to load.
    pub attributes: AttrSelection,
    /// Also load events, links and status messages.
    pub details: bool,
}

impl SpanQuery {
    /// True when `span` starts inside the window (or the query names its trace).
    pub fn selects(&self, span: &Span) -> bool {
        if let Some(ids) = &self.trace_ids {
            return ids.contains(&span.trace_id);
        }
        self.since_ns.is_none_or(|t| span.start_ns >= t)
            && self.until_ns.is_none_or(|t| span.start_ns < t)
    }

    /// Keeps only what the query asked for of a fully loaded span.
    pub fn trim(&self, span: &mut Span) {
        match &self.attributes {
            AttrSelection::All => {}
            AttrSelection::None => span.attributes.clear(),
            AttrSelection::Keys(keys) => span.attributes.retain(|(k, _)| keys.contains(k)),
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
    pub spans: Vec<Span>,
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

    /// Loads the spans `query` selects.
    pub fn load(&self, query: &SpanQuery) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::default();
        let mut names = Names::default();
        match self {
            Input::Store(store) => store.load(query, &mut names, &mut loaded)?,
            Input::Jsonl(paths) => {
                for path in paths {
                    let file = std::fs::File::open(path).map_err(|error| LoadError::Io {
                        path: path.clone(),
                        error,
                    })?;
                    let reader = std::io::BufReader::with_capacity(1 << 20, file);
                    let label = path.display().to_string();
                    jsonl::read(
                        reader,
                        &label,
                        &mut names,
                        &mut loaded.skipped,
                        |mut span| {
                            if query.selects(&span) {
                                query.trim(&mut span);
                                loaded.spans.push(span);
                            }
                        },
                    )
                    .map_err(|error| LoadError::Io {
                        path: path.clone(),
                        error,
                    })?;
                }
            }
        }
        Ok(loaded)
    }
}
