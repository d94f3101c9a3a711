//! The store's tables and indexes, and the version that guards them.
//!
//! One row per span in `spans`; the process that wrote it in `resources`
//! (one row per ring: service, host, pid); every span attribute once more in
//! `span_attrs`, as text, keyed by `(key, value, span)` so that an equality
//! filter (`--attr file.path=/a/b`) is one index range and grouping by an
//! attribute (`stats --group-by target.node`) is one range scan of that key.
//! The `spans.attributes` column keeps the typed values (JSON object) for
//! display. Events and links are JSON arrays in their span's row (NULL when
//! there are none): nothing queries inside them.
//!
//! Indexes and the queries they serve:
//!
//! | index | serves |
//! |---|---|
//! | `spans_by_trace (trace_id, span_id)` unique | `ringside trace`, duplicate spans ignored |
//! | `spans_by_service (resource_id, start_ns)` | filters by service |
//! | `spans_errors (start_ns) WHERE status = 2` | filters by status error (errors are rare: a partial index) |
//! | `spans_by_start (start_ns)` | time windows |
//! | `spans_by_duration (duration_ns)` | minimum duration, slowest spans |
//!
//! The view `span_list` joins the service name in, for ad-hoc `sqlite3` use.

/// Schema version, kept in `PRAGMA user_version`. Bump it with any change to
/// the statements below; a store of another version is refused, not guessed at.
pub const SCHEMA_VERSION: i64 = 1;

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
CREATE TABLE spans (
    id                 INTEGER PRIMARY KEY,
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
CREATE UNIQUE INDEX spans_by_trace ON spans (trace_id, span_id);
CREATE INDEX spans_by_service ON spans (resource_id, start_ns);
CREATE INDEX spans_errors ON spans (start_ns) WHERE status = 2;
CREATE INDEX spans_by_start ON spans (start_ns);
CREATE INDEX spans_by_duration ON spans (duration_ns);
CREATE TABLE span_attrs (
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    span   INTEGER NOT NULL,
    PRIMARY KEY (key, value, span)
) WITHOUT ROWID;
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
