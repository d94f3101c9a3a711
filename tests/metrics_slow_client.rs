//! `/metrics` under slow and greedy clients: a client sending one byte now
//! and then holds neither the endpoint nor its connection past the time
//! limit, scrapes are answered meanwhile, and connections beyond the cap get
//! 503 at once instead of queueing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_agent::sidecar::metrics::{CLIENT_TIMEOUT, MAX_CONNECTIONS, MetricsServer};

fn server() -> MetricsServer {
    MetricsServer::start(
        "127.0.0.1:0",
        Arc::new(|e| e.gauge("ringside_test_up", "Test gauge.", &[], 1.0)),
        Arc::new(|| Ok(())),
    )
    .expect("bind")
}

/// GET `path`; the status code and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Sends a request head one byte at a time, `every` apart, never ending it,
/// until the server closes the connection or `give_up` passes. Returns how
/// long the server kept it.
fn dribble(addr: SocketAddr, every: Duration, give_up: Duration) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    let start = Instant::now();
    let bytes = b"GET /metrics HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    for b in bytes {
        if start.elapsed() > give_up || s.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(every);
        // A closed connection shows as a read of 0 or an error.
        s.set_nonblocking(true).unwrap();
        let closed = match s.read(&mut [0u8; 64]) {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        };
        s.set_nonblocking(false).unwrap();
        if closed {
            break;
        }
    }
    start.elapsed()
}

#[test]
fn a_slow_client_holds_neither_the_endpoint_nor_its_connection() {
    let server = server();
    let addr = server.local_addr();
    // Only a backstop: the server's limit is a tenth of it.
    let give_up = CLIENT_TIMEOUT * 10;
    let slow: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || dribble(addr, Duration::from_millis(50), give_up)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Scrapes are answered while the slow clients dribble.
    for _ in 0..5 {
        let (status, text) = get(addr, "/metrics");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("ringside_test_up 1"), "{text}");
        assert_eq!(get(addr, "/healthz").0, 200);
    }
    // Each slow client is cut off by the time limit, not served forever.
    for t in slow {
        let held = t.join().unwrap();
        assert!(held < give_up, "a slow client was kept {held:?}");
    }
    server.stop();
}

#[test]
fn connections_beyond_the_cap_get_503_at_once() {
    let server = server();
    let addr = server.local_addr();
    // Idle connections that send nothing fill every slot.
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Connecting is enough: the answer comes without a request.
    let mut extra = TcpStream::connect(addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut text = String::new();
    extra.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("too many connections"), "{text}");
    drop(idle);
    // Once they are gone (closed by the clients), scrapes work again.
    let mut status = 0;
    for _ in 0..100 {
        status = get(addr, "/metrics").0;
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 200);
    server.stop();
}
