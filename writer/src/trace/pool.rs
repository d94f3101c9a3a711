//! Where the records of live spans are built. A [`Span`](super::Span) is a
//! handle on a pool node: starting one neither zeroes nor moves a 248-byte
//! record (when the record lived inside the `Span`, zeroing it and moving the
//! returned `Span` into the caller's variable were a fifth of a span's cost);
//! ending it copies the record into the ring once and gives the node back.
//!
//! Each thread keeps a free list in a thread-local without a destructor (a
//! plain thread-pointer access, no lazy registration on the hot path). A node
//! is owned by exactly one of: a live span, one thread's free list, or the
//! shared list. Spans are `Send`, so a span may end on another thread: its
//! node joins that thread's list and nodes drift between threads. A thread
//! whose list grows past [`LOCAL_MAX`] moves half of it to the shared list; a
//! thread whose list is empty takes from the shared list before it allocates.
//! Nodes are never freed: the pool holds as many nodes as spans were ever
//! alive at once, plus the threads' lists (at most [`LOCAL_MAX`] each), 256
//! bytes each. Allocation happens only when every list is empty: once per
//! thread at its first span, then only when more spans are alive at once than
//! ever before.
//!
//! A thread's list is marked busy while it is changed, so a signal handler
//! that interrupts a pool operation of its own thread never sees it half
//! changed: a span the handler starts then has no record (the tracer counts it
//! as lost) and a node the handler gives back is leaked. When the thread exits
//! its list moves to the shared list; spans that start or end after that (in
//! other thread-locals' destructors) use the shared list directly.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::Mutex;
use std::sync::atomic::{Ordering, compiler_fence};

use crate::record::Record;

/// A span's record and the free-list link. 256 bytes, cache-line aligned, so
/// a record never shares a line with another span's.
#[repr(C, align(64))]
pub(crate) struct Node {
    pub(crate) rec: Record,
    next: *mut Node,
}

const _: () = assert!(std::mem::size_of::<Node>() == 256);

/// A thread's free list stops growing here: past it, half goes to the shared
/// list (a thread that ends spans other threads started would otherwise keep
/// them all).
const LOCAL_MAX: u32 = 64;
/// Nodes allocated at once when every list is empty.
const CHUNK: usize = 16;

/// The thread's list is not being changed.
const IDLE: u8 = 0;
/// The thread's list is being changed (a signal handler that runs now must not
/// touch it).
const BUSY: u8 = 1;
/// The thread has not used the pool yet: its exit hook is not registered.
const FRESH: u8 = 2;
/// The thread is exiting and its list went to the shared list.
const EXITED: u8 = 3;

struct Local {
    head: Cell<*mut Node>,
    len: Cell<u32>,
    state: Cell<u8>,
}

thread_local! {
    static LOCAL: Local = const {
        Local { head: Cell::new(ptr::null_mut()), len: Cell::new(0), state: Cell::new(FRESH) }
    };
    /// Moves the thread's list to the shared list when the thread exits.
    static EXIT: ExitHook = const { ExitHook };
}

/// A singly linked list of free nodes.
struct List {
    head: *mut Node,
    len: usize,
}

// SAFETY: the list owns its nodes exclusively; nothing else points at them.
unsafe impl Send for List {}

static SHARED: Mutex<List> = Mutex::new(List {
    head: ptr::null_mut(),
    len: 0,
});

/// A free node for a new span, or `None` when the thread's list is busy (a
/// signal handler interrupted a pool operation of this thread) or memory ran
/// out. The caller owns the node until it passes it to [`give_back`].
#[inline(always)]
pub(crate) fn take() -> Option<NonNull<Node>> {
    LOCAL.with(|l| {
        if l.state.get() != IDLE {
            return take_cold(l);
        }
        l.state.set(BUSY);
        // A signal handler that ran before the store above finished its own
        // pool operations; one that runs after it sees BUSY. The fence keeps
        // the compiler from reading the list before the store.
        compiler_fence(Ordering::SeqCst);
        let Some(node) = NonNull::new(l.head.get()) else {
            return refill(l);
        };
        // SAFETY: `node` heads this thread's list, which owns it; BUSY keeps
        // everything else on this thread away from the list.
        l.head.set(unsafe { node.as_ref().next });
        l.len.set(l.len.get() - 1);
        compiler_fence(Ordering::SeqCst);
        l.state.set(IDLE);
        Some(node)
    })
}

