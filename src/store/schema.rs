//! The store's tables and indexes, and the version that guards them.
//!
//! One row per span in `spans`; the process that wrote it in `resources`
//! (one row per ring: service, host, pid); one row per trace in `traces`,
//! whose row id the trace's spans carry in `spans.trace`. Trace ids are
//! random, so an index on them takes inserts all over its B-tree: keyed this
//! way, that happens once per trace (in `traces`) instead of once per span,
//! and `spans_by_trace` grows at its end, as trace rows are numbered in
//! arrival order. A span's attributes are one JSON
//! object in its row (typed values); events and links are JSON arrays there
//! too (NULL when there are none).
//!
//! Every index costs the writer a B-tree insert per span, so there is one
//! per query the analysis commands run, no more:
//!
//! | index | serves |
//! |---|---|
//! | `traces (trace_id)` unique | `ringside trace`: trace id to trace row |
//! | `spans_by_trace (trace, span_id)` unique | the trace's spans, duplicate spans ignored |
//! | `spans_by_start (start_ns)` | time windows (`--since`, `--until`); the latest or oldest traces of a window (walked from that end); retention's oldest spans |
//!
//! Service, status, duration and attribute filters are applied to the spans
//! of the window after loading (they need whole traces anyway), so version 1's
//! indexes for them and its per-attribute table (`span_attrs`, one random-order
//! insert per attribute) were never read and are gone in version 2: the writer
//! went from seven B-tree inserts per span (plus one per attribute) to three.
//!
//! The view `span_list` joins the service name in, for ad-hoc `sqlite3` use.

/// Schema version, kept in `PRAGMA user_version`. Bump it with any change to
/// the statements below; a store of another version is refused, not guessed at.
pub const SCHEMA_VERSION: i64 = 2;

/// Creates every table, index and view of [`SCHEMA_VERSION`].
pub const CREATE: &str = "
CREATE TABLE resources (
    id          INTEGER PRIMARY KEY,
    service     TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    ring_id     INTEGER NOT NULL,
    attributes  TEXT NOT NULL,
    UNIQUE (service, host, pid, ring_id, attributes)
);
CREATE TABLE traces (
    id          INTEGER PRIMARY KEY,
    trace_id    BLOB NOT NULL UNIQUE
);
CREATE TABLE spans (
    id                 INTEGER PRIMARY KEY,
    trace              INTEGER NOT NULL REFERENCES traces (id),
    trace_id           BLOB NOT NULL,
    span_id            BLOB NOT NULL,
    parent_span_id     BLOB,
    resource_id        INTEGER NOT NULL REFERENCES resources (id),
    name               TEXT NOT NULL,
    kind               INTEGER NOT NULL,
    status             INTEGER NOT NULL,
    status_message     TEXT,
    start_ns           INTEGER NOT NULL,
    end_ns             INTEGER NOT NULL,
    duration_ns        INTEGER NOT NULL,
    trace_flags        INTEGER NOT NULL,
    trace_state        TEXT,
    parent_is_remote   INTEGER NOT NULL,
    dropped_attributes INTEGER NOT NULL,
    dropped_events     INTEGER NOT NULL,
    dropped_links      INTEGER NOT NULL,
    attributes         TEXT NOT NULL,
    events             TEXT,
    links              TEXT
);
CREATE UNIQUE INDEX spans_by_trace ON spans (trace, span_id);
CREATE INDEX spans_by_start ON spans (start_ns);
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE VIEW span_list AS
    SELECT s.*, r.service AS service, r.host AS host
    FROM spans s JOIN resources r ON r.id = s.resource_id;
";

/// `meta` key of the spool cursor's segment (written with the spans).
pub const META_CURSOR_SEGMENT: &str = "cursor.segment";
/// `meta` key of the spool cursor's offset.
pub const META_CURSOR_OFFSET: &str = "cursor.offset";
