use super::*;
use crate::analyze::testing::span;
use crate::analyze::tree::Trace;
use crate::store::generate::Rng;

/// The path as `(span id byte, start, end)`.
fn path(spans: Vec<crate::analyze::model::SpanRow>) -> Vec<(u8, u64, u64)> {
    let trace = Trace::new(spans);
    let p = CriticalPath::of(&trace).unwrap();
    let root = &trace.spans[p.root];
    assert_eq!(p.total_ns(), root.duration_ns());
    p.segments
        .iter()
        .map(|s| (trace.spans[s.span].span_id.0[0], s.start_ns, s.end_ns))
        .collect()
}

#[test]
fn sequential_children_each_contribute_and_gaps_are_the_parents() {
    let p = path(vec![
        span(1, None, 0, 100),
        span(2, Some(1), 10, 40),
        span(3, Some(1), 50, 90),
    ]);
    assert_eq!(
        p,
        vec![
            (1, 0, 10),
            (2, 10, 40),
            (1, 40, 50),
            (3, 50, 90),
            (1, 90, 100)
        ]
    );
}

#[test]
fn parallel_children_the_longest_wins() {
    let p = path(vec![
        span(1, None, 0, 100),
        span(2, Some(1), 10, 50),
        span(3, Some(1), 10, 90),
        span(4, Some(1), 10, 30),
    ]);
    assert_eq!(p, vec![(1, 0, 10), (3, 10, 90), (1, 90, 100)]);
}

#[test]
fn overlapping_children_the_later_ending_one_and_what_ends_before_it() {
    // 3 ends last; 2 ends after 3 started, so it overlapped and is not on the
    // path; 4 ends before 3 starts, so the walk reaches it.
    let p = path(vec![
        span(1, None, 0, 100),
        span(4, Some(1), 5, 15),
        span(2, Some(1), 10, 60),
        span(3, Some(1), 40, 90),
    ]);
    assert_eq!(
        p,
        vec![
            (1, 0, 5),
            (4, 5, 15),
            (1, 15, 40),
            (3, 40, 90),
            (1, 90, 100)
        ]
    );
}

#[test]
fn child_outliving_its_parent_is_clipped_to_the_parent() {
    let p = path(vec![
        span(1, None, 0, 100),
        span(2, Some(1), 0, 50),
        span(3, Some(2), 20, 80),
        span(4, Some(1), 60, 150),
    ]);
    assert_eq!(p, vec![(2, 0, 20), (3, 20, 50), (1, 50, 60), (4, 60, 100)]);
}

#[test]
fn gaps_between_children_are_the_parents_own_time() {
    let p = path(vec![
        span(1, None, 0, 100),
        span(2, Some(1), 20, 30),
        span(3, Some(1), 70, 80),
    ]);
    assert_eq!(
        p,
        vec![
            (1, 0, 20),
            (2, 20, 30),
            (1, 30, 70),
            (3, 70, 80),
            (1, 80, 100)
        ]
    );
}

#[test]
fn nested_children_recurse() {
    let p = path(vec![
        span(1, None, 0, 100),
        span(2, Some(1), 10, 90),
        span(3, Some(2), 20, 40),
        span(4, Some(3), 25, 35),
    ]);
    assert_eq!(
        p,
        vec![
            (1, 0, 10),
            (2, 10, 20),
            (3, 20, 25),
            (4, 25, 35),
            (3, 35, 40),
            (2, 40, 90),
            (1, 90, 100)
        ]
    );
}

#[test]
fn single_span_trace_is_all_its_own() {
    assert_eq!(path(vec![span(1, None, 5, 105)]), vec![(1, 5, 105)]);
}

#[test]
fn orphans_are_never_on_the_roots_path() {
    let p = path(vec![
        span(1, None, 0, 100),
        span(2, Some(1), 10, 50),
        // Parent 9 was lost: an orphan, longer than the root.
        span(3, Some(9), 20, 200),
    ]);
    assert_eq!(p, vec![(1, 0, 10), (2, 10, 50), (1, 50, 100)]);
}

#[test]
fn without_a_root_the_longest_orphan_stands_in() {
    let trace = Trace::new(vec![
        span(2, Some(9), 0, 40),
        span(3, Some(9), 0, 70),
        span(4, Some(3), 10, 20),
    ]);
    assert!(trace.is_orphan(0) && trace.is_orphan(1));
    let p = CriticalPath::of(&trace).unwrap();
    assert_eq!(trace.spans[p.root].span_id.0[0], 3);
    assert_eq!(p.total_ns(), 70);
}

#[test]
fn child_starting_before_parent_counts_from_the_parent_start() {
    let p = path(vec![span(1, None, 100, 200), span(2, Some(1), 50, 150)]);
    assert_eq!(p, vec![(2, 100, 150), (1, 150, 200)]);
}

#[test]
fn empty_trace_has_no_path() {
    assert!(CriticalPath::of(&Trace::new(Vec::new())).is_none());
}

/// The definition, recursively: the oracle for the iterative walk.
fn naive(trace: &Trace, span: usize, lo: u64, hi: u64, out: &mut Vec<Segment>) {
    let mut point = hi;
    loop {
        let best = trace.children[span]
            .iter()
            .map(|&c| {
                let (s, e) = clip(&trace.spans[c], lo, hi);
                (s, e, c)
            })
            .filter(|&(s, e, _)| e > s && e <= point && e > lo)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)).then(b.2.cmp(&a.2)));
        match best {
            Some((s, e, c)) => {
                if e < point {
                    out.push(Segment {
                        span,
                        start_ns: e,
                        end_ns: point,
                    });
                }
                naive(trace, c, s, e, out);
                point = s;
                if point <= lo {
                    return;
                }
            }
            None => {
                if point > lo {
                    out.push(Segment {
                        span,
                        start_ns: lo,
                        end_ns: point,
                    });
                }
                return;
            }
        }
    }
}

#[test]
fn random_trees_tile_the_root_and_match_the_definition() {
    let mut rng = Rng::new(7);
    for _ in 0..2000 {
        let n = rng.range(1, 40) as usize;
        let mut spans = vec![span(0, None, 1000, 1000 + rng.range(0, 1000))];
        for i in 1..n {
            let parent = rng.range(0, i as u64) as u8;
            // Some orphans (parent 255 is never present), some skew, some
            // children outliving their parents.
            let parent = if rng.range(0, 10) == 0 { 255 } else { parent };
            let start = rng.range(900, 2100);
            let end = start + rng.range(0, 600);
            spans.push(span(i as u8, Some(parent), start, end));
        }
        let trace = Trace::new(spans);
        let p = CriticalPath::of(&trace).unwrap();
        let root = &trace.spans[p.root];
        assert_eq!(p.total_ns(), root.duration_ns());
        let mut at = root.start_ns;
        for s in &p.segments {
            assert_eq!(s.start_ns, at, "segments are contiguous");
            assert!(s.end_ns > s.start_ns);
            let sp = &trace.spans[s.span];
            assert!(
                sp.start_ns <= s.start_ns && s.end_ns <= sp.end_ns,
                "inside its span"
            );
            // On the path means a descendant of the root.
            let mut x = Some(s.span);
            while let Some(i) = x.filter(|&i| i != p.root) {
                x = trace.parent[i];
            }
            assert_eq!(x, Some(p.root));
            at = s.end_ns;
        }
        assert_eq!(at, root.end_ns.max(root.start_ns));
        let mut expect = Vec::new();
        naive(&trace, p.root, root.start_ns, root.end_ns, &mut expect);
        expect.reverse();
        assert_eq!(p.segments, expect);
    }
}
