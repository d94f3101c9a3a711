//! CPU time of the bench's process and of the threads that stand in for the
//! sidecar, read at round boundaries so each round's CPU goes to its mode.
//!
//! The store, the clients and the tracers all run in the bench's process; the
//! sidecar's stand-ins are threads with known names (the ring drain, and the
//! OTLP receiver with every thread it starts, which inherit its name). The
//! traced side's CPU is the process's minus those threads'. Thread times come
//! from `/proc/self/task/*/schedstat` (nanoseconds); where that is missing,
//! the sidecar reads as zero.

use std::path::Path;

/// Name of the thread that drains the rings (ringside's sidecar).
pub const DRAIN_THREAD: &str = "bench-drain";
/// Name of the OTLP receiver's threads (the OpenTelemetry collector's place).
pub const RECEIVER_THREAD: &str = "bench-receiver";

/// CPU time consumed so far, nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// The whole process, every thread, including threads that have exited.
    pub process: u64,
    /// The ring drain thread.
    pub drain: u64,
    /// The OTLP receiver's threads.
    pub receiver: u64,
    /// Every CPU of the machine, every process (`/proc/stat`, 10 ms ticks):
    /// with `process`, how much the rest of the machine was busy.
    pub machine: u64,
    /// CPUs of the machine (`cpuN` lines of `/proc/stat`; 0 where unknown).
    pub cpus: u32,
}

impl CpuTimes {
    /// Reads the clocks now.
    pub fn now() -> CpuTimes {
        let (machine, cpus) = machine_cpu_ns().unwrap_or((0, 0));
        let mut t = CpuTimes {
            process: process_cpu_ns(),
            machine,
            cpus,
            ..CpuTimes::default()
        };
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return t;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            let slot = match comm.trim_end() {
                DRAIN_THREAD => &mut t.drain,
                RECEIVER_THREAD => &mut t.receiver,
                _ => continue,
            };
            *slot += thread_cpu_ns(&dir).unwrap_or(0);
        }
        t
    }

    /// What was consumed from `earlier` to `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            process: self.process.saturating_sub(earlier.process),
            drain: self.drain.saturating_sub(earlier.drain),
            receiver: self.receiver.saturating_sub(earlier.receiver),
            machine: self.machine.saturating_sub(earlier.machine),
            cpus: self.cpus,
        }
    }

    /// CPU time of the machine's other processes (zero where unknown).
    pub fn others(&self) -> u64 {
        self.machine.saturating_sub(self.process)
    }

    /// The traced side: the process without the sidecar's stand-ins.
    pub fn traced(&self) -> u64 {
        self.process
            .saturating_sub(self.drain)
            .saturating_sub(self.receiver)
    }
}

/// Busy time of all CPUs from the first line of `/proc/stat` (user, nice,
/// system, irq, softirq, steal; not idle or iowait), nanoseconds, and the
/// number of CPUs.
fn machine_cpu_ns() -> Option<(u64, u32)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u32;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| fields.get(i).copied().unwrap_or(0))
        .sum();
    // SAFETY: sysconf only reads a configuration value; _SC_CLK_TCK is
    // defined on every POSIX system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (busy * (1_000_000_000 / hz as u64), cpus))
}

/// The first field of a task's `schedstat`: time on CPU, nanoseconds.
fn thread_cpu_ns(task: &Path) -> Option<u64> {
    std::fs::read_to_string(task.join("schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `CLOCK_PROCESS_CPUTIME_ID`: CPU time of every thread of the process, the
/// exited ones included, nanoseconds.
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call, and CLOCK_PROCESS_CPUTIME_ID is a clock every POSIX system has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
