//! Span metrics as OTLP/HTTP metrics (protobuf), cumulative temporality,
//! sent every `span_metrics.export_interval_s` to the collector that gets the
//! traces: `traces.span.metrics.calls` (monotonic sum) and
//! `traces.span.metrics.duration` (explicit-bucket histogram in seconds, with
//! exemplars), one resource per service.
//!
//! Cumulative points carry their totals, so a failed request needs neither
//! a retry nor the spool: the next interval sends the newer totals, and only
//! the resolution of that interval is lost. Failures are logged and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message;

use super::series::{kind_label, status_label};
use super::{Shared, Snapshot, lock};

/// `ExportMetricsServiceRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportMetricsServiceRequest {
    /// One per service.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ResourceMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceMetrics {
    /// The service.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// `Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    /// `service.name`, `host.name`.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`.
#[derive(Clone, PartialEq, Message)]
pub struct ScopeMetrics {
    /// `ringside`.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<Scope>,
    /// Calls and durations.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, Message)]
pub struct Scope {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Metric`, with the two kinds of data used here.
#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Description.
    #[prost(string, tag = "2")]
    pub description: String,
    /// Unit (UCUM).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// A sum, for calls.
    #[prost(message, optional, tag = "7")]
    pub sum: Option<Sum>,
    /// A histogram, for durations.
    #[prost(message, optional, tag = "9")]
    pub histogram: Option<Histogram>,
}

/// `Sum`.
#[derive(Clone, PartialEq, Message)]
pub struct Sum {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// 2: cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    /// Counters only grow.
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// `NumberDataPoint` (integer values).
#[derive(Clone, PartialEq, Message)]
pub struct NumberDataPoint {
    /// Since when.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// When.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// The count.
    #[prost(sfixed64, tag = "6")]
    pub as_int: i64,
    /// Span name, kind, status, dimensions.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
}

/// `Histogram`.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// 2: cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `HistogramDataPoint`.
#[derive(Clone, PartialEq, Message)]
pub struct HistogramDataPoint {
    /// Since when.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// When.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Durations counted.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Their sum, seconds.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Per bucket (not cumulative), one more than the bounds.
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds, seconds.
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    /// Kept spans.
    #[prost(message, repeated, tag = "8")]
    pub exemplars: Vec<Exemplar>,
    /// Span name, kind, status, dimensions.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Shortest, seconds.
    #[prost(double, optional, tag = "11")]
    pub min: Option<f64>,
    /// Longest, seconds.
    #[prost(double, optional, tag = "12")]
    pub max: Option<f64>,
}

/// `Exemplar`.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// When the span ended.
    #[prost(fixed64, tag = "2")]
    pub time_unix_nano: u64,
    /// Its duration, seconds.
    #[prost(double, tag = "3")]
    pub as_double: f64,
    /// Span id.
    #[prost(bytes = "vec", tag = "4")]
    pub span_id: Vec<u8>,
    /// Trace id.
    #[prost(bytes = "vec", tag = "5")]
    pub trace_id: Vec<u8>,
}

/// `KeyValue` with a string value.
#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`, strings and booleans only.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    /// A string.
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    /// A boolean.
    #[prost(bool, optional, tag = "2")]
    pub bool_value: Option<bool>,
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            string_value: Some(value.into()),
            bool_value: None,
        }),
    }
}

const CUMULATIVE: i32 = 2;

