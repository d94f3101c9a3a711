//! The HTML report: one self-contained file (inline CSS and SVG, no scripts,
//! nothing fetched) with per-operation percentiles and error rates, a latency
//! heatmap over time, the bottleneck ranking and waterfalls of the slowest
//! traces with their critical paths.
//!
//! Element ids a reader (or a test) can rely on: `summary`, `percentiles`
//! (with the chart `percentile-chart`),
//! `errors`, `heatmap`, `bottlenecks`, `slowest`, and `waterfall-0` ..
//! `waterfall-{n-1}` (one `figure.waterfall` per trace drawn).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use super::bottlenecks::{Bottlenecks, Severity};
use super::chart::{ChartError, Palette, heatmap, percentiles as percentile_chart, waterfall};
use super::critical_path::CriticalPath;
use super::stats::OpStats;
use super::time::{fmt_ns, fmt_time};
use super::tree::Trace;

/// What the report needs of the traces of the window, gathered one trace at
/// a time: counts, 16 bytes per trace for the heatmap, and only the slowest
/// traces whole.
#[derive(Debug)]
pub struct TraceOverview {
    /// Traces.
    pub traces: u64,
    /// Their spans.
    pub spans: u64,
    /// Earliest span start, Unix ns (`u64::MAX` when there is none).
    pub first_ns: u64,
    /// Latest span start, Unix ns.
    pub last_ns: u64,
    /// Root start and duration of each trace with a root.
    pub roots: Vec<(u64, u64)>,
    /// Every service seen.
    pub services: BTreeSet<Arc<str>>,
    /// How many of the slowest traces to keep.
    keep: usize,
    /// The slowest traces so far (at most `2 · keep`), with their root
    /// durations.
    slowest: Vec<(u64, Trace)>,
}

impl TraceOverview {
    /// An overview keeping the `keep` slowest traces.
    pub fn new(keep: usize) -> TraceOverview {
        TraceOverview {
            traces: 0,
            spans: 0,
            first_ns: u64::MAX,
            last_ns: 0,
            roots: Vec::new(),
            services: BTreeSet::new(),
            keep,
            slowest: Vec::new(),
        }
    }

    /// Adds one trace.
    pub fn add(&mut self, trace: Trace) {
        self.traces += 1;
        self.spans += trace.spans.len() as u64;
        for s in &trace.spans {
            self.first_ns = self.first_ns.min(s.start_ns);
            self.last_ns = self.last_ns.max(s.start_ns);
            if !self.services.contains(&s.service) {
                self.services.insert(s.service.clone());
            }
        }
        let Some(root) = trace.root.map(|r| &trace.spans[r]) else {
            return;
        };
        let duration = root.duration_ns();
        self.roots.push((root.start_ns, duration));
        if self.keep > 0 {
            self.slowest.push((duration, trace));
            if self.slowest.len() >= 2 * self.keep.max(64) {
                self.cut();
            }
        }
    }

    fn cut(&mut self) {
        // Longest first; equal durations by trace id, so the order does not
        // depend on the order traces came in.
        self.slowest
            .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.trace_id().cmp(&b.1.trace_id())));
        self.slowest.truncate(self.keep);
    }

    /// The slowest traces, slowest first.
    pub fn slowest(&mut self) -> Vec<&Trace> {
        self.cut();
        self.slowest.iter().map(|(_, t)| t).collect()
    }
}

/// What the report shows.
#[derive(Debug)]
pub struct ReportData<'a> {
    /// Where the spans came from, for the header.
    pub source: String,
    /// Per-operation statistics.
    pub stats: &'a [OpStats],
    /// The rankings.
    pub bottlenecks: &'a Bottlenecks,
    /// The traces of the window.
    pub traces: &'a mut TraceOverview,
    /// Rows or lines skipped while loading.
    pub skipped: u64,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:sans-serif;margin:24px;color:#222;max-width:1260px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.sev-high{background:#f8d0d0}.sev-medium{background:#fde6c8}.sev-low{background:#fff6c8}
