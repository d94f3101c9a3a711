//! `traceparent` and `tracestate` header values (split at the first newline):
//! extraction, tracestate parsing and editing never panic, and a parsed state
//! parses again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside::trace::TraceState;
use ringside::trace::propagation::extract;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (parent, state) = text.split_once('\n').unwrap_or((text, ""));
    let _ = extract(Some(parent), Some(state));
    if let Some(s) = TraceState::parse(state) {
        assert_eq!(TraceState::parse(s.as_str()).as_ref(), Some(&s));
        let _ = s.insert("ringside", "1");
        let _ = s.truncated(512);
    }
});