/// Gives back a node taken with [`take`], from any thread.
///
/// # Safety
/// The caller owns `node` (from [`take`], not given back since) and does not
/// use it afterwards.
#[inline(always)]
pub(crate) unsafe fn give_back(node: NonNull<Node>) {
    LOCAL.with(|l| {
        if l.state.get() != IDLE || l.len.get() >= LOCAL_MAX {
            // SAFETY: per the caller.
            return unsafe { give_back_cold(l, node) };
        }
        l.state.set(BUSY);
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the caller hands over `node`; BUSY as in `take`.
        unsafe { (*node.as_ptr()).next = l.head.get() };
        l.head.set(node.as_ptr());
        l.len.set(l.len.get() + 1);
        compiler_fence(Ordering::SeqCst);
        l.state.set(IDLE);
    })
}

/// [`take`] when the thread's list is not idle or is empty.
#[cold]
#[inline(never)]
fn take_cold(l: &Local) -> Option<NonNull<Node>> {
    match l.state.get() {
        FRESH if start_using(l) => {
            l.state.set(BUSY);
            compiler_fence(Ordering::SeqCst);
            refill(l)
        }
        FRESH | EXITED => take_shared_or_new(),
        _ => None, // BUSY: a signal handler interrupted this thread's pool work
    }
}

/// A thread's first use of the pool: registers the hook that hands the
/// thread's list over when it exits, and marks the list idle. False (the
/// list marked exited) if the thread is already exiting.
fn start_using(l: &Local) -> bool {
    // Err only if the hook's destructor already ran (it marks EXITED too).
    if EXIT.try_with(|_| ()).is_err() {
        l.state.set(EXITED);
        return false;
    }
    l.state.set(IDLE);
    true
}

/// The thread's list is empty and marked busy: fill it from the shared list
/// or with new nodes, take one and mark the list idle.
#[cold]
#[inline(never)]
fn refill(l: &Local) -> Option<NonNull<Node>> {
    let (mut head, mut len) = take_shared(LOCAL_MAX as usize / 2);
    if head.is_null() {
        (head, len) = new_chunk();
    }
    let node = NonNull::new(head);
    if let Some(node) = node {
        // SAFETY: the list just taken or allocated is ours alone.
        l.head.set(unsafe { node.as_ref().next });
        l.len.set(len as u32 - 1);
    }
    compiler_fence(Ordering::SeqCst);
    l.state.set(IDLE);
    node
}

/// [`give_back`] when the thread's list is not idle or is full.
#[cold]
#[inline(never)]
unsafe fn give_back_cold(l: &Local, node: NonNull<Node>) {
    if l.state.get() == FRESH && start_using(l) {
        // SAFETY: per the caller.
        return unsafe { give_back(node) };
    }
    match l.state.get() {
        IDLE => {
            l.state.set(BUSY);
            compiler_fence(Ordering::SeqCst);
            // Half the list goes to the shared list (if it is free now; if
            // not, this list keeps growing until next time).
            let half = LOCAL_MAX / 2;
            // SAFETY: BUSY; the list is ours and at least `half` long.
            let rest = unsafe { cut_after(l.head.get(), half as usize) };
            if put_shared(l.head.get(), half as usize) {
                l.head.set(rest);
                l.len.set(l.len.get() - half);
            } else {
                // SAFETY: the cut list is still ours: join it again.
                unsafe { join(l.head.get(), half as usize, rest) };
            }
            // SAFETY: per the caller.
            unsafe { (*node.as_ptr()).next = l.head.get() };
            l.head.set(node.as_ptr());
            l.len.set(l.len.get() + 1);
            compiler_fence(Ordering::SeqCst);
            l.state.set(IDLE);
        }
        // SAFETY: per the caller, `node` is ours to hand over.
        EXITED => unsafe {
            (*node.as_ptr()).next = ptr::null_mut();
            // If the shared list is busy, the node is leaked (256 bytes).
            put_shared(node.as_ptr(), 1);
        },
        _ => {} // BUSY: a signal handler interrupted this thread; leaked
    }
}

