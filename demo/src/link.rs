//! How nodes reach each other: over TCP ([`TcpLink`], with a small connection
//! pool, and [`serve`] on the other end), or in-process ([`LocalLink`], for the
//! bench's loop without network). Both carry the same frames to the same
//! handlers.

use std::io::{self, BufReader, BufWriter};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ringside::trace::SpanContext;
use ringside::trace::propagation::ExtractError;

use super::instrument::OpSpan;
use super::rpc;

/// A node's request handler: one request frame in, one response frame out.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request frame (without its length prefix).
    fn handle(&self, frame: &[u8]) -> Vec<u8>;
}

/// One way to reach a node.
pub trait Link: Send + Sync {
    /// The node's address (for the transfer span).
    fn peer(&self) -> SocketAddr;
    /// Sends a finished request frame and reads the response frame (without
    /// its length prefix) into `reply`.
    fn call(&self, frame: &[u8], reply: &mut Vec<u8>) -> io::Result<()>;
}

/// Counters every node keeps and reports when it stops.
#[derive(Default)]
pub struct NodeStats {
    /// Requests handled.
    pub requests: AtomicU64,
    /// Requests whose trace context was present but invalid.
    pub invalid_contexts: AtomicU64,
}

impl NodeStats {
    /// The parent for a server span from a request's context: counts an
    /// invalid context and reports it, so the span can be marked.
    pub fn parent<'c>(
        &self,
        context: &'c Result<Option<SpanContext>, ExtractError>,
    ) -> (Option<&'c SpanContext>, bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match context {
            Ok(parent) => (parent.as_ref(), false),
            Err(ExtractError::Missing) => (None, false),
            Err(_) => {
                self.invalid_contexts.fetch_add(1, Ordering::Relaxed);
                (None, true)
            }
        }
    }

    /// Marks `span` if its context was invalid.
    pub fn mark(span: &mut OpSpan<'_>, invalid: bool) {
        if invalid {
            span.mark_invalid_context();
        }
    }
}

/// A node reached over TCP; connections are reused one request at a time.
pub struct TcpLink {
    addr: SocketAddr,
    idle: Mutex<Vec<TcpStream>>,
}

impl TcpLink {
    /// A link to `addr`; connects on first use.
    pub fn new(addr: SocketAddr) -> TcpLink {
        TcpLink {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn exchange(stream: &TcpStream, frame: &[u8], reply: &mut Vec<u8>) -> io::Result<()> {
        rpc::write_frame(&mut BufWriter::new(stream), frame)?;
        if rpc::read_frame(&mut BufReader::new(stream), reply)? {
            Ok(())
        } else {
            Err(io::ErrorKind::UnexpectedEof.into())
        }
    }
}

impl Link for TcpLink {
    fn peer(&self) -> SocketAddr {
        self.addr
    }

    fn call(&self, frame: &[u8], reply: &mut Vec<u8>) -> io::Result<()> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let stream = match pooled {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(self.addr)?;
                s.set_nodelay(true)?;
                s
            }
        };
        Self::exchange(&stream, frame, reply)?;
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stream);
        Ok(())
    }
}

/// A node in the same process: the frame goes straight to its handler.
pub struct LocalLink {
    /// The address reported in transfer spans.
    pub addr: SocketAddr,
    /// The node.
    pub handler: Arc<dyn Handler>,
}

impl Link for LocalLink {
    fn peer(&self) -> SocketAddr {
        self.addr
    }

    fn call(&self, frame: &[u8], reply: &mut Vec<u8>) -> io::Result<()> {
        // The handler sees the frame as `read_frame` would deliver it.
        let response = self.handler.handle(&frame[4..]);
        reply.clear();
        reply.extend_from_slice(&response[4..]);
        Ok(())
    }
}

/// Serves `handler` on `listener`: a thread per connection, requests answered
/// in order. Returns at once; the threads end with the process.
pub fn serve(listener: TcpListener, handler: Arc<dyn Handler>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(&stream);
                let mut frame = Vec::new();
                while let Ok(true) = rpc::read_frame(&mut reader, &mut frame) {
                    let response = handler.handle(&frame);
                    if rpc::write_frame(&mut BufWriter::new(&stream), &response).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::Tracing;
    use crate::metadata::Metadata;
    use crate::rpc::{Frame, Method, Status};
    use crate::traces::RingReader;
    use ringside::trace::{SpanId, TraceFlags, TraceId, TraceState, Tracer};

    /// The binary context travels in the RPC frame over a real socket: a valid
    /// one parents the server span; a broken one starts a new trace, is
    /// counted and marked, and the request is still answered.
    #[test]
    fn rpc_context_crosses_the_socket_and_a_broken_one_starts_a_new_trace() {
        let dir = std::env::temp_dir().join(format!("ringside-test-rpc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tracer = Tracer::builder("metadata").dir(&dir).capacity(64).build();
        let node = Arc::new(Metadata::new(Tracing::Ringside(tracer), 3));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let link = TcpLink::new(listener.local_addr().unwrap());
        serve(listener, Arc::clone(&node) as Arc<dyn Handler>);

        let caller = SpanContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            flags: TraceFlags(1),
            is_remote: false,
            trace_state: TraceState::parse("k=v").unwrap(),
        };
        let mut reply = Vec::new();
        let mut good = Frame::request(Method::Lookup, Some(&caller));
        good.str("/a");
        link.call(&good.finish(), &mut reply).unwrap();
        assert_eq!(rpc::parse_response(&reply).unwrap().0, Status::NotFound);

        let mut broken = Frame::request(Method::Lookup, Some(&caller));
        broken.str("/b");
        let mut broken = broken.finish();
        broken[8..24].fill(0); // the trace id inside the context
        link.call(&broken, &mut reply).unwrap();
        assert_eq!(rpc::parse_response(&reply).unwrap().0, Status::NotFound);
        assert_eq!(node.stats.requests.load(Ordering::Relaxed), 2);
        assert_eq!(node.stats.invalid_contexts.load(Ordering::Relaxed), 1);

        let mut reader = RingReader::new(&dir);
        reader.poll().unwrap();
        let spans = reader.spans;
        assert_eq!(spans.len(), 2);
        let (a, b) = (&spans[0], &spans[1]);
        assert_eq!(a.attr("storage.metadata.key"), Some("/a"));
        assert_eq!(a.trace_id, caller.trace_id.to_hex());
        assert_eq!(a.parent, Some(caller.span_id.to_hex()));
        assert_eq!(a.attr("storage.context.invalid"), None);
        assert_eq!(b.attr("storage.metadata.key"), Some("/b"));
        assert_ne!(b.trace_id, caller.trace_id.to_hex());
        assert_eq!(b.parent, None);
        assert_eq!(b.attr("storage.context.invalid"), Some("true"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
