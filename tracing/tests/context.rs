//! The ringside context of `tracing` spans, in process: parents, injection
//! into W3C headers, a remote parent from headers, and no context where the
//! layer does not record. (What reaches the ring is checked through the
//! sidecar by the agent's `tests/tracing_sidecar.rs`.)

use ringside::trace::propagation;
use ringside::trace::{SpanContext, Tracer};
use ringside_tracing::{RingsideLayer, attach_remote, context_of, current_context, inject_current};
use tracing::info_span;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// A layer whose tracer gives spans ids but writes nothing.
fn layer() -> RingsideLayer {
    RingsideLayer::new(Tracer::disabled("context-test"))
}

fn headers() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    inject_current(|name, value| out.push((name, value.to_string())));
    out
}

#[test]
fn children_share_the_trace_and_injection_names_the_current_span() {
    let subscriber = tracing_subscriber::registry().with(layer());
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(current_context(), None, "outside every span");
        assert!(headers().is_empty());
        let parent = info_span!("parent");
        let _in_parent = parent.enter();
        let child = info_span!("child");
        let (p, c) = (context_of(&parent).unwrap(), context_of(&child).unwrap());
        assert_eq!(p.trace_id, c.trace_id);
        assert_ne!(p.span_id, c.span_id);
        let _in_child = child.enter();
        let sent = headers();
        assert_eq!(sent.len(), 1, "no tracestate: {sent:?}");
        assert_eq!(sent[0].0, propagation::TRACEPARENT);
        let back = propagation::extract(Some(&sent[0].1), None).unwrap();
        assert_eq!((back.trace_id, back.span_id), (c.trace_id, c.span_id));
    });
}

#[test]
fn a_remote_parent_from_headers_parents_root_spans_until_dropped() {
    let subscriber = tracing_subscriber::registry().with(layer());
    tracing::subscriber::with_default(subscriber, || {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let remote: SpanContext = propagation::extract(Some(traceparent), None).unwrap();
        {
            let _remote = attach_remote(Some(traceparent), Some("vendor=x")).expect("valid");
            let span = info_span!("request");
            let ctx = context_of(&span).unwrap();
            assert_eq!(ctx.trace_id, remote.trace_id);
            assert_eq!(ctx.trace_state.as_str(), "vendor=x");
            let _in = span.enter();
            let sent = headers();
            assert_eq!(sent[1], (propagation::TRACESTATE, "vendor=x".to_string()));
        }
        let after = info_span!("later");
        assert_ne!(context_of(&after).unwrap().trace_id, remote.trace_id);
        assert!(attach_remote(Some("00-zz"), None).is_none(), "malformed");
        assert!(attach_remote(None, None).is_none(), "missing");
    });
}

#[test]
fn no_context_without_the_layer_or_for_filtered_spans() {
    let plain = tracing_subscriber::registry();
    tracing::subscriber::with_default(plain, || {
        let span = info_span!("not recorded");
        assert_eq!(context_of(&span), None);
    });
    // Behind a per-layer filter the layer is still found; spans the filter
    // hides from it (but another layer sees) have no context of their own
    // and give their nearest recorded parent's.
    let filtered = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(layer().with_filter(LevelFilter::INFO));
    tracing::subscriber::with_default(filtered, || {
        let info = info_span!("kept");
        let _in = info.enter();
        let debug = tracing::debug_span!("hidden");
        let kept = context_of(&info).expect("recorded");
        assert_eq!(context_of(&debug), Some(kept));
    });
    assert_eq!(context_of(&tracing::Span::none()), None);
}