/// Cuts the list at `head` after `n` nodes and returns the rest.
///
/// # Safety
/// The caller owns the list, which is at least `n >= 1` nodes long.
unsafe fn cut_after(head: *mut Node, n: usize) -> *mut Node {
    // SAFETY: per the caller, the first `n` nodes exist and are ours.
    unsafe {
        let last = nth(head, n - 1);
        std::mem::replace(&mut (*last).next, ptr::null_mut())
    }
}

/// Joins `rest` after the `n`th node of the list at `head`.
///
/// # Safety
/// As for [`cut_after`].
unsafe fn join(head: *mut Node, n: usize, rest: *mut Node) {
    // SAFETY: per the caller.
    unsafe { (*nth(head, n - 1)).next = rest };
}

/// # Safety
/// The list at `head` is ours and longer than `i`.
unsafe fn nth(mut node: *mut Node, i: usize) -> *mut Node {
    for _ in 0..i {
        // SAFETY: per the caller.
        node = unsafe { (*node).next };
    }
    node
}

/// Up to `n` nodes from the shared list, or none if it is empty or busy.
fn take_shared(n: usize) -> (*mut Node, usize) {
    let Some(mut shared) = try_lock() else {
        return (ptr::null_mut(), 0);
    };
    let n = n.min(shared.len);
    if n == 0 {
        return (ptr::null_mut(), 0);
    }
    let head = shared.head;
    // SAFETY: the shared list owns its nodes and holds at least `n`; under
    // the lock they are ours to cut.
    shared.head = unsafe { cut_after(head, n) };
    shared.len -= n;
    (head, n)
}

/// Puts the `n`-node list at `head` (ending in null) in front of the shared
/// list; false (nothing moved) if the shared list is busy.
fn put_shared(head: *mut Node, n: usize) -> bool {
    let Some(mut shared) = try_lock() else {
        return false;
    };
    // SAFETY: the caller hands over `n` nodes it owns.
    unsafe { join(head, n, shared.head) };
    shared.head = head;
    shared.len += n;
    true
}

/// The shared list, unless another thread (or this thread, interrupted by a
/// signal handler) holds it: then the caller does without, never waits.
fn try_lock() -> Option<std::sync::MutexGuard<'static, List>> {
    match SHARED.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// One node for a thread that has exited (its list is gone).
fn take_shared_or_new() -> Option<NonNull<Node>> {
    let (head, _) = take_shared(1);
    if let Some(node) = NonNull::new(head) {
        return Some(node);
    }
    let (head, len) = new_chunk();
    if len > 1 {
        // SAFETY: the chunk is ours; keep one node, share the rest.
        let rest = unsafe { cut_after(head, 1) };
        put_shared(rest, len - 1);
    }
    NonNull::new(head)
}

/// [`CHUNK`] new nodes, linked, zeroed; (null, 0) if memory ran out.
fn new_chunk() -> (*mut Node, usize) {
    let layout = std::alloc::Layout::array::<Node>(CHUNK).expect("a small array");
    // SAFETY: the layout has a non-zero size.
    let nodes = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Node>();
    if nodes.is_null() {
        return (ptr::null_mut(), 0);
    }
    for i in 0..CHUNK - 1 {
        // SAFETY: `nodes` holds CHUNK zeroed nodes (all-zero is a valid
        // `Node`: a zeroed record and a null link); never freed.
        unsafe { (*nodes.add(i)).next = nodes.add(i + 1) };
    }
    (nodes, CHUNK)
}

struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        // Runs at thread exit, not from a signal handler: waiting for the
        // shared list is fine here.
        let _ = LOCAL.try_with(|l| {
            l.state.set(BUSY);
            compiler_fence(Ordering::SeqCst);
            let (head, len) = (l.head.replace(ptr::null_mut()), l.len.replace(0));
            if len > 0 {
                let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
                // SAFETY: the thread's whole list, `len` nodes, handed over.
                unsafe { join(head, len as usize, shared.head) };
                shared.head = head;
                shared.len += len as usize;
            }
            compiler_fence(Ordering::SeqCst);
            l.state.set(EXITED);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_len() -> u32 {
        LOCAL.with(|l| l.len.get())
    }

    #[test]
    fn a_thread_reuses_its_last_node_first() {
        std::thread::spawn(|| {
            let a = take().unwrap();
            let len = local_len();
            let b = take().unwrap();
            assert_ne!(a, b);
            assert_eq!(local_len(), len - 1);
            // SAFETY: each node is given back once and not used after.
            unsafe { give_back(b) };
            assert_eq!(local_len(), len);
            let c = take().unwrap();
            assert_eq!(c, b, "last given back, first taken");
            // SAFETY: taken above, given back once, not used after.
            unsafe { give_back(a) };
            // SAFETY: taken above, given back once, not used after.
            unsafe { give_back(c) };
            assert_eq!(local_len(), len + 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_list_sends_half_to_the_shared_list() {
        std::thread::spawn(|| {
            let nodes: Vec<_> = (0..LOCAL_MAX + 10).map(|_| take().unwrap()).collect();
            let mut spilled = 0;
            for n in nodes {
                let len = local_len();
                // SAFETY: each node taken above, given back once.
                unsafe { give_back(n) };
                if local_len() < len {
                    assert_eq!(local_len(), len - LOCAL_MAX / 2 + 1);
                    spilled += 1;
                }
            }
            // More nodes came back than a list keeps: it passed LOCAL_MAX and
            // gave half away. (Had another thread held the shared list at that
            // moment, the next give-back would have.)
            assert!(spilled >= 1);
        })
        .join()
        .unwrap();
    }

    /// Spans started on some threads and ended on others: every node is
    /// owned by one span at a time (each owner writes its mark into the record
    /// and finds it intact when it gives the node back).
    #[test]
    fn nodes_moving_between_threads_are_never_owned_twice() {
        struct Owned(NonNull<Node>);
        // SAFETY: the node is owned by this value and moves with it.
        unsafe impl Send for Owned {}
        let per = if cfg!(miri) { 40 } else { 5_000 };
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Owned, u64)>(64);
        let mark = |n: NonNull<Node>, m: u64| {
            // SAFETY: the caller owns `n`.
            unsafe { (*n.as_ptr()).rec.start = m };
        };
        let check = |n: NonNull<Node>, m: u64| {
            // SAFETY: the caller owns `n`.
            assert_eq!(unsafe { (*n.as_ptr()).rec.start }, m, "node owned twice");
        };
        std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..per {
                    let n = take().unwrap();
                    mark(n, i);
                    // Half stay here (nested spans), half move.
                    if i % 2 == 0 {
                        let inner = take().unwrap();
                        mark(inner, u64::MAX - i);
                        check(n, i);
                        check(inner, u64::MAX - i);
                        // SAFETY: taken above, given back once.
                        unsafe { give_back(inner) };
                    }
                    tx.send((Owned(n), i)).unwrap();
                }
            });
            s.spawn(move || {
                while let Ok((n, i)) = rx.recv() {
                    check(n.0, i);
                    let own = take().unwrap();
                    mark(own, i + 1);
                    check(own, i + 1);
                    // SAFETY: each received or taken node is given back once.
                    unsafe { give_back(n.0) };
                    // SAFETY: taken above, given back once, not used after.
                    unsafe { give_back(own) };
                }
            });
        });
    }

    #[test]
    fn a_busy_list_hands_out_nothing_and_is_left_alone() {
        std::thread::spawn(|| {
            let a = take().unwrap();
            // What a signal handler sees when it interrupts a pool operation.
            LOCAL.with(|l| l.state.set(BUSY));
            assert!(take().is_none());
            let len = local_len();
            let b = NonNull::new(Box::into_raw(Box::new(Node {
                rec: bytemuck::Zeroable::zeroed(),
                next: ptr::null_mut(),
            })))
            .unwrap();
            // SAFETY: `b` is ours; a busy list leaves it alone (leaked).
            unsafe { give_back(b) };
            assert_eq!(local_len(), len, "the busy list was not touched");
            LOCAL.with(|l| l.state.set(IDLE));
            // SAFETY: taken above, given back once, not used after.
            unsafe { give_back(a) };
            // SAFETY: `b` was never linked anywhere: free it (for Miri).
            drop(unsafe { Box::from_raw(b.as_ptr()) });
        })
        .join()
        .unwrap();
    }
}
