//! `ringside run` under a service manager: READY=1 once the ring directory
//! exists, WATCHDOG=1 from the poll loop at half the watchdog period, pings
//! stopping while the loop is stalled (test-only fault switch), STOPPING=1 on
//! SIGTERM. The manager's notify socket is a loopback unix datagram socket.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{TempDir, start_sidecar_env};

/// Messages received until `deadline`, each with its arrival time.
fn receive_until(sock: &UnixDatagram, deadline: Instant) -> Vec<(Instant, String)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => out.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            )),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }
    out
}

fn pings(msgs: &[(Instant, String)]) -> Vec<Instant> {
    msgs.iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn notify_ready_watchdog_stall_and_stopping() {
    let dir = TempDir::new("notify");
    let ring_dir = dir.join("rings");
    let socket_path = dir.join("notify.sock");
    let stall = dir.join("stall");
    let sock = UnixDatagram::bind(&socket_path).unwrap();
    // 2 s watchdog: the sidecar pings every second.
    let watchdog_usec = "2000000";
    let mut sidecar = start_sidecar_env(
        &ring_dir,
        &dir.join("spool"),
        &dir.join("out.jsonl"),
        &dir.join("sidecar.log"),
        &[],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", watchdog_usec),
            ("RINGSIDE_FAULT_STALL_FILE", stall.to_str().unwrap()),
        ],
    );

    // READY=1 comes first, and only once the ring directory exists.
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let n = sock.recv(&mut buf).expect("a first notify message");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        first.lines().any(|l| l == "READY=1"),
        "first message is READY=1: {first:?}"
    );
    assert!(
        ring_dir.is_dir(),
        "ring directory exists when READY=1 is sent"
    );

    // Pings at half the period: never a gap that would trip the watchdog, and
    // not a flood either.
    let healthy = pings(&receive_until(
        &sock,
        Instant::now() + Duration::from_secs(5),
    ));
    assert!(
        healthy.len() >= 3,
        "at least 3 pings in 5 s, got {}",
        healthy.len()
    );
    for w in healthy.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap < Duration::from_secs(2),
            "ping gap {gap:?} exceeds WATCHDOG_USEC"
        );
        assert!(
            gap >= Duration::from_millis(300),
            "ping gap {gap:?}: pinging far more often than needed"
        );
    }

    // A stalled loop stops pinging: after the ping that may have been in
    // flight, nothing for well over the watchdog period.
    std::fs::write(&stall, b"").unwrap();
    let _in_flight = receive_until(&sock, Instant::now() + Duration::from_millis(1500));
    let stalled = pings(&receive_until(
        &sock,
        Instant::now() + Duration::from_secs(4),
    ));
    assert!(
        stalled.is_empty(),
        "{} pings while the loop was stalled",
        stalled.len()
    );

    // Unstalled, it pings again.
    std::fs::remove_file(&stall).unwrap();
    let resumed = pings(&receive_until(
        &sock,
        Instant::now() + Duration::from_secs(4),
    ));
    assert!(!resumed.is_empty(), "pings resume after the stall");

    // SIGTERM: STOPPING=1, then a clean exit.
    sidecar.signal(libc::SIGTERM);
    let after: Vec<String> = receive_until(&sock, Instant::now() + Duration::from_secs(10))
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert!(
        after.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "STOPPING=1 after SIGTERM: {after:?}"
    );
    let status = sidecar.wait(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
}
