//! Synthetic traces of a storage cluster, for benchmarks, tests and demos of
//! the analysis commands (`cargo bench --bench store` fills a store of 1M
//! spans with them).
//!
//! Each trace is a client request served by `gateway`: an `auth` check, then a
//! `mds lookup`, then reads fanned out to three `osd` replicas in parallel
//! (the slowest decides), each with a `disk read` inside, and a final
//! `checksum`. One replica in fifty is slow; one read in a hundred fails.
//! Deterministic for a given seed.

use std::sync::Arc;

use crate::batch::{Resource, SpanBatch};
use ringside::record::{Record, SpanKind, StatusCode, Value};

/// Spans per generated trace.
pub const SPANS_PER_TRACE: usize = 14;

/// A small fast PRNG (SplitMix64): deterministic test data, not security.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }
}

fn resource(service: &str, pid: u32) -> Arc<Resource> {
    Arc::new(Resource {
        service: service.into(),
        pid,
        host: format!("node{}", pid % 4),
        ring_id: u64::from(pid) * 7919,
        attributes: Vec::new(),
    })
}

/// Generates `traces` traces starting at `start_ns`, one every `gap_ns`, as
/// one batch per service.
pub fn traces(seed: u64, traces: usize, start_ns: u64, gap_ns: u64) -> Vec<SpanBatch> {
    let mut rng = Rng::new(seed);
    let gateway = resource("gateway", 100);
    let mds = resource("mds", 200);
    let osd = resource("osd", 300);
    let (mut g, mut m, mut o) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..traces {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        trace_id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        let mut next_span = {
            let base = rng.next_u64() | 1;
            let mut k = 0u64;
            move || {
                k += 1;
                base.wrapping_add(k).to_le_bytes()
            }
        };
        let t0 = start_ns + t as u64 * gap_ns;
        let root_id = next_span();
        let span =
            |name: &str, kind: SpanKind, id: [u8; 8], parent: Option<[u8; 8]>, s: u64, e: u64| {
                let mut r = Record::new(name);
                r.trace_id = trace_id;
                r.span_id = id;
                r.parent_span_id = parent.unwrap_or([0; 8]);
                r.kind = kind as u8;
                r.trace_flags = 1;
                r.start = s;
                r.end = e;
                r
            };
        // auth, then lookup, then the parallel reads, then checksum.
        let auth_end = t0 + rng.range(20_000, 60_000);
        let mut auth = span(
            "auth",
            SpanKind::Internal,
            next_span(),
            Some(root_id),
            t0 + 5_000,
            auth_end,
        );
        auth.set_status(StatusCode::Ok, "");
        g.push(auth);
        let lookup_id = next_span();
        let lookup_end = auth_end + rng.range(50_000, 200_000);
        g.push(span(
            "mds lookup",
            SpanKind::Client,
            lookup_id,
            Some(root_id),
            auth_end,
            lookup_end,
        ));
        let served = span(
            "lookup",
            SpanKind::Server,
            next_span(),
            Some(lookup_id),
            auth_end + 10_000,
            lookup_end - 10_000,
        );
        m.push(served);
        let mut reads_end = lookup_end;
        let mut failed = false;
        for replica in 0..3u64 {
            let slow = rng.range(0, 50) == 0;
            let len = if slow {
                rng.range(5_000_000, 30_000_000)
            } else {
                rng.range(200_000, 1_500_000)
            };
            let (s, e) = (
                lookup_end + 2_000 * replica,
                lookup_end + 2_000 * replica + len,
            );
            reads_end = reads_end.max(e);
            let client_id = next_span();
            let mut client = span("osd read", SpanKind::Client, client_id, Some(root_id), s, e);
            let node = format!("osd{}", (t as u64 + replica) % 6);
            client.push_attr("target.node", Value::Str(&node));
            let server_id = next_span();
            let mut server = span(
                "read",
                SpanKind::Server,
                server_id,
                Some(client_id),
                s + 20_000,
                e - 20_000,
            );
            server.push_attr("file.path", Value::Str(&format!("/pool/obj{}", t % 1000)));
            server.push_attr("bytes", Value::I64(4096 * (1 + (t as i64 % 16))));
            if rng.range(0, 100) == 0 {
                server.set_status(StatusCode::Error, "EIO");
                client.set_status(StatusCode::Error, "replica failed");
                failed = true;
            }
            let disk = span(
                "disk read",
                SpanKind::Internal,
                next_span(),
                Some(server_id),
                s + 40_000,
                e - 40_000,
            );
            o.push(server);
            o.push(disk);
            g.push(client);
        }
        let end = reads_end + rng.range(10_000, 50_000);
        g.push(span(
            "checksum",
            SpanKind::Internal,
            next_span(),
            Some(root_id),
            reads_end,
            end,
        ));
        let mut root = span(
            "GET /object",
            SpanKind::Server,
            root_id,
            None,
            t0,
            end + 5_000,
        );
        root.push_attr("http.method", Value::Str("GET"));
        if failed {
            root.set_status(StatusCode::Error, "read failed");
        }
        g.push(root);
    }
    vec![
        SpanBatch {
            resource: gateway,
            records: g,
        },
        SpanBatch {
            resource: mds,
            records: m,
        },
        SpanBatch {
            resource: osd,
            records: o,
        },
    ]
}
