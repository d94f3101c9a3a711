//! The local trace store: spans in one SQLite file, written by the sidecar's
//! SQLite exporter ([`crate::export::sqlite`]) and read by the analysis
//! commands ([`crate::analyze`], whose `input::sqlite` reads it).
//!
//! The file is in WAL mode, so readers never block the writer. Every export
//! call is one transaction that also records the spool cursor, so a crash
//! leaves the spans and the cursor consistent (exactly once). The schema is in
//! [`schema`]; its version lives in `PRAGMA user_version` and a store of another
//! version is refused with [`StoreError::Version`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::batch::Resource;

pub mod generate;
pub mod retention;
pub mod schema;
mod write;

pub use write::WriteOutcome;

/// Why the store could not be opened, written or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// No file at the path (read-only open never creates one).
    NotFound(PathBuf),
    /// The file exists but is not a ringside store.
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The store was written with another schema version.
    Version {
        /// The file.
        path: PathBuf,
        /// Version found in `PRAGMA user_version`.
        found: i64,
    },
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// Creating the store's directory failed.
    Io(std::io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound(p) => write!(f, "no span store at {}", p.display()),
            StoreError::NotAStore { path, reason } => {
                write!(
                    f,
                    "{} is not a ringside span store: {reason}",
                    path.display()
                )
            }
            StoreError::Version { path, found } => write!(
                f,
                "{} has store schema version {found}, this ringside reads version {}; \
                 move it aside (or use the ringside that wrote it)",
                path.display(),
                schema::SCHEMA_VERSION
            ),
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StoreError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// An open store.
pub struct Store {
    conn: Connection,
    /// The database file.
    path: PathBuf,
    /// Resource rows already known to exist, with their ids (one per ring, so
    /// few: a linear search is the fastest lookup).
    resources: Vec<(Resource, i64)>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Page cache per connection, in KiB (negative `cache_size` means KiB): large
/// enough to keep the hot parts of the random-order indexes (trace id,
/// attributes) in memory while writing.
const CACHE_KIB: i64 = 128 * 1024;

/// Page cache of a read-only connection, in KiB: the analysis commands walk
/// the store once in index order, so a large cache would only hold pages
/// never read again (and count in their peak memory). For the same reason
/// there is no `mmap_size`: mapped pages count in the resident memory once
/// touched, so one full pass would show the whole file in it.
const READ_CACHE_KIB: i64 = 16 * 1024;

/// Database page size in bytes, for new stores.
const PAGE_SIZE: i64 = 16 * 1024;

/// WAL pages between automatic checkpoints: 64 MiB.
const WAL_CHECKPOINT_PAGES: i64 = 64 * 1024 * 1024 / PAGE_SIZE;

impl Store {
    /// Opens the store at `path` for writing, creating the file, its directory
    /// and the schema if missing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::Io)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL: readers (the analysis commands) never block the exporter.
        // synchronous=NORMAL: a commit appends to the WAL without an fsync;
        // only checkpoints fsync. Still exactly once, because each
        // transaction holds both the spans and the spool cursor after them:
        // - a killed process loses nothing, the WAL is in the OS page cache
        //   and the next open replays it;
        // - a power cut may lose the last transactions, but it loses their
        //   cursor with them, so `recover()` returns the older cursor and the
        //   spool hands those spans out again (its segments are written
        //   before the exporter sees them). No span is lost or stored twice;
        //   the database itself is never corrupted by WAL with NORMAL.
        // FULL (an fsync per commit) measured 0.6x the write rate.
        // Takes effect only on a new, empty file (before the WAL switch).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        // Lets retention hand free pages back to the file system
        // (`retention`); like page_size, only a new file takes it.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoint (copy the WAL into the database, with an fsync) every
        // 64 MiB of WAL instead of SQLite's 4 MiB: fewer, larger checkpoints
        // measured 1.2 to 2 times the write rate (docs/analysis.md). The WAL
        // file is cut back to the same size after each checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_CHECKPOINT_PAGES * PAGE_SIZE)?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            resources: Vec::new(),
        };
        store.init_schema(path)?;
        Ok(store)
    }

    /// Opens an existing store for reading only.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotFound(path.to_owned()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "cache_size", -READ_CACHE_KIB)?;
        let store = Store {
            conn,
            path: path.to_owned(),
            resources: Vec::new(),
        };
        store.check_version(path)?;
        Ok(store)
    }

    /// The underlying connection, for queries this module does not offer.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Makes every committed transaction durable: fsyncs the WAL file, which
    /// holds all commits since the last checkpoint (a checkpoint fsyncs the
    /// database itself, so commits before it are durable already).
    fn sync_wal(&self) -> Result<(), StoreError> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        match std::fs::File::open(&wal) {
            Ok(f) => f.sync_data().map_err(StoreError::Io),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Io(e)),
        }
    }

    fn user_version(&self, path: &Path) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::NotAStore {
                        path: path.to_owned(),
                        reason: "not an SQLite database".into(),
                    }
                }
                e => StoreError::Sqlite(e),
            })
    }

    fn check_version(&self, path: &Path) -> Result<(), StoreError> {
        match self.user_version(path)? {
            schema::SCHEMA_VERSION => Ok(()),
            0 => Err(StoreError::NotAStore {
                path: path.to_owned(),
                reason: "no ringside schema (user_version 0)".into(),
            }),
            found => Err(StoreError::Version {
                path: path.to_owned(),
                found,
            }),
        }
    }

    fn init_schema(&mut self, path: &Path) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            let objects: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if objects != 0 {
                return Err(StoreError::NotAStore {
                    path: path.to_owned(),
                    reason: format!(
                        "it already holds {objects} tables or indexes of something else"
                    ),
                });
            }
            tx.execute_batch(schema::CREATE)?;
            tx.pragma_update(None, "user_version", schema::SCHEMA_VERSION)?;
            tx.commit()?;
            return Ok(());
        }
        drop(tx);
        self.check_version(path)
    }
}

#[cfg(test)]
mod tests;
