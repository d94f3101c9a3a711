//! The store the bench drives, built in the bench's process with the tracing
//! of the mode under test: over loopback sockets (HTTP gateway, storage RPC,
//! chunk files) or as an in-process loop (no network, chunks in memory); and
//! one client request against it.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use ringside::trace::storage::FileOp;

use super::model::Target;
use super::tracings::Tracings;
use crate::data::{Chunks, DataNode, Faults};
use crate::gateway::Gateway;
use crate::http;
use crate::instrument::Tracing;
use crate::link::{self, Handler, Link, LocalLink, TcpLink};
use crate::metadata::Metadata;

/// The store under test and how clients reach it.
pub struct FileStore {
    gateway: Arc<Gateway>,
    /// The gateway's HTTP address (store target only).
    http: Option<SocketAddr>,
}

impl FileStore {
    /// Builds the store for `target` with the tracings `t`.
    pub fn build(
        target: Target,
        t: &Tracings,
        dir: &Path,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<FileStore> {
        let metadata: Arc<dyn Handler> = Arc::new(Metadata::new(t.metadata.clone(), 3));
        let mut nodes: Vec<Arc<dyn Handler>> = Vec::new();
        for (i, tracing) in t.data.iter().enumerate() {
            let id = i as u32 + 1;
            let chunks = match target {
                Target::Loop => Chunks::Memory(Default::default()),
                _ => Chunks::Disk(dir.join(format!("node-{id}"))),
            };
            nodes.push(Arc::new(DataNode::new(
                id,
                tracing.clone(),
                chunks,
                Faults::default(),
            )?));
        }
        let link_to = |handler: &Arc<dyn Handler>| -> anyhow::Result<Box<dyn Link>> {
            if target == Target::Loop {
                let addr: SocketAddr = "127.0.0.1:1".parse()?;
                return Ok(Box::new(LocalLink {
                    addr,
                    handler: Arc::clone(handler),
                }));
            }
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            link::serve(listener, Arc::clone(handler));
            Ok(Box::new(TcpLink::new(addr)))
        };
        let meta = link_to(&metadata)?;
        let data = nodes.iter().map(link_to).collect::<anyhow::Result<_>>()?;
        let gateway = Arc::new(Gateway::new(t.gateway.clone(), Some(meta), data));
        let http = if target == Target::Loop {
            None
        } else {
            let server = http::bind("127.0.0.1:0")?;
            let addr = server
                .server_addr()
                .to_ip()
                .context("HTTP server not on IP")?;
            let gw = Arc::clone(&gateway);
            std::thread::spawn(move || {
                http::serve_until(server, gw, Arc::new(move || stop.load(Ordering::Relaxed)))
            });
            Some(addr)
        };
        Ok(FileStore { gateway, http })
    }
}

/// Where the loop target's transfer spans say the nodes are.
const LOOP_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    1,
));

/// One client request under its root span: over HTTP to the gateway (store)
/// or a call of the gateway's storage logic (loop). True if it succeeded.
pub fn request(
    store: &FileStore,
    client: &Tracing,
    agent: &ureq::Agent,
    op: FileOp,
    path: &str,
    content: &[u8],
) -> bool {
    let method = if op == FileOp::Write { "PUT" } else { "GET" };
    let mut span = client.client_request(method, path, store.http.unwrap_or(LOOP_ADDR));
    let ctx = span.context();
    let body = if op == FileOp::Write { content } else { &[] };
    let status = match store.http {
        None => match store
            .gateway
            .file_op(Some(&ctx), false, op, path, body, "bench")
        {
            Ok((status, _)) => status,
            Err(f) => f.status,
        },
        Some(addr) => {
            let url = format!("http://{addr}/files{path}");
            let mut headers: Vec<(&'static str, String)> = Vec::new();
            ringside::trace::propagation::inject(&ctx, |k, v| headers.push((k, v.to_string())));
            let result = if op == FileOp::Write {
                let mut req = agent.put(&url);
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.send(body)
            } else {
                let mut req = agent.get(&url);
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.call()
            };
            result.map_or(0, |mut r| {
                let _ = r.body_mut().read_to_vec();
                r.status().as_u16()
            })
        }
    };
    span.set_http_status(status);
    let ok = (200..300).contains(&status);
    if !ok {
        span.fail("http", "request failed");
    }
    span.end();
    ok
}
