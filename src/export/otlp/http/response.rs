//! What an OTLP/HTTP response means, after the specification's "Failures"
//! and "Throttling" sections:
//! - 2xx: success; the body may carry `partial_success` with the number of
//!   spans the receiver rejected (protobuf or JSON, like the request);
//! - 429, 502, 503, 504: retryable, waiting `Retry-After` when given (seconds
//!   or an HTTP date);
//! - any other status (400 first of all): permanent; the reason names the
//!   status and the receiver's message (a `google.rpc.Status` body, or the
//!   start of the text);
//! - no response at all (refused, reset, timed out): retryable.

use std::io::Read;
use std::time::{Duration, SystemTime};

use prost::Message;
use ureq::http::Response;

use crate::export::{ExportError, ExportOutcome};

/// Most bytes of a response body read.
const BODY_LIMIT: u64 = 64 << 10;
/// Most characters of a receiver's message kept in a reason.
const EXCERPT_CHARS: usize = 200;

/// `ExportTraceServiceResponse`: only the part ringside reads.
#[derive(Clone, PartialEq, Message)]
struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, Message)]
struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    rejected_spans: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// `google.rpc.Status`, without its details.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The outcome of a request that got a response, which held `spans` spans.
pub(super) fn classify(
    mut response: Response<ureq::Body>,
    spans: u64,
) -> Result<ExportOutcome, ExportError> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
    let mut body = Vec::new();
    let read = response
        .body_mut()
        .as_reader()
        .take(BODY_LIMIT)
        .read_to_end(&mut body);
    match status {
        200..=299 => {
            // The spans were taken even if the body could not be read.
            let (rejected, message) = if read.is_ok() {
                partial_success(&content_type, &body)
            } else {
                (0, String::new())
            };
            let rejected = rejected.min(spans);
            if rejected > 0 {
                log::warn!(exporter = "otlp", rejected = rejected, message = message.as_str(); "receiver rejected spans");
            }
            Ok(ExportOutcome {
                accepted: spans - rejected,
                rejected,
            })
        }
        429 | 502 | 503 | 504 => Err(ExportError::Retryable {
            reason: with_message(format!("HTTP {status}"), &content_type, &body),
            retry_after,
        }),
        300..=399 => Err(ExportError::Permanent {
            reason: format!(
                "HTTP {status}: redirects are not followed; set the endpoint to {}",
                header("location").unwrap_or_else(|| "the final URL".into())
            ),
        }),
        _ => Err(ExportError::Permanent {
            reason: with_message(format!("HTTP {status}"), &content_type, &body),
        }),
    }
}

/// A request that got no response: worth retrying (the receiver may be
/// restarting, the network may come back).
/// A TLS failure (untrusted certificate, refused client certificate) is
/// retryable too: the spans stay in the spool until the operator fixes the
/// files and restarts, and the reason says what to fix.
pub(super) fn transport_error(e: ureq::Error) -> ExportError {
    let reason = match crate::export::otlp::tls::explain_failure(&e) {
        Some(why) => format!("request failed: {why}"),
        None => format!("request failed: {e}"),
    };
    ExportError::Retryable {
        reason,
        retry_after: None,
    }
}

/// `Retry-After` as a delay from `now`: delay-seconds (digits only; a number
/// too large for 64 bits saturates) or an HTTP date (a date in the past gives
/// zero). `None` when it is neither. Any delay is possible; the caller cuts it
/// to its longest wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The rejected span count and message of a success body; zero when there is
/// none or it does not decode.
fn partial_success(content_type: &str, body: &[u8]) -> (u64, String) {
    if body.is_empty() {
        return (0, String::new());
    }
    if content_type.contains("json") {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return (0, String::new());
        };
        let p = &v["partialSuccess"];
        // int64 is a string in OTLP/JSON; accept a number too.
        let rejected = match &p["rejectedSpans"] {
            serde_json::Value::String(s) => s.parse::<i64>().unwrap_or(0),
            n => n.as_i64().unwrap_or(0),
        };
        let message = p["errorMessage"].as_str().unwrap_or_default().to_string();
        return (rejected.max(0) as u64, message);
    }
    match ExportTraceServiceResponse::decode(body) {
        Ok(ExportTraceServiceResponse {
            partial_success: Some(p),
        }) => (p.rejected_spans.max(0) as u64, p.error_message),
        _ => (0, String::new()),
    }
}

/// `what`, then the receiver's message from an error body if there is one.
fn with_message(what: String, content_type: &str, body: &[u8]) -> String {
    let message = error_message(content_type, body);
    if message.is_empty() {
        what
    } else {
        format!("{what}: {message}")
    }
}

/// The message of a `google.rpc.Status` body (protobuf or JSON), else the
/// start of the body as text, on one line.
fn error_message(content_type: &str, body: &[u8]) -> String {
    let decoded = if content_type.contains("protobuf") {
        RpcStatus::decode(body).ok().map(|s| s.message)
    } else if content_type.contains("json") {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
    } else {
        None
    };
    let text = match decoded {
        Some(m) if !m.is_empty() => m,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let mut out: String = text
        .trim()
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.trim().chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Thu, 26 Nov 2026 01:00:00 GMT").expect("date");
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 01:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 00:59:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("+3", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
    }

    #[test]
    fn retry_after_never_panics_on_huge_values_and_far_dates() {
        let now = SystemTime::UNIX_EPOCH;
        let max = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after("18446744073709551615", now), max);
        assert_eq!(parse_retry_after("99999999999999999999999999", now), max);
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).expect("a date");
        assert!(far > Duration::from_secs(8000 * 365 * 86_400), "{far:?}");
        let late = httpdate::parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").expect("date");
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", late),
            Some(Duration::ZERO)
        );
        for junk in [
            "\u{0}",
            "-18446744073709551616",
            "Mon, 99 Foo 2026 99:99:99 GMT",
        ] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk}");
        }
    }

    #[test]
    fn partial_success_reads_protobuf_and_json() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            partial_success("application/x-protobuf", &body),
            (3, "too old".into())
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"bad"}}"#;
        assert_eq!(partial_success("application/json", json), (4, "bad".into()));
        assert_eq!(
            partial_success("application/json", br#"{"partialSuccess":null}"#).0,
            0
        );
        assert_eq!(partial_success("application/json", b"{}").0, 0);
        assert_eq!(partial_success("application/x-protobuf", b"").0, 0);
    }

    #[test]
    fn error_message_prefers_rpc_status_and_cuts_long_text() {
        let status = RpcStatus {
            code: 3,
            message: "invalid span id".into(),
        }
        .encode_to_vec();
        assert_eq!(
            error_message("application/x-protobuf", &status),
            "invalid span id"
        );
        assert_eq!(
            error_message("application/json", br#"{"code":3,"message":"no\nway"}"#),
            "no way"
        );
        let long = "x".repeat(1000);
        let cut = error_message("text/plain", long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
