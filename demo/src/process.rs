//! A process the demo starts: this same executable with a subcommand, its
//! stdout read line by line (the `listening` and `stats` lines), its stderr in
//! a log file, stopped by pid with SIGTERM, and sent SIGTERM by the kernel if
//! the demo dies first.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::signals;

/// A process the demo started. Dropping it stops it.
pub struct Proc {
    role: String,
    /// The process.
    pub child: Child,
    lines: Receiver<String>,
    /// Its last `stats` line, once it exited.
    pub stats: Option<serde_json::Value>,
}

impl Proc {
    /// Starts `current_exe() <args>` with `RINGSIDE_DIR`, stdout piped to the
    /// demo and stderr to `<dir>/<role>.log`.
    pub fn start(
        role: &str,
        dir: &Path,
        rings: &Path,
        slots: usize,
        args: &[String],
    ) -> anyhow::Result<Proc> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let log = std::fs::File::create(dir.join(format!("{role}.log")))
            .with_context(|| format!("cannot create the log of {role}"))?;
        let mut command = Command::new(exe);
        // SAFETY: the closure runs in the child between fork and exec and only
        // calls prctl(2), which is async-signal-safe and touches no memory of
        // ours. It makes the kernel send SIGTERM to the child if the demo dies
        // without stopping it (kill -9), so no process outlives the demo.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = command
            .args(args)
            .env("RINGSIDE_DIR", rings)
            .env("RINGSIDE_RING_SLOTS", slots.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {role}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().context("no stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            role: role.to_string(),
            child,
            lines,
            stats: None,
        })
    }

    /// Waits for the `listening <addr>` line.
    pub fn address(&mut self) -> anyhow::Result<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !signals::stopping() {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening ") {
                        return addr.parse().context("bad address from a node");
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        bail!("{} exited at start ({status}); see its log", self.role);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("{} closed its output at start; see its log", self.role)
                }
            }
        }
        bail!("{} did not start in time", self.role)
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Asks the process to stop (SIGTERM).
    pub fn terminate(&self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
        // own child, not yet reaped, so it cannot name another process.
        unsafe {
            libc::kill(self.pid(), libc::SIGTERM);
        }
    }

    /// Waits up to `patience` for the process to exit (killing it after that)
    /// and keeps its last `stats` line.
    pub fn wait(&mut self, patience: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + patience;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                break self.child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at end of output; take what it has.
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(line) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            if let Some(json) = line.strip_prefix("stats ") {
                self.stats = serde_json::from_str(json).ok();
            }
        }
        Ok(status)
    }

    /// A counter of its `stats` line (0 if missing).
    pub fn stat(&self, key: &str) -> u64 {
        self.stats
            .as_ref()
            .and_then(|s| s[key].as_u64())
            .unwrap_or(0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let _ = self.wait(Duration::from_secs(3));
        }
    }
}
