//! One mode's store kept ready for the whole run ([`Stand`]), and one round:
//! the clients driving a stand at the offered rate for a round's length.
//!
//! K clients share the rate; each has a schedule (client `c` sends its `n`-th
//! request at `start + (n + c / K) * K / rate`) and a request's latency is
//! counted from its scheduled time, not from when it was sent: a stall delays
//! the requests behind it and they are counted as late, which corrects for
//! coordinated omission. A round ends when every request scheduled in it has
//! been answered, so a backlog never spills into the next mode's round.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringside::trace::storage::FileOp;

use super::cpu::CpuTimes;
use super::drain::drain_rings;
use super::model::{Mode, Round, SATURATION_SHORTFALL, Target};
use super::store::{FileStore, request};
use super::tracings::Tracings;

/// One mode's store with its tracings (and ring drain), built once and
/// driven in every round of that mode.
pub struct Stand {
    /// The tracing mode.
    pub mode: Mode,
    tracings: Tracings,
    store: FileStore,
    stop: Arc<AtomicBool>,
    drain: Option<JoinHandle<u64>>,
}

impl Stand {
    /// Builds the store for `target` with `mode`'s tracing; rings and chunk
    /// files go under `dir`.
    pub fn build(target: Target, mode: Mode, dir: &Path) -> anyhow::Result<Stand> {
        let rings = dir.join("rings");
        std::fs::create_dir_all(&rings)?;
        let tracings = Tracings::new(mode, &rings)?;
        let stop = Arc::new(AtomicBool::new(false));
        let drain = match mode {
            Mode::Ringside => Some(drain_rings(rings, Arc::clone(&stop))?),
            _ => None,
        };
        let store = FileStore::build(target, &tracings, dir, Arc::clone(&stop))?;
        Ok(Stand {
            mode,
            tracings,
            store,
            stop,
            drain,
        })
    }

    /// Stops the store and the tracers: the spans that arrived, and those
    /// lost on the way.
    pub fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let drained = self.drain.map_or(0, |d| d.join().unwrap_or(0));
        self.tracings.finish(self.mode, drained)
    }
}

/// What the clients of one round saw.
pub struct Outcome {
    /// Latencies, nanoseconds from each request's scheduled time.
    pub hist: Histogram<u64>,
    /// Requests that failed.
    pub errors: u64,
    /// Seconds from the round's start to its last answer.
    pub busy_s: f64,
    /// CPU time over the round.
    pub cpu: CpuTimes,
    /// Seconds between the two CPU readings.
    pub wall_s: f64,
}

/// The load of a round.
pub struct Load<'a> {
    /// Requests per second, all clients together.
    pub rate: u32,
    /// One HTTP agent per client, kept across rounds (connections stay open).
    pub agents: &'a [ureq::Agent],
    /// The content of written files.
    pub content: &'a [u8],
}

/// Drives `stand` for `length` at the load's rate.
pub fn drive(stand: &Stand, load: &Load<'_>, length: Duration) -> anyhow::Result<Outcome> {
    let clients = load.agents.len() as u32;
    let interval = Duration::from_secs_f64(f64::from(clients) / f64::from(load.rate));
    let cpu_before = CpuTimes::now();
    let wall = Instant::now();
    let start = Instant::now() + Duration::from_millis(2);
    let end = start + length;
    let mut total = new_histogram()?;
    let mut errors = 0;
    let mut last = start;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = load
            .agents
            .iter()
            .enumerate()
            .map(|(c, agent)| {
                s.spawn(move || -> anyhow::Result<(Histogram<u64>, u64, Instant)> {
                    let mut hist = new_histogram()?;
                    let mut errors = 0;
                    let mut last = start;
                    let offset = interval.mul_f64(c as f64 / f64::from(clients));
                    for n in 0u64.. {
                        let due = start + offset + interval.mul_f64(n as f64);
                        if due >= end {
                            break;
                        }
                        wait_until(due);
                        let op = if n % 2 == 0 {
                            FileOp::Write
                        } else {
                            FileOp::Read
                        };
                        let path = format!("/c{c}/f{}", (n / 2) % 16);
                        let client = &stand.tracings.client;
                        if !request(&stand.store, client, agent, op, &path, load.content) {
                            errors += 1;
                        }
                        last = Instant::now();
                        let ns = (last - due).as_nanos().min(u128::from(u64::MAX)) as u64;
                        hist.saturating_record(ns.max(1_000));
                    }
                    Ok((hist, errors, last))
                })
            })
            .collect();
        for h in handles {
            let (hist, e, l) = h
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
            total.add(&hist)?;
            errors += e;
            last = last.max(l);
        }
        Ok(())
    })?;
    Ok(Outcome {
        hist: total,
        errors,
        busy_s: (last - start).as_secs_f64(),
        cpu: CpuTimes::now().since(&cpu_before),
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

impl Outcome {
    /// The round's record: round `index` of the target's sequence, started
    /// `start_s` after the first, `length` seconds long at `rate` requests per
    /// second.
    pub fn round(
        &self,
        index: usize,
        (target, mode): (Target, Mode),
        start_s: f64,
        length: f64,
        rate: u32,
    ) -> Round {
        let requests = self.hist.len();
        let us = |ns: u64| ns as f64 / 1000.0;
        let achieved_rate = requests as f64 / self.busy_s.max(length);
        let per_req = |ns: u64| us(ns) / requests.max(1) as f64;
        let sidecar = match mode {
            Mode::Ringside => self.cpu.drain,
            Mode::Otel => self.cpu.receiver,
            Mode::Off => 0,
        };
        Round {
            index,
            target,
            mode,
            start_s,
            requests,
            errors: self.errors,
            achieved_rate,
            saturated: achieved_rate < f64::from(rate) * (1.0 - SATURATION_SHORTFALL),
            p50_us: us(self.hist.value_at_quantile(0.5)),
            p99_us: us(self.hist.value_at_quantile(0.99)),
            p999_us: us(self.hist.value_at_quantile(0.999)),
            max_us: us(self.hist.max()),
            traced_cpu_us_per_req: per_req(self.cpu.traced()),
            sidecar_cpu_us_per_req: per_req(sidecar),
            other_cpu_cores: self.cpu.others() as f64 / 1e9 / self.wall_s.max(1e-9),
            machine_busy: if self.cpu.cpus == 0 {
                0.0
            } else {
                self.cpu.machine as f64 / 1e9 / self.wall_s.max(1e-9) / f64::from(self.cpu.cpus)
            },
            p50_overhead_pct: None,
            p99_overhead_pct: None,
            traced_cpu_overhead_us_per_req: None,
        }
    }
}

/// A latency histogram from 1 us to 60 s, three significant digits.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1_000, 60_000_000_000, 3)?)
}

/// Sleeps until shortly before `due`, then yields until it: a sleep alone
/// wakes up tens of microseconds late, which would count as latency.
fn wait_until(due: Instant) {
    const SPIN: Duration = Duration::from_micros(200);
    let now = Instant::now();
    if due > now + SPIN {
        std::thread::sleep(due - now - SPIN);
    }
    while Instant::now() < due {
        std::thread::yield_now();
    }
}
