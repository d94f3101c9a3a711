use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use super::*;

/// A parsed sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Sends `request` to `addr` and returns (status code, body).
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

/// Checks a page against the text format: every line a `# HELP`, `# TYPE` or
/// a sample `name{labels} value`; each family's HELP and TYPE once, before
/// its samples, and its samples together. Returns the samples.
fn parse_page(page: &str) -> Vec<Sample> {
    let mut typed: HashSet<String> = HashSet::new();
    let mut current = String::new();
    let mut samples = Vec::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!typed.contains(name), "family {name} repeated");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(matches!(kind, "counter" | "gauge"), "{line}");
            assert!(typed.insert(name.to_string()), "family {name} repeated");
            current = name.to_string();
        } else {
            let (series, value) = line.rsplit_once(' ').expect(line);
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value of {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), Vec::new()),
                Some((name, rest)) => (
                    name.to_string(),
                    parse_labels(rest.strip_suffix('}').expect(line)),
                ),
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{line}"
            );
            assert_eq!(name, current, "sample outside its family: {line}");
            samples.push((name, labels, value));
        }
    }
    samples
}

/// `k="v",k="v"` with escapes undone.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{text}");
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated value") {
                '"' => break,
                '\\' => match chars.next().unwrap() {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                '\n' => panic!("raw line feed in a value"),
                c => value.push(c),
            }
        }
        out.push((key, value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

#[test]
fn families_are_grouped_and_values_escaped() {
    let mut e = Exposition::new();
    e.counter("a_total", "First.", &[("x", "1")], 1);
    e.gauge("b", "Second\\ with\nnewline.", &[], 2.5);
    e.counter(
        "a_total",
        "First.",
        &[("x", "quote \" back \\ nl \n end")],
        3,
    );
    e.gauge("c", "Inf.", &[], f64::INFINITY);
    let page = e.finish();
    let samples = parse_page(&page);
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[0].0, "a_total");
    assert_eq!(samples[1].0, "a_total", "a later sample joins its family");
    assert_eq!(
        samples[1].1,
        vec![("x".to_string(), "quote \" back \\ nl \n end".to_string())]
    );
    assert_eq!(samples[2].2, 2.5);
    assert!(page.contains("# HELP b Second\\\\ with\\nnewline.\n"));
    assert!(page.contains("c +Inf\n"));
}

#[test]
fn invalid_names_are_made_valid() {
    let mut e = Exposition::new();
    e.counter("9bad-name", "x", &[("bad label", "v")], 1);
    let page = e.finish();
    let samples = parse_page(&page);
    assert_eq!(samples[0].0, "_9bad_name");
    assert_eq!(samples[0].1[0].0, "bad_label");
}

fn start(healthy: Arc<Mutex<Result<(), String>>>) -> MetricsServer {
    let hits = Arc::new(AtomicU64::new(0));
    let collect: Collect = Arc::new(move |e: &mut Exposition| {
        let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
        e.counter("ringside_scrapes_total", "Scrapes.", &[], n);
        e.gauge(
            "ringside_queue_depth",
            "Depth.",
            &[("exporter", "otlp")],
            7.0,
        );
        let mut stats = SamplerStats::default();
        stats.counts.kept[Reason::TailError as usize] = 3;
        stats.counts.dropped[Reason::HeadRatio as usize] = 5;
        expose_sampler(e, &stats);
    });
    let health: Health = Arc::new(move || healthy.lock().unwrap().clone());
    MetricsServer::start("127.0.0.1:0", collect, health).unwrap()
}

#[test]
fn serves_metrics_over_loopback() {
    let server = start(Arc::new(Mutex::new(Ok(()))));
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    let samples = parse_page(&body);
    let find = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|s| s.2)
    };
    assert_eq!(find("ringside_scrapes_total", &[]), Some(1.0));
    assert_eq!(
        find("ringside_queue_depth", &[("exporter", "otlp")]),
        Some(7.0)
    );
    assert_eq!(
        find(
            "ringside_sampled_spans_total",
            &[("decision", "kept"), ("reason", "tail_error")]
        ),
        Some(3.0)
    );
    assert_eq!(
        find(
            "ringside_sampled_spans_total",
            &[("decision", "dropped"), ("reason", "head_ratio")]
        ),
        Some(5.0)
    );
    assert_eq!(
        samples
            .iter()
            .filter(|s| s.0 == "ringside_sampled_spans_total")
            .count(),
        16
    );
    // Every scrape collects afresh.
    let (_, body) = get(addr, "/metrics");
    assert!(body.contains("ringside_scrapes_total 2\n"));
    server.stop();
}

#[test]
fn healthz_follows_the_callback() {
    let healthy = Arc::new(Mutex::new(Ok(())));
    let server = start(healthy.clone());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/healthz"), (200, "ok\n".to_string()));
    *healthy.lock().unwrap() = Err("spool full".into());
    assert_eq!(get(addr, "/healthz"), (503, "spool full\n".to_string()));
    server.stop();
}

#[test]
fn other_paths_and_methods_are_refused() {
    let server = start(Arc::new(Mutex::new(Ok(()))));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/nope").0, 404);
    assert_eq!(
        http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0,
        405
    );
    let (status, body) = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    // A client that connects and says nothing does not stop the server for
    // good: it is dropped after the client timeout and the next one is served.
    let idle = TcpStream::connect(addr).unwrap();
    assert_eq!(get(addr, "/healthz").0, 200);
    drop(idle);
    server.stop();
}

#[test]
fn refused_bind_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = MetricsServer::start(
        &addr,
        Arc::new(|_: &mut Exposition| {}),
        Arc::new(|| Ok(())),
    )
    .unwrap_err();
    assert!(err.to_string().contains(&addr), "{err}");
    let err = MetricsServer::start(
        "not an address",
        Arc::new(|_: &mut Exposition| {}),
        Arc::new(|| Ok(())),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not an address"), "{err}");
}

#[test]
fn stop_frees_the_port() {
    let server = start(Arc::new(Mutex::new(Ok(()))));
    let addr = server.local_addr();
    server.stop();
    assert!(std::net::TcpListener::bind(addr).is_ok());
}
