//! `tracing` field values into ringside attributes, span status and kind.
//!
//! Typed values stay typed: `i64`, `u64` (as `i64`, or as decimal text above
//! `i64::MAX`), `f64`, `bool` and `&str`. `Debug` and `Display` (`%`, `?` and
//! errors) are formatted on the stack ([`StackText`]), not into a `String`.
//!
//! Fields with a meaning of their own, as `tracing-opentelemetry` reads them:
//! `otel.kind` (`server`, `client`, `producer`, `consumer`, `internal`),
//! `otel.status_code` (`error`, `ok`), and `error`, which marks the span
//! failed with the field's text as the status message.

use std::fmt;

use ringside::trace::{Span, SpanKind, StatusCode, Value};
use tracing::field::{Field, Visit};

use crate::text::{StackText, TEXT_CAP, big_u64};

const KIND_FIELD: &str = "otel.kind";
const STATUS_FIELD: &str = "otel.status_code";
pub(crate) const ERROR_FIELD: &str = "error";
const MESSAGE_FIELD: &str = "message";

/// Span kind from an `otel.kind` value, case-insensitive.
fn parse_kind(s: &str) -> Option<SpanKind> {
    [
        ("internal", SpanKind::Internal),
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
    ]
    .into_iter()
    .find(|(n, _)| s.eq_ignore_ascii_case(n))
    .map(|(_, k)| k)
}

/// Writes a span's fields (at creation or from `Span::record`) into its record.
pub(crate) struct SpanFields<'a> {
    pub(crate) span: &'a mut Span<'static>,
}

impl SpanFields<'_> {
    fn text(&mut self, field: &Field, value: &str) {
        match field.name() {
            KIND_FIELD => {
                if let Some(kind) = parse_kind(value) {
                    self.span.set_kind(kind);
                }
            }
            STATUS_FIELD if value.eq_ignore_ascii_case("error") => {
                self.span.set_status(StatusCode::Error, "");
            }
            STATUS_FIELD if value.eq_ignore_ascii_case("ok") => {
                self.span.set_status(StatusCode::Ok, "");
            }
            ERROR_FIELD => {
                self.span.set_status(StatusCode::Error, value);
            }
            name => {
                self.span.set_attr(name, Value::Str(value));
            }
        }
    }
}

impl Visit for SpanFields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.span.set_attr(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.span.set_attr(field.name(), v),
            Err(_) => self.span.set_attr(field.name(), big_u64(value).as_str()),
        };
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.span.set_attr(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            ERROR_FIELD if value => self.span.set_status(StatusCode::Error, ""),
            ERROR_FIELD => self.span,
            name => self.span.set_attr(name, value),
        };
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, StackText::format(format_args!("{value}")).as_str());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, StackText::format(format_args!("{value:?}")).as_str());
    }
}

/// Attributes an event can carry (its `message` is the event's name); a record
/// has room for fewer than this anyway.
const EVENT_ATTRS: usize = 8;

/// One attribute value of an event; text lives in [`EventFields::arena`].
#[derive(Clone, Copy)]
enum Slot {
    Text(usize, usize),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// The fields of one `tracing` event, gathered on the stack.
pub(crate) struct EventFields {
    message: StackText,
    error: Option<StackText>,
    arena: StackText,
    attrs: [(&'static str, Slot); EVENT_ATTRS],
    len: usize,
}

impl EventFields {
    pub(crate) fn new() -> EventFields {
        EventFields {
            message: StackText::new(),
            error: None,
            arena: StackText::new(),
            attrs: [("", Slot::Bool(false)); EVENT_ATTRS],
            len: 0,
        }
    }

    /// The event's name: its message, or `fallback` (the callsite's name) when
    /// it has none.
    pub(crate) fn name<'a>(&'a self, fallback: &'a str) -> &'a str {
        match self.message.as_str() {
            "" => fallback,
            m => m,
        }
    }

    /// The text of an `error` field, if the event had one.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_ref().map(StackText::as_str)
    }

    /// The attributes as the writer API takes them.
    pub(crate) fn attrs(&self) -> ([(&str, Value<'_>); EVENT_ATTRS], usize) {
        let mut out = [("", Value::Bool(false)); EVENT_ATTRS];
        let text = self.arena.as_str();
        for (o, (k, slot)) in out.iter_mut().zip(&self.attrs[..self.len]) {
            *o = (
                k,
                match *slot {
                    Slot::Text(a, b) => Value::Str(text.get(a..b).unwrap_or_default()),
                    Slot::I64(v) => Value::I64(v),
                    Slot::F64(v) => Value::F64(v),
                    Slot::Bool(v) => Value::Bool(v),
                },
            );
        }
        (out, self.len)
    }

    fn push(&mut self, field: &Field, slot: Slot) {
        if self.len < EVENT_ATTRS {
            self.attrs[self.len] = (field.name(), slot);
            self.len += 1;
        }
    }

    fn text(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        match field.name() {
            MESSAGE_FIELD => self.message = StackText::format(value),
            ERROR_FIELD => self.error = Some(StackText::format(value)),
            _ if self.len < EVENT_ATTRS && self.arena.as_str().len() < TEXT_CAP => {
                let start = self.arena.as_str().len();
                let _ = fmt::write(&mut self.arena, value);
                let end = self.arena.as_str().len();
                self.push(field, Slot::Text(start, end));
            }
            _ => {}
        }
    }
}

impl Visit for EventFields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Slot::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.push(field, Slot::I64(v)),
            Err(_) => self.text(field, format_args!("{value}")),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Slot::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Slot::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_case_insensitively() {
        assert_eq!(parse_kind("Server"), Some(SpanKind::Server));
        assert_eq!(parse_kind("client"), Some(SpanKind::Client));
        assert_eq!(parse_kind("CONSUMER"), Some(SpanKind::Consumer));
        assert_eq!(parse_kind("sideways"), None);
    }
}
