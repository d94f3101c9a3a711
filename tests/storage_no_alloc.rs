//! The storage span helpers allocate nothing on the request path: a counting
//! global allocator sees no allocation while a request's spans are opened,
//! attributed and ended (once the ring exists).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringside::trace::Tracer;
use ringside::trace::storage::{self, DataOp, FileOp, MetadataOp, MetadataResult};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the counter is
// a thread-local Cell, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn one_request(tracer: &Tracer) {
    let peer = "127.0.0.1:7001".parse().unwrap();
    let mut file = storage::file_op(tracer, None, FileOp::Write, "/c1/f42", Some(8192), "c1");
    let ctx = file.context();
    let net = storage::transfer(tracer, Some(&ctx), "meta/Lookup", peer);
    let mut meta =
        storage::metadata_op(tracer, Some(&net.context()), MetadataOp::Lookup, "/c1/f42");
    storage::set_metadata_result(&mut meta, MetadataResult::Hit, Some(2));
    meta.end();
    storage::end_transfer(net, 40, 80, None);
    let net = storage::transfer(tracer, Some(&ctx), "data/Write", peer);
    let mut data = storage::data_op(
        tracer,
        Some(&net.context()),
        DataOp::Write,
        "c1.f42.2",
        8192,
        2,
        0,
    );
    storage::record_error(&mut data, "EIO", "disk error");
    data.end();
    storage::end_transfer(net, 8300, 30, Some(("EIO", "disk error")));
    storage::set_size(&mut file, 8192);
    file.end();
}

#[test]
fn storage_spans_allocate_nothing() {
    let dir = std::env::temp_dir().join(format!("ringside-noalloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracer = Tracer::builder("noalloc").dir(&dir).capacity(1024).build();
    tracer.open().unwrap();
    one_request(&tracer); // warm up thread-locals (id generator, current span)
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        one_request(&tracer);
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(tracer.stats().unwrap().written, 505);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(after - before, 0, "allocations on the span path");
}
