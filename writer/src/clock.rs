//! Span timestamps: the cheapest monotonic tick source on the machine, and the
//! conversion of ticks to Unix nanoseconds, done by the reader.
//!
//! Writers pay for one tick read per timestamp: `rdtsc` where the TSC is
//! invariant (constant rate, does not stop in idle states) and the kernel itself
//! trusts it as its clocksource, otherwise `CLOCK_MONOTONIC` through the vDSO
//! (no syscall). `RINGSIDE_CLOCK=monotonic` forces the latter.
//!
//! Each ring header carries a [`Calibration`]: the source, an anchor pair (ticks
//! and Unix time read together at ring creation), a quick rate estimate and the
//! boot id. The sidecar reads the same machine-wide counter, so for rings of the
//! current boot it converts with its own [`TickConverter`], which refines the
//! rate over a long baseline and re-anchors to `CLOCK_REALTIME` every second;
//! the header's calibration is the fallback for rings from another source.

use std::sync::atomic::{AtomicU8, Ordering};

/// Which counter the ticks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Source {
    /// The x86 time-stamp counter.
    Tsc = 1,
    /// `CLOCK_MONOTONIC` in nanoseconds.
    Monotonic = 2,
}

impl Source {
    /// Decodes the header value.
    pub fn from_u32(v: u32) -> Option<Source> {
        match v {
            1 => Some(Source::Tsc),
            2 => Some(Source::Monotonic),
            _ => None,
        }
    }
}

/// 0 = not chosen yet, else `Source as u8`.
static SOURCE: AtomicU8 = AtomicU8::new(0);

/// The tick source of this process, chosen on first use.
#[inline]
pub fn source() -> Source {
    match SOURCE.load(Ordering::Relaxed) {
        1 => Source::Tsc,
        2 => Source::Monotonic,
        _ => choose_source(),
    }
}

#[cold]
fn choose_source() -> Source {
    let forced = std::env::var("RINGSIDE_CLOCK").ok();
    let chosen = match forced.as_deref() {
        Some("monotonic") => Source::Monotonic,
        Some("tsc") if tsc_available() => Source::Tsc,
        _ if tsc_trusted() => Source::Tsc,
        _ => Source::Monotonic,
    };
    SOURCE.store(chosen as u8, Ordering::Relaxed);
    chosen
}

/// The CPU has a TSC that runs at a constant rate in every power state.
#[cfg(target_arch = "x86_64")]
fn tsc_available() -> bool {
    // CPUID leaf 0x8000_0007, EDX bit 8: invariant TSC.
    let max_ext = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    if max_ext < 0x8000_0007 {
        return false;
    }
    let edx = std::arch::x86_64::__cpuid(0x8000_0007).edx;
    edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_available() -> bool {
    false
}

/// Invariant TSC and the kernel uses it as its own clocksource (so it is also
/// synchronized across CPUs; the kernel checks that before choosing it).
fn tsc_trusted() -> bool {
    tsc_available()
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .map(|s| s.trim() == "tsc")
        .unwrap_or(false)
}

/// The current tick count of this process's source.
#[inline(always)]
pub fn now() -> u64 {
    match source() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `rdtsc` has no preconditions; the source is only Tsc on x86_64.
        Source::Tsc => unsafe { std::arch::x86_64::_rdtsc() },
        _ => monotonic_ns(),
    }
}

fn read_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are always
    // available on Linux.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub fn monotonic_ns() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
pub fn unix_ns() -> u64 {
    read_clock(libc::CLOCK_REALTIME)
}

/// `CLOCK_MONOTONIC_RAW`: not slewed by NTP, the right base to measure a rate.
fn monotonic_raw_ns() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC_RAW)
}

/// Ticks and another clock read as close together as possible: the smallest of
/// a few bracketed attempts.
fn pair(other: impl Fn() -> u64) -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..5 {
        let t0 = now();
        let o = other();
        let t1 = now();
        let width = t1.wrapping_sub(t0);
        if width < best.0 {
            best = (width, t0 + width / 2, o);
        }
    }
    (best.1, best.2)
}

/// The calibration written into each ring header (64 bytes, plain data).
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Calibration {
    /// [`Source`] as a number.
    pub source: u32,
    /// Zero.
    pub reserved: u32,
    /// Ticks per second (an estimate over a short interval for the TSC).
    pub tick_hz: u64,
    /// A tick count...
    pub anchor_ticks: u64,
    /// ...and the Unix time read together with it.
    pub anchor_unix_ns: u64,
    /// `/proc/sys/kernel/random/boot_id` as 16 bytes: ticks of another boot
    /// cannot be converted with this boot's counter.
    pub boot_id: [u8; 16],
    /// Zero.
    pub reserved2: [u8; 16],
}

impl Calibration {
    /// Measures the current source. Costs about 2 ms for the TSC (the rate is
    /// estimated over that interval), a few microseconds otherwise.
    pub fn measure() -> Calibration {
        let (anchor_ticks, anchor_unix_ns) = pair(unix_ns);
        let tick_hz = match source() {
            Source::Monotonic => 1_000_000_000,
            Source::Tsc => {
                let (t0, m0) = pair(monotonic_raw_ns);
                std::thread::sleep(std::time::Duration::from_millis(2));
                let (t1, m1) = pair(monotonic_raw_ns);
                rate(t1 - t0, m1 - m0)
            }
        };
        Calibration {
            source: source() as u32,
            reserved: 0,
            tick_hz,
            anchor_ticks,
            anchor_unix_ns,
            boot_id: boot_id(),
            reserved2: [0; 16],
        }
    }

