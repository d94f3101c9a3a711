//! The storage RPC frame spoken between the gateway, the metadata node and the
//! data nodes over TCP, with the caller's trace context inside.
//!
//! ```text
//! request:  u32 length | u8 method | u16 context length | context | body
//! response: u32 length | u8 status | body
//! ```
//!
//! `length` (big-endian, like every integer here) counts the bytes after it.
//! The context is `propagation::to_binary_with_state` (empty when the caller
//! has none); carrying its own length, a broken context never breaks the
//! framing. Bodies are fields in order: integers, strings (`u16` length, UTF-8)
//! and a final byte run. A reply with status [`Status::Error`] carries the
//! error type and message as two strings.

use std::io::{self, Read, Write};

use ringside::trace::SpanContext;
use ringside::trace::propagation::{self, ExtractError};

/// Frames larger than this are refused (a 4 MiB chunk and headroom).
pub const MAX_FRAME: usize = 8 << 20;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Metadata: choose the chunk id and nodes for a new file version.
    Allocate = 1,
    /// Metadata: make a written chunk the file's current version.
    Commit = 2,
    /// Metadata: find a file's current version.
    Lookup = 3,
    /// Metadata: remove a file, returning where its chunk was.
    Delete = 4,
    /// Data: store one replica of a chunk.
    WriteChunk = 10,
    /// Data: read one replica of a chunk.
    ReadChunk = 11,
    /// Data: remove one replica of a chunk.
    DeleteChunk = 12,
}

impl Method {
    /// The method for a frame's method byte.
    pub fn from_u8(v: u8) -> Option<Method> {
        Some(match v {
            1 => Method::Allocate,
            2 => Method::Commit,
            3 => Method::Lookup,
            4 => Method::Delete,
            10 => Method::WriteChunk,
            11 => Method::ReadChunk,
            12 => Method::DeleteChunk,
            _ => return None,
        })
    }

    /// The transfer span name: `<service>/<method>`.
    pub fn span_name(self) -> &'static str {
        match self {
            Method::Allocate => "meta/Allocate",
            Method::Commit => "meta/Commit",
            Method::Lookup => "meta/Lookup",
            Method::Delete => "meta/Delete",
            Method::WriteChunk => "data/Write",
            Method::ReadChunk => "data/Read",
            Method::DeleteChunk => "data/Delete",
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done; the body is the answer.
    Ok = 0,
    /// The key or chunk does not exist.
    NotFound = 1,
    /// Failed; the body is error type and message.
    Error = 2,
}

/// A frame that breaks the format.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub &'static str);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad storage frame: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Builds a frame: the length is filled in by [`Frame::finish`].
pub struct Frame {
    buf: Vec<u8>,
}

impl Frame {
    /// A request frame for `method` carrying `ctx` (none: empty context).
    pub fn request(method: Method, ctx: Option<&SpanContext>) -> Frame {
        let mut buf = vec![0, 0, 0, 0, method as u8, 0, 0];
        if let Some(ctx) = ctx.filter(|c| c.is_valid()) {
            propagation::to_binary_with_state(ctx, &mut buf);
            let len = (buf.len() - 7) as u16;
            buf[5..7].copy_from_slice(&len.to_be_bytes());
        }
        Frame { buf }
    }

    /// A response frame with `status`.
    pub fn response(status: Status) -> Frame {
        Frame {
            buf: vec![0, 0, 0, 0, status as u8],
        }
    }