/// The request for `snap`, taken at `now_unix_ns` on host `host`.
pub fn request(snap: &Snapshot, host: &str, now_unix_ns: u64) -> ExportMetricsServiceRequest {
    let mut by_service: Vec<(String, Vec<NumberDataPoint>, Vec<HistogramDataPoint>)> = Vec::new();
    let bounds = snap.layout.bounds_s().to_vec();
    for (labels, s) in &snap.series {
        let (service, attributes) = match labels {
            Some(l) => {
                let mut a = vec![
                    kv("span.name", &l.name),
                    kv("span.kind", kind_label(l.kind)),
                    kv("status.code", status_label(l.status)),
                ];
                for (k, v) in snap.dimensions.iter().zip(&l.dimensions) {
                    a.push(kv(k, v));
                }
                (l.service.clone(), a)
            }
            None => (
                String::new(),
                vec![KeyValue {
                    key: "otel.metric.overflow".into(),
                    value: Some(AnyValue {
                        string_value: None,
                        bool_value: Some(true),
                    }),
                }],
            ),
        };
        let at = match by_service.iter().position(|(s, _, _)| *s == service) {
            Some(i) => i,
            None => {
                by_service.push((service, Vec::new(), Vec::new()));
                by_service.len() - 1
            }
        };
        let (_, calls, durations) = &mut by_service[at];
        calls.push(NumberDataPoint {
            start_time_unix_nano: s.start_unix_ns,
            time_unix_nano: now_unix_ns,
            as_int: s.fine.count as i64,
            attributes: attributes.clone(),
        });
        let seconds = |ns: u64| ns as f64 / 1e9;
        durations.push(HistogramDataPoint {
            start_time_unix_nano: s.start_unix_ns,
            time_unix_nano: now_unix_ns,
            count: s.fine.count,
            sum: Some(seconds(s.fine.sum_ns)),
            bucket_counts: s.classic.to_vec(),
            explicit_bounds: bounds.clone(),
            exemplars: s
                .exemplars
                .iter()
                .flatten()
                .map(|x| Exemplar {
                    time_unix_nano: x.end_unix_ns,
                    as_double: seconds(x.duration_ns),
                    span_id: x.span_id.to_vec(),
                    trace_id: x.trace_id.to_vec(),
                })
                .collect(),
            attributes,
            min: (s.fine.count > 0).then(|| seconds(s.fine.min_ns)),
            max: (s.fine.count > 0).then(|| seconds(s.fine.max_ns)),
        });
    }
    let resource_metrics = by_service
        .into_iter()
        .map(|(service, calls, durations)| {
            let mut attributes = vec![kv("host.name", host)];
            if !service.is_empty() {
                attributes.insert(0, kv("service.name", &service));
            }
            ResourceMetrics {
                resource: Some(Resource { attributes }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(Scope {
                        name: "ringside".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                    }),
                    metrics: vec![
                        Metric {
                            name: "traces.span.metrics.calls".into(),
                            description: "Spans drained (before sampling).".into(),
                            unit: "{call}".into(),
                            sum: Some(Sum {
                                data_points: calls,
                                aggregation_temporality: CUMULATIVE,
                                is_monotonic: true,
                            }),
                            histogram: None,
                        },
                        Metric {
                            name: "traces.span.metrics.duration".into(),
                            description: "Span durations (before sampling).".into(),
                            unit: "s".into(),
                            sum: None,
                            histogram: Some(Histogram {
                                data_points: durations,
                                aggregation_temporality: CUMULATIVE,
                            }),
                        },
                    ],
                }],
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// Counters of the metrics exporter, for `/metrics`.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Requests the collector accepted.
    pub ok: AtomicU64,
    /// Requests that failed (the next interval sends newer totals).
    pub failed: AtomicU64,
}

/// The thread that sends span metrics; stops when dropped.
pub struct MetricsExport {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Its counters.
    pub stats: Arc<ExportStats>,
}

impl MetricsExport {
    /// Sends `stage`'s metrics to `endpoint` (…/v1/metrics) every
    /// `interval`, with `headers`, through `agent` (the OTLP exports'
    /// client: [`crate::export::otlp::agent`]).
    pub fn start(
        stage: Shared,
        endpoint: String,
        headers: Vec<(String, String)>,
        interval: Duration,
        agent: ureq::Agent,
    ) -> std::io::Result<MetricsExport> {
        let stopping = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ExportStats::default());
        let (flag, counters) = (stopping.clone(), stats.clone());
        let host = crate::sidecar::source::host_name();
        let thread = std::thread::Builder::new()
            .name("ringside-span-metrics-otlp".into())
            .spawn(move || {
                let mut waited = Duration::ZERO;
                let tick = Duration::from_millis(50);
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited < interval {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let snap = lock(&stage).snapshot();
                    let body = request(&snap, &host, ringside::clock::unix_ns()).encode_to_vec();
                    let mut req = agent
                        .post(&endpoint)
                        .header("Content-Type", "application/x-protobuf");
                    for (k, v) in &headers {
                        req = req.header(k, v);
                    }
                    let status = req.send(&body[..]).map(|r| r.status().as_u16());
                    match status {
                        Ok(200..=299) => {
                            counters.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                            let why = match other {
                                Ok(code) => format!("HTTP status {code}"),
                                Err(e) => e.to_string(),
                            };
                            log::warn!(endpoint = endpoint.as_str(), error = why.as_str(); "span metrics export failed; the next interval sends newer totals");
                        }
                    }
                }
            })?;
        Ok(MetricsExport {
            stopping,
            thread: Some(thread),
            stats,
        })
    }
}

impl Drop for MetricsExport {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The metrics endpoint beside a traces endpoint: `…/v1/traces` becomes
/// `…/v1/metrics`; any other path gets `/v1/metrics` in its place.
pub fn metrics_endpoint(traces: &str) -> String {
    match traces.strip_suffix("/v1/traces") {
        Some(base) => format!("{base}/v1/metrics"),
        None => {
            let scheme_end = traces.find("://").map_or(0, |i| i + 3);
            let path_at = traces[scheme_end..]
                .find('/')
                .map_or(traces.len(), |i| scheme_end + i);
            format!("{}/v1/metrics", &traces[..path_at])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_endpoint_sits_beside_the_traces_endpoint() {
        assert_eq!(
            metrics_endpoint("http://127.0.0.1:4318/v1/traces"),
            "http://127.0.0.1:4318/v1/metrics"
        );
        assert_eq!(
            metrics_endpoint("https://c.example:4318/otlp/x"),
            "https://c.example:4318/v1/metrics"
        );
        assert_eq!(metrics_endpoint("http://h:1"), "http://h:1/v1/metrics");
    }
}