    /// Unix nanoseconds of `ticks` by this calibration alone.
    pub fn to_unix_ns(&self, ticks: u64) -> u64 {
        convert(ticks, self.anchor_ticks, self.anchor_unix_ns, self.tick_hz)
    }
}

/// Ticks per second from `ticks` counted over `ns` nanoseconds.
fn rate(ticks: u64, ns: u64) -> u64 {
    if ns == 0 {
        return 1_000_000_000;
    }
    ((ticks as u128 * 1_000_000_000) / ns as u128).max(1) as u64
}

/// `anchor_ns + (ticks - anchor_ticks) / hz`, in either direction, saturating.
fn convert(ticks: u64, anchor_ticks: u64, anchor_ns: u64, hz: u64) -> u64 {
    let hz = hz.max(1) as i128;
    let delta = ticks as i128 - anchor_ticks as i128;
    let ns = anchor_ns as i128 + delta * 1_000_000_000 / hz;
    ns.clamp(0, u64::MAX as i128) as u64
}

/// This boot's id, or zeros if it cannot be read.
pub fn boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        let digits: Vec<u8> = s
            .bytes()
            .filter_map(|c| (c as char).to_digit(16))
            .map(|d| d as u8)
            .collect();
        if digits.len() == 32 {
            for (i, pair) in digits.chunks_exact(2).enumerate() {
                id[i] = (pair[0] << 4) | pair[1];
            }
        }
    }
    id
}

/// The reader's conversion of ticks to Unix nanoseconds for rings of this boot
/// and source. Call [`TickConverter::refresh`] now and then (the sidecar does it
/// every poll loop turn; it re-anchors at most once a second).
#[derive(Debug, Clone)]
pub struct TickConverter {
    source: Source,
    boot_id: [u8; 16],
    /// Start of the rate baseline: ticks and `CLOCK_MONOTONIC_RAW`.
    base: (u64, u64),
    hz: u64,
    /// Latest anchor: ticks and Unix time.
    anchor: (u64, u64),
    anchored_at_raw: u64,
}

impl TickConverter {
    /// Calibrates against the current source (about 20 ms for the TSC).
    pub fn new() -> TickConverter {
        let base = pair(monotonic_raw_ns);
        let hz = match source() {
            Source::Monotonic => 1_000_000_000,
            Source::Tsc => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let (t, m) = pair(monotonic_raw_ns);
                rate(t - base.0, m - base.1)
            }
        };
        let anchor = pair(unix_ns);
        TickConverter {
            source: source(),
            boot_id: boot_id(),
            base,
            hz,
            anchor,
            anchored_at_raw: monotonic_raw_ns(),
        }
    }

    /// Re-anchors to `CLOCK_REALTIME` and refines the rate if a second passed.
    pub fn refresh(&mut self) {
        let raw = monotonic_raw_ns();
        if raw.saturating_sub(self.anchored_at_raw) < 1_000_000_000 {
            return;
        }
        if self.source == Source::Tsc {
            let (t, m) = pair(monotonic_raw_ns);
            self.hz = rate(t - self.base.0, m - self.base.1);
        }
        self.anchor = pair(unix_ns);
        self.anchored_at_raw = raw;
    }

    /// Ticks per second currently assumed.
    pub fn tick_hz(&self) -> u64 {
        self.hz
    }

    /// Unix nanoseconds of `ticks` read from a ring with calibration `cal`.
    pub fn to_unix_ns(&self, cal: &Calibration, ticks: u64) -> u64 {
        if cal.source == self.source as u32 && cal.boot_id == self.boot_id {
            convert(ticks, self.anchor.0, self.anchor.1, self.hz)
        } else {
            cal.to_unix_ns(ticks)
        }
    }
}

impl Default for TickConverter {
    fn default() -> Self {
        TickConverter::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_monotonic_per_thread() {
        let mut last = now();
        for _ in 0..100_000 {
            let t = now();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn converted_time_tracks_realtime() {
        let conv = TickConverter::new();
        let cal = Calibration::measure();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let (t, real) = pair(unix_ns);
        let by_reader = conv.to_unix_ns(&cal, t) as i64;
        let by_header = cal.to_unix_ns(t) as i64;
        // Loose bounds: a busy machine may preempt between reads. The drift
        // figure that matters is measured by `ringside clock`, not asserted here.
        assert!(
            (by_reader - real as i64).abs() < 2_000_000,
            "{by_reader} vs {real}"
        );
        assert!(
            (by_header - real as i64).abs() < 5_000_000,
            "{by_header} vs {real}"
        );
    }

    #[test]
    fn conversion_saturates_and_goes_both_ways() {
        assert_eq!(convert(100, 200, 1_000, 1_000_000_000), 900);
        assert_eq!(convert(0, 200, 100, 1), 0);
        assert_eq!(convert(300, 200, 0, 2_000_000_000), 50);
    }
}
