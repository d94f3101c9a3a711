//! What the service manager sees of the poll loop: `READY=1` once the ring
//! directory exists and the exporters run, `WATCHDOG=1` from the loop itself
//! (so a stuck loop stops pinging and systemd restarts it), `RELOADING=1` and
//! `STOPPING=1`, and a one-line status.
//!
//! `RINGSIDE_FAULT_STALL_FILE` is a test-only fault switch: while the file it
//! names exists, the loop stalls (does nothing, pings nothing).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::sidecar::notify::Notifier;

/// The loop's link to systemd (inert when not run by it).
pub(super) struct Supervisor {
    notifier: Option<Notifier>,
    /// Half the watchdog period, when systemd watches this process.
    ping_every: Option<Duration>,
    last_ping: Instant,
    stall_file: Option<PathBuf>,
}

impl Supervisor {
    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC`/`$WATCHDOG_PID` and the fault switch.
    pub(super) fn from_env() -> Supervisor {
        let notifier = Notifier::from_env();
        let ping_every = notifier
            .as_ref()
            .and_then(Notifier::watchdog_interval)
            .map(|d| d / 2);
        Supervisor {
            notifier,
            ping_every,
            last_ping: Instant::now(),
            stall_file: std::env::var_os("RINGSIDE_FAULT_STALL_FILE").map(PathBuf::from),
        }
    }

    /// The longest the loop may sleep in one wait and still ping in time.
    pub(super) fn max_wait(&self) -> Option<Duration> {
        self.ping_every
    }

    /// Start-up (or a reload) is complete.
    pub(super) fn ready(&mut self, status: &str) {
        self.send(Notifier::ready);
        self.send(|n| n.status(status));
        self.ping();
    }

    /// A reload begins.
    pub(super) fn reloading(&self) {
        self.send(Notifier::reloading);
    }

    /// Shutdown begins.
    pub(super) fn stopping(&self) {
        self.send(Notifier::stopping);
    }

    /// Called every loop turn: pings the watchdog when half its period passed.
    pub(super) fn turn(&mut self) {
        if self
            .ping_every
            .is_some_and(|every| self.last_ping.elapsed() >= every)
        {
            self.ping();
        }
    }

    /// The test-only fault switch is on.
    pub(super) fn stalled(&self) -> bool {
        self.stall_file.as_ref().is_some_and(|f| f.exists())
    }

    fn ping(&mut self) {
        self.send(Notifier::watchdog);
        self.last_ping = Instant::now();
    }

    fn send(&self, what: impl Fn(&Notifier) -> std::io::Result<()>) {
        if let Some(n) = &self.notifier {
            if let Err(e) = what(n) {
                log::warn!(error = e.to_string().as_str(); "cannot notify the service manager");
            }
        }
    }
}
