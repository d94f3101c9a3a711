//! A tiny ring with nobody reading: writers never block, and every record is
//! either in the ring or counted as dropped, exactly.

use ringside::ring::Consumer;
use ringside::trace::Tracer;

#[test]
fn full_ring_counts_drops_exactly_and_never_blocks() {
    let dir = std::env::temp_dir().join(format!("ringside-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tracer = Tracer::builder("full").dir(&dir).capacity(64).build();
    let threads = 4;
    let per_thread = 50_000u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let tracer = &tracer;
            s.spawn(move || {
                for i in 0..per_thread {
                    let mut span = tracer.span("w");
                    span.set_attr("t", t).set_attr("i", i);
                }
            });
        }
    });
    // Reaching this line at all shows no writer waited for the (absent) reader.
    let stats = tracer.stats().unwrap();
    assert_eq!(stats.written, 64, "the ring holds exactly its capacity");
    assert_eq!(stats.dropped, threads * per_thread - 64);

    // The 64 accepted records are whole and readable.
    let mut consumer = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
    let mut out = Vec::new();
    let drained = consumer.read(1000, &mut out);
    assert_eq!(drained.records, 64);
    for r in &out {
        let v = ringside::record::RecordView::new(r).unwrap();
        assert_eq!(v.name(), "w");
        assert_eq!(v.attrs().count(), 2);
    }
    // Releasing them makes room again.
    consumer.release(consumer.read_position());
    tracer.span("again").end();
    assert_eq!(tracer.stats().unwrap().written, 65);
    std::fs::remove_dir_all(&dir).unwrap();
}
