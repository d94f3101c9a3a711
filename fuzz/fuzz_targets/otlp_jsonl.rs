//! OTLP/JSON lines as the analysis commands read them: bad lines and spans
//! are skipped and counted, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside_agent::analyze::input::Skipped;
use ringside_agent::analyze::input::jsonl::read;
use ringside_agent::analyze::model::Names;

fuzz_target!(|data: &[u8]| {
    let (mut names, mut skipped) = (Names::default(), Skipped::default());
    let _ = read(data, "fuzz", &mut names, &mut skipped, |span| {
        std::hint::black_box(span);
    });
});
