//! The compact binary span context of storage RPCs, with and without its
//! tracestate: decoding never panics and never claims more bytes than given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside::trace::propagation::{from_binary, from_binary_with_state};

fuzz_target!(|data: &[u8]| {
    let _ = from_binary(data);
    if let Ok((_, used)) = from_binary_with_state(data) {
        assert!(used <= data.len());
    }
});
