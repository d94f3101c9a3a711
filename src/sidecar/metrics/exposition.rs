//! Prometheus text exposition format 0.0.4: a writer that groups samples by
//! family (one `# HELP` and `# TYPE` each, samples together) and escapes
//! label values and help text as the format requires.

use std::collections::HashMap;
use std::fmt::Write as _;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// A counter sample (by convention `name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        let family = self.family(name, help, "counter");
        sample_line(&mut family.samples, name, labels, &value.to_string());
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
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
            out.push_str(&f.samples);
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
