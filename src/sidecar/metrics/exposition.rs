//! Prometheus text exposition format 0.0.4, or OpenMetrics 1.0 text when the
//! scraper asks for it (`Accept: application/openmetrics-text`): a writer
//! that groups samples by family (one `# HELP` and `# TYPE` each, samples
//! together) and escapes label values and help text as the format requires.
//! Exemplars are written only in OpenMetrics, the format that has them.

use std::collections::HashMap;
use std::fmt::Write as _;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A sample from a trace, shown beside a histogram bucket (OpenMetrics only).
#[derive(Clone, Debug, PartialEq)]
pub struct ExemplarText {
    /// `trace_id`, 32 lowercase hex digits.
    pub trace_id: String,
    /// `span_id`, 16 lowercase hex digits.
    pub span_id: String,
    /// The observed value.
    pub value: f64,
    /// When it was observed, Unix seconds.
    pub timestamp: f64,
}

/// One bucket of a histogram sample: upper bound (`f64::INFINITY` for the
/// last), cumulative count, and an exemplar.
pub type Bucket = (f64, u64, Option<ExemplarText>);

/// One metric family being written.
#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: &'static str,
    /// Sample lines, each ending in `\n`.
    samples: String,
}

/// A page of metrics under construction. Families appear in the order first
/// written; samples written later to an earlier family join it.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<String, usize>,
    openmetrics: bool,
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// The format the `Accept` header of a scrape asks for: OpenMetrics when
    /// it names `application/openmetrics-text`, else the 0.0.4 text format.
    pub fn for_accept(accept: &str) -> Exposition {
        Exposition {
            openmetrics: accept.contains("application/openmetrics-text"),
            ..Exposition::default()
        }
    }

    /// The `Content-Type` of the page.
    pub fn content_type(&self) -> &'static str {
        if self.openmetrics {
            OPENMETRICS_CONTENT_TYPE
        } else {
            CONTENT_TYPE
        }
    }

    /// A counter sample (by convention `name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        let family = self.family(name, help, "counter");
        sample_line(&mut family.samples, name, labels, &value.to_string());
    }

    /// A histogram sample: `_bucket` lines (cumulative, the last one `+Inf`,
    /// with their exemplars in OpenMetrics), `_count` and `_sum`.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        buckets: &[Bucket],
        sum: f64,
    ) {
        let openmetrics = self.openmetrics;
        let family = self.family(name, help, "histogram");
        let bucket_name = format!("{name}_bucket");
        let mut count = 0;
        for (le, cumulative, exemplar) in buckets {
            let le = format_le(*le);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            sample_line(
                &mut family.samples,
                &bucket_name,
                &with_le,
                &cumulative.to_string(),
            );
            if let (true, Some(x)) = (openmetrics, exemplar) {
                // Replace the line feed: the exemplar goes on the same line.
                family.samples.pop();
                let _ = writeln!(
                    family.samples,
                    " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {:.3}",
                    escape_label_value(&x.trace_id),
                    escape_label_value(&x.span_id),
                    format_value(x.value),
                    x.timestamp
                );
            }
            count = *cumulative;
        }
        sample_line(
            &mut family.samples,
            &format!("{name}_count"),
            labels,
            &count.to_string(),
        );
        sample_line(
            &mut family.samples,
            &format!("{name}_sum"),
            labels,
            &format_value(sum),
        );
    }

    /// A gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let family = self.family(name, help, "gauge");
        sample_line(&mut family.samples, name, labels, &format_value(value));
    }

    /// The page's text.
    pub fn finish(self) -> String {
        let mut out = String::new();
        for f in self.families {
            // OpenMetrics names a counter family without its `_total`.
            let name = match (self.openmetrics, f.kind) {
                (true, "counter") => f.name.strip_suffix("_total").unwrap_or(&f.name),
                _ => &f.name,
            };
            let _ = writeln!(out, "# HELP {} {}", name, escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {} {}", name, f.kind);
            out.push_str(&f.samples);
        }
        if self.openmetrics {
            out.push_str("# EOF\n");
        }
        out
    }

    /// The family called `name`, created on first use. A name that is not a
    /// valid metric name is replaced by a valid one (invalid characters become
    /// `_`) rather than breaking the page.
    fn family(&mut self, name: &str, help: &str, kind: &'static str) -> &mut Family {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.families.push(Family {
                    name: sanitize_name(name, true),
                    help: help.to_string(),
                    kind,
                    samples: String::new(),
                });
                self.index.insert(name.to_string(), self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[i]
    }
}

/// `name{k="v",...} value\n`.
fn sample_line(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    out.push_str(&sanitize_name(name, true));
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&sanitize_name(k, false));
            out.push_str("=\"");
            out.push_str(&escape_label_value(v));
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, without `colons`, a label
/// name (`[a-zA-Z_][a-zA-Z0-9_]*`); other characters become `_`.
fn sanitize_name(name: &str, colons: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Label values: backslash, double quote and line feed are escaped.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: backslash and line feed are escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A bucket bound as Prometheus clients print it (`0.005`, `1.0`, `+Inf`),
/// which OpenMetrics parsers require of `le`.
fn format_le(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v:?}")
    }
}

/// Go-style float text: `NaN`, `+Inf`, `-Inf`, else the shortest form.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}
