//! Stop on SIGTERM or SIGINT: the handler only sets a flag, and every loop of
//! the demo's processes checks [`stopping`] often enough to exit within a
//! fraction of a second.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the handlers for SIGTERM and SIGINT.
pub fn install() -> std::io::Result<()> {
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(flag()))?;
    }
    Ok(())
}

/// True once a stop signal arrived (or [`request_stop`] was called).
pub fn stopping() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Asks every loop of this process to stop, as a signal would.
pub fn request_stop() {
    flag().store(true, Ordering::Relaxed);
}

/// Sleeps for `d` in short steps; returns false if a stop was asked meanwhile.
pub fn sleep(d: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if stopping() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(std::time::Duration::from_millis(50)));
    }
}