figure{margin:16px 0}figcaption{font-size:13px;margin-bottom:4px}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.note{font-size:13px;color:#555}
";

/// Renders the report.
pub fn html(data: &mut ReportData<'_>) -> Result<String, ChartError> {
    let palette = Palette::new(data.traces.services.iter().cloned().collect());
    let mut h = String::new();
    let w = &mut h;
    let _ = writeln!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>ringside report</title><style>{STYLE}</style></head><body>"
    );
    let spans = data.traces.spans;
    let (first, last) = (data.traces.first_ns, data.traces.last_ns);
    let _ = writeln!(
        w,
        "<h1>ringside report</h1><section id=\"summary\"><p>Source: {}. {} traces, {} spans{}{}.</p></section>",
        escape(&data.source),
        data.traces.traces,
        spans,
        if spans > 0 {
            format!(", {} to {}", fmt_time(first), fmt_time(last))
        } else {
            String::new()
        },
        if data.skipped > 0 {
            format!("; {} bad rows or lines skipped", data.skipped)
        } else {
            String::new()
        },
    );
    percentiles(w, data.stats)?;
    errors(w, data.stats);
    let _ = writeln!(
        w,
        "<h2>Trace latency over time</h2><section id=\"heatmap\"><p class=\"note\">Each column is a slice \
         of time, each row a power-of-two range of end-to-end (root span) duration; darker cells hold \
         more traces.</p>"
    );
    match heatmap::svg(&data.traces.roots)? {
        Some(svg) => w.push_str(&svg),
        None => w.push_str("<p>No traces.</p>"),
    }
    w.push_str("</section>\n");
    bottlenecks(w, data.bottlenecks);
    slowest(w, data, &palette)?;
    w.push_str("</body></html>\n");
    Ok(h)
}

fn percentiles(w: &mut String, stats: &[OpStats]) -> Result<(), ChartError> {
    w.push_str(
        "<h2>Latency per operation</h2><section id=\"percentiles\"><p class=\"note\">Exact nearest-rank \
         percentiles. Chart (log scale): bar from p50 to p99, black ticks at p90 and p99.9, red tick at the \
         maximum.</p><figure id=\"percentile-chart\">",
    );
    if let Some(svg) = percentile_chart::svg(stats)? {
        w.push_str(&svg);
    }
    w.push_str(
        "</figure><table><tr><th>service</th><th>operation</th><th class=\"n\">count</th>\
         <th class=\"n\">mean</th><th class=\"n\">p50</th><th class=\"n\">p90</th><th class=\"n\">p95</th>\
         <th class=\"n\">p99</th><th class=\"n\">p99.9</th><th class=\"n\">max</th></tr>\n",
    );
    for s in stats {
        let _ = write!(
            w,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td>",
            escape(&s.key.service),
            escape(&s.key.operation),
            s.count
        );
        for v in [
            s.mean_ns, s.p50_ns, s.p90_ns, s.p95_ns, s.p99_ns, s.p999_ns, s.max_ns,
        ] {
            let _ = write!(w, "<td class=\"n\">{}</td>", fmt_ns(v));
        }
        w.push_str("</tr>\n");
    }
    w.push_str("</table></section>\n");
    Ok(())
}

fn errors(w: &mut String, stats: &[OpStats]) {
    w.push_str(
        "<h2>Errors per operation</h2><section id=\"errors\"><table><tr><th>service</th><th>operation</th>\
         <th class=\"n\">spans</th><th class=\"n\">errors</th><th class=\"n\">rate</th><th></th></tr>\n",
    );
    let mut by_rate: Vec<&OpStats> = stats.iter().collect();
    by_rate.sort_by(|a, b| b.error_rate.total_cmp(&a.error_rate));
    for s in by_rate {
        let _ = writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}%</td>\
             <td><svg width=\"200\" height=\"10\"><rect width=\"{:.1}\" height=\"10\" fill=\"#c00\"/></svg></td></tr>",
            escape(&s.key.service),
            escape(&s.key.operation),
            s.count,
            s.errors,
            100.0 * s.error_rate,
            200.0 * s.error_rate
        );
    }
    w.push_str("</table></section>\n");
}

