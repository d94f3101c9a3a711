//! A ring slot's bytes as the sidecar reads them: validation and every view
//! of a record must never panic, whatever a writer put there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringside::record::{Record, RecordView};

fuzz_target!(|data: &[u8]| {
    let size = std::mem::size_of::<Record>();
    if data.len() < size {
        return;
    }
    let rec: Record = bytemuck::pod_read_unaligned(&data[..size]);
    if let Ok(v) = RecordView::new(&rec) {
        let _ = (v.name(), v.status_message());
        for e in v.entries() {
            std::hint::black_box(&e);
        }
        for a in v.attrs() {
            std::hint::black_box(&a);
        }
    }
});
