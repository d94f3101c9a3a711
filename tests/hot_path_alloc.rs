//! The write path allocates nothing: a counting global allocator watches whole
//! spans (start, attributes, event, link, status, child span, end) once the ring
//! exists.

use ringside::trace::{SpanKind, StatusCode, Tracer, Value};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, allocations_during, alone};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn one_request(tracer: &Tracer, i: i64) {
    let mut span = tracer.span("storage.file.read");
    span.set_kind(SpanKind::Server)
        .set_attr("file.path", "/vol/a/b/c")
        .set_attr("file.size", i)
        .set_attr("storage.cache.hit", i % 2 == 0);
    span.add_event("retry", &[("attempt", Value::I64(2))]);
    let ctx = span.context();
    span.add_link(&ctx, &[]);
    {
        let _inside = span.enter();
        let mut child = tracer.span("storage.metadata.lookup");
        child.set_attr("storage.metadata.key", "inode:42");
        child.record_error("ENOENT", "no such key");
    }
    let explicit = tracer.span_with_parent("storage.data.read", Some(&ctx));
    explicit.end();
    span.set_status(StatusCode::Ok, "");
    span.end();
}

#[test]
fn spans_allocate_nothing_once_the_ring_exists() {
    let _alone = alone();
    let dir = std::env::temp_dir().join(format!("ringside-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracer = Tracer::builder("alloc-test")
        .dir(&dir)
        .capacity(1024)
        .build();
    tracer.open().expect("ring created");
    one_request(&tracer, 0); // first use of thread-locals may allocate
    let allocations = allocations_during(|| {
        for i in 0..10_000 {
            one_request(&tracer, i);
        }
    });
    let stats = tracer.stats().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(allocations, 0, "the write path allocated");
    // The spans really went somewhere: 3 per request, most dropped by the small ring.
    assert_eq!(stats.written + stats.dropped, 3 * 10_001);
}

/// Spans started on one thread and ended on another (a task that moves
/// between threads, a request handed to a worker): their records' memory comes
/// back round after round instead of growing.
#[test]
fn spans_ended_on_another_thread_reuse_their_memory() {
    let _alone = alone();
    let dir = std::env::temp_dir().join(format!("ringside-alloc-x-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracer = Tracer::builder("alloc-cross").dir(&dir).build();
    tracer.open().expect("ring created");
    const PER_ROUND: usize = 500;
    let handed = std::sync::Mutex::new(Vec::with_capacity(PER_ROUND));
    let barrier = std::sync::Barrier::new(2);
    let round = |starter: bool| {
        if starter {
            let mut v = handed.lock().unwrap();
            for i in 0..PER_ROUND {
                let mut s = tracer.span("storage.data.read");
                s.set_attr("i", i as i64);
                v.push(s);
            }
        }
        barrier.wait();
        if !starter {
            handed.lock().unwrap().clear(); // ends every span here
        }
        barrier.wait();
    };
    // The pool settles within a few rounds: it then holds the spans alive at
    // once plus what each thread's list keeps (at most 64 at the ender).
    let (warm, counted) = (10, 20);
    let mut allocations = 0;
    std::thread::scope(|s| {
        s.spawn(|| (0..warm + counted).for_each(|_| round(false)));
        (0..warm).for_each(|_| round(true));
        allocations = allocations_during(|| (0..counted).for_each(|_| round(true)));
    });
    let stats = tracer.stats().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        allocations, 0,
        "memory of spans ended elsewhere was not reused"
    );
    assert_eq!(
        stats.written + stats.dropped,
        ((warm + counted) * PER_ROUND) as u64
    );
    assert_eq!(tracer.lost(), 0);
}