    /// An error response.
    pub fn error(error_type: &str, message: &str) -> Frame {
        let mut f = Frame::response(Status::Error);
        f.str(error_type).str(message);
        f
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Frame {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a string (cut to 65535 bytes at a character boundary).
    pub fn str(&mut self, s: &str) -> &mut Frame {
        let s = ringside::record::cut_utf8(s, usize::from(u16::MAX));
        self.buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// Appends the final byte run.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Frame {
        self.buf.extend_from_slice(b);
        self
    }

    /// The finished frame.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

/// Reads one frame (without its length prefix) into `out`. `Ok(false)` at a
/// clean end of stream before the first byte.
pub fn read_frame(r: &mut impl Read, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read(&mut len[..1])? {
        0 => return Ok(false),
        _ => r.read_exact(&mut len[1..])?,
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(FrameError("length out of range").into());
    }
    out.clear();
    out.resize(len, 0);
    r.read_exact(out)?;
    Ok(true)
}

/// Writes a finished frame.
pub fn write_frame(w: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    w.write_all(frame)?;
    w.flush()
}

/// A request as the server sees it.
pub struct Request<'a> {
    /// What is asked.
    pub method: Method,
    /// The caller's context: `Ok(None)` when it sent none, `Err` when it sent
    /// one that is invalid (the server starts a new trace and counts it).
    pub context: Result<Option<SpanContext>, ExtractError>,
    /// The body fields.
    pub body: Fields<'a>,
}

/// Parses a request frame (as read by [`read_frame`]).
pub fn parse_request(frame: &[u8]) -> Result<Request<'_>, FrameError> {
    let mut f = Fields(frame);
    let method = f.u8()?;
    let method = Method::from_u8(method).ok_or(FrameError("unknown method"))?;
    let ctx_len = f.u16()? as usize;
    let ctx = f.take(ctx_len)?;
    let context = if ctx.is_empty() {
        Ok(None)
    } else {
        match propagation::from_binary_with_state(ctx) {
            Ok((c, used)) if used == ctx.len() => Ok(Some(c)),
            Ok(_) => Err(ExtractError::Malformed("trailing bytes after the context")),
            Err(e) => Err(e),
        }
    };
    Ok(Request {
        method,
        context,
        body: f,
    })
}

/// Parses a response frame into its status and body.
pub fn parse_response(frame: &[u8]) -> Result<(Status, Fields<'_>), FrameError> {
    let mut f = Fields(frame);
    let status = match f.u8()? {
        0 => Status::Ok,
        1 => Status::NotFound,
        2 => Status::Error,
        _ => return Err(FrameError("unknown status")),
    };
    Ok((status, f))
}

/// Reads fields in order from a frame body.
pub struct Fields<'a>(pub &'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.0.len() < n {
            return Err(FrameError("truncated field"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, FrameError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Next `u64`.
    pub fn u64(&mut self) -> Result<u64, FrameError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }

    /// Next string.
    pub fn str(&mut self) -> Result<&'a str, FrameError> {
        let len = self.u16()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| FrameError("string is not UTF-8"))
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside::trace::{SpanId, TraceFlags, TraceId, TraceState};

    fn ctx() -> SpanContext {
        SpanContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            flags: TraceFlags(1),
            is_remote: false,
            trace_state: TraceState::parse("vendor=abc").unwrap(),
        }
    }

    fn reread(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(read_frame(&mut &frame[..], &mut out).unwrap());
        out
    }

    #[test]
    fn request_round_trips_with_context_and_fields() {
        let c = ctx();
        let mut f = Frame::request(Method::WriteChunk, Some(&c));
        f.str("chunk-1").u64(42).bytes(b"payload");
        let frame = reread(&f.finish());
        let mut req = parse_request(&frame).unwrap();
        assert_eq!(req.method, Method::WriteChunk);
        let got = req.context.unwrap().unwrap();
        assert_eq!((got.trace_id, got.span_id), (c.trace_id, c.span_id));
        assert!(got.is_remote);
        assert_eq!(got.trace_state.as_str(), "vendor=abc");
        assert_eq!(req.body.str().unwrap(), "chunk-1");
        assert_eq!(req.body.u64().unwrap(), 42);
        assert_eq!(req.body.rest(), b"payload");
    }

    #[test]
    fn broken_context_is_reported_but_the_body_still_parses() {
        let mut f = Frame::request(Method::Lookup, Some(&ctx()));
        f.str("/a");
        let mut frame = reread(&f.finish());
        frame[4..20].fill(0); // zero trace id inside the context (after its version byte)
        let mut req = parse_request(&frame).unwrap();
        assert_eq!(req.context, Err(ExtractError::ZeroTraceId));
        assert_eq!(req.body.str().unwrap(), "/a");
    }

    #[test]
    fn missing_context_is_none_and_garbage_is_an_error() {
        let frame = reread(&Frame::request(Method::Delete, None).finish());
        assert_eq!(parse_request(&frame).unwrap().context, Ok(None));
        assert!(parse_request(&[99, 0, 0]).is_err());
        assert!(parse_request(&[1, 0, 9, 1]).is_err());
        let mut short = Fields(&[0, 5, b'a']);
        assert!(short.str().is_err());
        let huge = [0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut &huge[..], &mut Vec::new()).is_err());
    }

    #[test]
    fn error_response_carries_type_and_message() {
        let frame = reread(&Frame::error("EIO", "disk on fire").finish());
        let (status, mut body) = parse_response(&frame).unwrap();
        assert_eq!(status, Status::Error);
        assert_eq!(body.str().unwrap(), "EIO");
        assert_eq!(body.str().unwrap(), "disk on fire");
    }
}
