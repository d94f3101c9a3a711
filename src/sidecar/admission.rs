//! Which ring files found in the directory are opened. Every open ring holds
//! one file descriptor (its writer-liveness lock is a `flock` on it, so it
//! cannot be closed after mapping), so a node with thousands of writers
//! could exhaust the sidecar's descriptors and with them the spool, the
//! exporters' sockets and `/metrics`. Two bounds keep that from happening:
//!
//! - `rings.max_open`: at most that many rings open at once, cut at start to
//!   what the open-file limit (`RLIMIT_NOFILE`, the unit's `LimitNOFILE=`)
//!   leaves after [`FD_RESERVE`] descriptors for everything else;
//! - an open that fails with `EMFILE` or `ENFILE` anyway (other processes,
//!   a lower limit) is not a bad ring: it is refused for now, and so are the
//!   rings after it in the same scan, without trying.
//!
//! A refused ring waits, unopened, and is tried again at every scan (the
//! directory is rescanned when a ring goes away, and every two seconds), not
//! only when its file changes. The number waiting, by reason, is the
//! `ringside_rings_refused` gauge; reaching a bound is logged once, and so is
//! every waiting ring getting in.

use ringside::ring::OpenError;

/// Descriptors kept for everything but rings: spool segments and state
/// files, exporter sockets and files, SQLite, `/metrics` connections,
/// inotify, signals, the notify socket.
pub const FD_RESERVE: usize = 256;

/// Why a found ring is not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `rings.max_open` rings are already open.
    MaxOpen,
    /// The process or the system ran out of file descriptors.
    FdLimit,
}

/// Rings waiting to be opened, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// Waiting for room under `rings.max_open`.
    pub max_open: usize,
    /// Refused on `EMFILE`/`ENFILE`.
    pub fd_limit: usize,
}

/// The bound on open rings, and how many rings wait under it: counted afresh
/// at every scan, so a ring that opens, goes away or turns out bad simply
/// stops being counted.
#[derive(Debug)]
pub struct Admission {
    max_open: usize,
    /// Rings refused so far in the scan under way.
    counting: Refused,
    /// Rings refused in the last complete scan: what [`refused`](Self::refused)
    /// reports and the next scan's log compares with.
    last: Refused,
}

impl Admission {
    /// At most `max_open` rings open at once.
    pub fn new(max_open: usize) -> Admission {
        Admission {
            max_open: max_open.max(1),
            counting: Refused::default(),
            last: Refused::default(),
        }
    }

    /// Changes the bound (configuration reload); rings already open stay.
    pub fn set_max_open(&mut self, max_open: usize) {
        self.max_open = max_open.max(1);
    }

    /// Whether one more ring may open when `open` are.
    pub fn has_room(&self, open: usize) -> bool {
        open < self.max_open
    }

    /// A ring found in this scan was not opened, for `why`; it is tried
    /// again next scan.
    pub fn refuse(&mut self, why: Refusal) {
        match why {
            Refusal::MaxOpen => self.counting.max_open += 1,
            Refusal::FdLimit => self.counting.fd_limit += 1,
        }
    }

    /// Rings waiting at the end of the last scan, by reason.
    pub fn refused(&self) -> Refused {
        self.last
    }

    /// Ends a scan: its counts become [`refused`](Self::refused), and what
    /// changed since the last scan worth a log line is returned: a bound
    /// newly reached (warning), or every ring waiting on it let in (info).
    pub fn end_scan(&mut self) -> Vec<(log::Level, String)> {
        let now = std::mem::take(&mut self.counting);
        let mut lines = Vec::new();
        if now.max_open > 0 && self.last.max_open == 0 {
            lines.push((
                log::Level::Warn,
                format!(
                    "rings.max_open ({}) reached: {} ring files wait unopened (ringside_rings_refused) and open as other rings go away",
                    self.max_open, now.max_open
                ),
            ));
        }
        if now.fd_limit > 0 && self.last.fd_limit == 0 {
            lines.push((
                log::Level::Warn,
                format!(
                    "out of file descriptors opening rings (EMFILE/ENFILE): {} ring files wait and are tried again at each scan; raise LimitNOFILE or lower rings.max_open",
                    now.fd_limit
                ),
            ));
        }
        for (before, after, what) in [
            (self.last.max_open, now.max_open, "rings.max_open"),
            (
                self.last.fd_limit,
                now.fd_limit,
                "the file descriptor limit",
            ),
        ] {
            if before > 0 && after == 0 {
                lines.push((
                    log::Level::Info,
                    format!("every ring file that waited on {what} is open or gone"),
                ));
            }
        }
        self.last = now;
        lines
    }
}

/// Whether opening a ring failed for want of file descriptors.
pub fn is_fd_exhaustion(e: &OpenError) -> bool {
    matches!(e, OpenError::Io(io) if matches!(io.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)))
}

/// `max_open` cut to what the open-file limit allows after [`FD_RESERVE`],
/// with the reason when it was cut.
pub fn fit_to_fd_limit(max_open: usize) -> (usize, Option<String>) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return (max_open, None);
    }
    let soft = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    let room = soft.saturating_sub(FD_RESERVE).max(1);
    if max_open <= room {
        return (max_open, None);
    }
    (
        room,
        Some(format!(
            "rings.max_open ({max_open}) cut to {room}: the open file limit is {soft} and {FD_RESERVE} descriptors are kept for the spool, exporters and sockets; raise LimitNOFILE to open more rings"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_rings_are_counted_by_reason_and_logged_once_per_change() {
        let mut a = Admission::new(2);
        assert!(a.has_room(1));
        assert!(!a.has_room(2));
        a.refuse(Refusal::MaxOpen);
        a.refuse(Refusal::MaxOpen);
        a.refuse(Refusal::FdLimit);
        // Counted once the scan ends.
        assert_eq!(a.refused(), Refused::default());
        let lines = a.end_scan();
        assert_eq!(
            a.refused(),
            Refused {
                max_open: 2,
                fd_limit: 1
            }
        );
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0]
                .1
                .contains("rings.max_open (2) reached: 2 ring files")
        );
        assert!(lines[1].1.contains("EMFILE"));
        // Same state next scan: nothing new to say.
        a.refuse(Refusal::MaxOpen);
        a.refuse(Refusal::MaxOpen);
        a.refuse(Refusal::FdLimit);
        assert!(a.end_scan().is_empty());
        // A scan that refuses nothing: every waiting ring is open or gone.
        let lines = a.end_scan();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|(l, _)| *l == log::Level::Info));
        assert_eq!(a.refused(), Refused::default());
    }

    #[test]
    fn fd_exhaustion_is_told_apart_from_a_bad_ring() {
        let emfile = OpenError::Io(std::io::Error::from_raw_os_error(libc::EMFILE));
        let enfile = OpenError::Io(std::io::Error::from_raw_os_error(libc::ENFILE));
        let enoent = OpenError::Io(std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(is_fd_exhaustion(&emfile) && is_fd_exhaustion(&enfile));
        assert!(!is_fd_exhaustion(&enoent) && !is_fd_exhaustion(&OpenError::BadMagic));
    }

    #[test]
    fn a_cap_within_the_fd_limit_is_kept() {
        assert_eq!(fit_to_fd_limit(1), (1, None));
    }
}
