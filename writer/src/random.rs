//! Random bits without a syscall per call: a per-thread wyrand generator,
//! seeded once per thread from the kernel's random source. Span, trace and
//! ring ids come from here.

use std::cell::Cell;

thread_local! {
    /// wyrand state; 0 means "not seeded yet".
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// Next 64 random bits of this thread's generator.
#[inline]
pub(crate) fn next_u64() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = seed();
        }
        // wyrand (Wang Yi): one add and one 128-bit multiply per output.
        x = x.wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A seed from getrandom(2); falls back to time and thread address if the call
/// fails (ids stay unique enough, and tracing never fails for want of entropy).
#[cold]
fn seed() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    let mut seed = u64::from_ne_bytes(buf);
    if n != buf.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        seed ^= t ^ (&buf as *const _ as u64).rotate_left(32);
    }
    seed | 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_differ_across_threads_and_calls() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(super::next_u64()));
        }
        let other = std::thread::spawn(|| (0..1000).map(|_| super::next_u64()).collect::<Vec<_>>())
            .join()
            .unwrap();
        for v in other {
            assert!(seen.insert(v));
        }
    }
}