fn sev(s: Severity) -> String {
    format!("<td class=\"sev-{0}\">{0}</td>", s.as_str())
}

fn bottlenecks(w: &mut String, b: &Bottlenecks) {
    let _ = writeln!(
        w,
        "<h2>Bottlenecks</h2><section id=\"bottlenecks\"><p class=\"note\">{} traces, {} on critical paths. \
         Severity thresholds (low/medium/high): critical-path share 2%/10%/30%, p99/p50 3/5/10, error rate \
         &gt;0/1%/5%. Operations with fewer than {} spans are not ranked.</p>",
        b.traces,
        fmt_ns(b.critical_total_ns),
        b.min_samples
    );
    w.push_str(
        "<h3>Time on critical paths</h3><table id=\"bottlenecks-critical\"><tr><th>severity</th><th>service</th>\
         <th>operation</th><th class=\"n\">share</th><th class=\"n\">time</th><th class=\"n\">traces</th></tr>\n",
    );
    for c in &b.critical_path {
        let _ = writeln!(
            w,
            "<tr>{}<td>{}</td><td>{}</td><td class=\"n\">{:.1}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            sev(c.severity),
            escape(&c.op.service),
            escape(&c.op.operation),
            100.0 * c.share,
            fmt_ns(c.critical_ns),
            c.traces
        );
    }
    w.push_str(
        "</table><h3>Tail latency</h3><table id=\"bottlenecks-tail\"><tr><th>severity</th><th>service</th>\
         <th>operation</th><th class=\"n\">p99/p50</th><th class=\"n\">p50</th><th class=\"n\">p99</th>\
         <th class=\"n\">spans</th></tr>\n",
    );
    for t in &b.tail_latency {
        let _ = writeln!(
            w,
            "<tr>{}<td>{}</td><td>{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td></tr>",
            sev(t.severity),
            escape(&t.op.service),
            escape(&t.op.operation),
            t.ratio,
            fmt_ns(t.p50_ns),
            fmt_ns(t.p99_ns),
            t.samples
        );
    }
    w.push_str("</table>");
    if !b.too_few_samples.is_empty() {
        w.push_str("<p class=\"note\">Too few samples to rank: ");
        let list: Vec<String> = b
            .too_few_samples
            .iter()
            .map(|t| {
                format!(
                    "{} {} ({})",
                    escape(&t.op.service),
                    escape(&t.op.operation),
                    t.samples
                )
            })
            .collect();
        w.push_str(&list.join(", "));
        w.push_str("</p>");
    }
    w.push_str("</section>\n");
}

fn slowest(w: &mut String, data: &mut ReportData<'_>, palette: &Palette) -> Result<(), ChartError> {
    let order = data.traces.slowest();
    let _ = write!(
        w,
        "<h2>The {} slowest traces</h2><section id=\"slowest\"><p class=\"note\">Bars are coloured by service; \
         the dark strip under a bar is the critical path; red outlines and labels are errors.</p>\
         <div class=\"legend\">",
        order.len()
    );
    for (service, color) in palette.legend() {
        let _ = write!(
            w,
            "<span><i style=\"background:{color}\"></i>{}</span>",
            escape(&service)
        );
    }
    w.push_str("</div>\n");
    for (i, t) in order.iter().enumerate() {
        let path = CriticalPath::of(t);
        let root = t.root.map(|r| &t.spans[r]);
        let _ = write!(
            w,
            "<figure class=\"waterfall\" id=\"waterfall-{i}\"><figcaption>{} — {} {} — {} spans</figcaption>",
            t.trace_id().map(|id| id.to_string()).unwrap_or_default(),
            escape(root.map_or("", |r| &r.name)),
            fmt_ns(root.map_or(0, |r| r.duration_ns())),
            t.spans.len()
        );
        w.push_str(&waterfall::svg(t, path.as_ref(), palette)?);
        w.push_str("</figure>\n");
    }
    w.push_str("</section>\n");
    Ok(())
}
