//! Where the records of live spans are built. A [`Span`](super::Span) is a
//! handle on a pool node: starting one neither zeroes nor moves a 248-byte
//! record (when the record lived inside the `Span`, zeroing it and moving the
//! returned `Span` into the caller's variable were a fifth of a span's cost);
//! ending it copies the record into the ring once and gives the node back.
//!
//! Each thread keeps up to [`LOCAL_MAX`] free nodes in a stack of pointers, a
//! thread-local without a destructor (a plain thread-pointer access, no lazy
//! registration on the hot path; taking a node is two loads and a store, with
//! no load from the node itself). A node is owned by exactly one of: a live
//! span, one thread's stack (or its spare list), or the shared list. Spans are
//! `Send`, so a span may end on another thread: its node joins that thread's
//! stack and nodes drift between threads. A thread whose stack is full moves
//! half of it to the shared list; a thread whose stack is empty takes from the
//! shared list before it allocates. Nodes are never freed: the pool holds as
//! many nodes as spans were ever alive at once, plus the threads' stacks (at
//! most [`LOCAL_MAX`] each), 256 bytes each. Allocation happens only when the
//! stack and the lists are empty: once per thread at its first span, then only
//! when more spans are alive at once than ever before.
//!
//! A thread's stack is marked busy while it is changed, so a signal handler
//! that interrupts a pool operation of its own thread never sees it half
//! changed: a span the handler starts then has no record (the tracer counts it
//! as lost) and a node the handler gives back is leaked. The shared list is
//! only ever try-locked on the write path: when it is busy, a full stack keeps
//! the node on its spare list instead. When the thread exits its stack and
//! spares move to the shared list; spans that start or end after that (in
//! other thread-locals' destructors) use the shared list directly.

use std::cell::{Cell, UnsafeCell};
use std::ptr::{self, NonNull};
use std::sync::Mutex;
use std::sync::atomic::{Ordering, compiler_fence};

use crate::record::Record;

/// A span's record and the shared list's link. 256 bytes, cache-line
/// aligned, so a record never shares a line with another span's; the link
/// is in the last line, which a typical span's record does not reach.
#[repr(C, align(64))]
pub(crate) struct Node {
    pub(crate) rec: Record,
    next: *mut Node,
}

const _: () = assert!(std::mem::size_of::<Node>() == 256);

/// Free nodes a thread keeps. Past it, half goes to the shared list (a
/// thread that ends spans other threads started would otherwise keep them
/// all).
const LOCAL_MAX: usize = 64;
/// Nodes allocated at once when the stack and the lists are empty.
const CHUNK: usize = 16;

/// The thread's stack is not being changed.
const IDLE: u8 = 0;
/// The thread's stack is being changed (a signal handler that runs now must
/// not touch it).
const BUSY: u8 = 1;
/// The thread has not used the pool yet: its exit hook is not registered.
const FRESH: u8 = 2;
/// The thread is exiting and its stack went to the shared list.
const EXITED: u8 = 3;

struct Local {
    nodes: UnsafeCell<[*mut Node; LOCAL_MAX]>,
    len: Cell<usize>,
    state: Cell<u8>,
    /// Nodes given back while the stack was full and the shared list busy
    /// (another thread held it): kept here, never leaked, and used before the
    /// shared list when the stack runs empty.
    spare: UnsafeCell<List>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            nodes: UnsafeCell::new([ptr::null_mut(); LOCAL_MAX]),
            len: Cell::new(0),
            state: Cell::new(FRESH),
            spare: UnsafeCell::new(List::EMPTY),
        }
    };
    /// Moves the thread's stack to the shared list when the thread exits.
    static EXIT: ExitHook = const { ExitHook };
}

impl Local {
    /// Marks the stack busy. A signal handler that ran before this finished
    /// its own pool operations; one that runs after it sees BUSY. The fence
    /// keeps the compiler from touching the stack before the store.
    #[inline(always)]
    fn enter(&self) {
        self.state.set(BUSY);
        compiler_fence(Ordering::SeqCst);
    }

    #[inline(always)]
    fn leave(&self) {
        compiler_fence(Ordering::SeqCst);
        self.state.set(IDLE);
    }

    /// The spare list.
    ///
    /// # Safety
    /// As for [`Local::slots`].
    #[allow(clippy::mut_from_ref)]
    unsafe fn spare(&self) -> &mut List {
        // SAFETY: per the caller; the thread-local is this thread's alone.
        unsafe { &mut *self.spare.get() }
    }

    /// The stack's slots.
    ///
    /// # Safety
    /// The stack is marked BUSY by the caller (so nothing else on this
    /// thread uses the slots meanwhile), and the borrow ends before it leaves.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn slots(&self) -> &mut [*mut Node; LOCAL_MAX] {
        // SAFETY: per the caller; the thread-local is this thread's alone.
        unsafe { &mut *self.nodes.get() }
    }
}

/// A singly linked list of free nodes, owned by whoever holds the value.
struct List {
    head: *mut Node,
    len: usize,
}

// SAFETY: the list owns its nodes exclusively; nothing else points at them.
unsafe impl Send for List {}

impl List {
    const EMPTY: List = List {
        head: ptr::null_mut(),
        len: 0,
    };

    /// Links `nodes` (at least one, all owned by the caller) into a list.
    ///
    /// # Safety
    /// The caller owns every node in `nodes` and hands them over.
    unsafe fn of(nodes: &[*mut Node]) -> List {
        for pair in nodes.windows(2) {
            // SAFETY: per the caller.
            unsafe { (*pair[0]).next = pair[1] };
        }
        // SAFETY: per the caller, there is a last node and it is ours.
        unsafe { (*nodes[nodes.len() - 1]).next = ptr::null_mut() };
        List {
            head: nodes[0],
            len: nodes.len(),
        }
    }

    /// [`CHUNK`] new zeroed nodes; empty if memory ran out.
    fn new_chunk() -> List {
        let layout = std::alloc::Layout::array::<Node>(CHUNK).expect("a small array");
        // SAFETY: the layout has a non-zero size.
        let nodes = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Node>();
        if nodes.is_null() {
            return List::EMPTY;
        }
        for i in 0..CHUNK - 1 {
            // SAFETY: `nodes` holds CHUNK zeroed nodes (all-zero is a valid
            // `Node`: a zeroed record and a null link); never freed.
            unsafe { (*nodes.add(i)).next = nodes.add(i + 1) };
        }
        List {
            head: nodes,
            len: CHUNK,
        }
    }

    /// Takes the first node.
    fn pop(&mut self) -> Option<NonNull<Node>> {
        let node = NonNull::new(self.head)?;
        // SAFETY: the list owns `node`; it leaves the list here.
        self.head = std::mem::replace(unsafe { &mut (*node.as_ptr()).next }, ptr::null_mut());
        self.len -= 1;
        Some(node)
    }

    /// Adds `node`, which the caller hands over, in front.
    ///
    /// # Safety
    /// The caller owns `node` and hands it over.
    unsafe fn push(&mut self, node: NonNull<Node>) {
        // SAFETY: per the caller.
        unsafe { (*node.as_ptr()).next = self.head };
        self.head = node.as_ptr();
        self.len += 1;
    }

    /// The node at index `i < self.len` (a walk from the front).
    fn at(&self, i: usize) -> *mut Node {
        debug_assert!(i < self.len);
        let mut node = self.head;
        for _ in 0..i {
            // SAFETY: the list owns more than `i` nodes.
            node = unsafe { (*node).next };
        }
        node
    }

    /// Up to `n` nodes from the front.
    fn take_front(&mut self, n: usize) -> List {
        let n = n.min(self.len);
        if n == 0 {
            return List::EMPTY;
        }
        let head = self.head;
        // SAFETY: the list owns its nodes; the first `n` leave it here.
        self.head = std::mem::replace(unsafe { &mut (*self.at(n - 1)).next }, ptr::null_mut());
        self.len -= n;
        List { head, len: n }
    }

    /// Puts all of `front`'s nodes before this list's.
    fn prepend(&mut self, front: List) {
        if front.len == 0 {
            return;
        }
        // SAFETY: this list takes over `front`'s nodes, the last one linked
        // to the old head.
        unsafe { (*front.at(front.len - 1)).next = self.head };
        self.head = front.head;
        self.len += front.len;
    }
}

static SHARED: Mutex<List> = Mutex::new(List::EMPTY);

/// A free node for a new span, or `None` when the thread's stack is busy (a
/// signal handler interrupted a pool operation of this thread) or memory ran
/// out. The caller owns the node until it passes it to [`give_back`].
#[inline(always)]
pub(crate) fn take() -> Option<NonNull<Node>> {
    LOCAL.with(|l| {
        let len = l.len.get();
        if l.state.get() != IDLE || len == 0 {
            return take_cold(l);
        }
        l.enter();
        // SAFETY: BUSY; the stack holds `len >= 1` nodes, all ours.
        let node = unsafe { l.slots()[len - 1] };
        l.len.set(len - 1);
        l.leave();
        NonNull::new(node)
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
        let len = l.len.get();
        if l.state.get() != IDLE || len >= LOCAL_MAX {
            // SAFETY: per the caller.
            return unsafe { give_back_cold(l, node) };
        }
        l.enter();
        // SAFETY: BUSY; `len < LOCAL_MAX`, and the caller hands over `node`.
        unsafe { l.slots()[len] = node.as_ptr() };
        l.len.set(len + 1);
        l.leave();
    })
}

/// [`take`] when the thread's stack is not idle or is empty.
#[cold]
#[inline(never)]
fn take_cold(l: &Local) -> Option<NonNull<Node>> {
    match l.state.get() {
        IDLE => {}
        FRESH if start_using(l) => {}
        FRESH | EXITED => {
            // No stack: one node, the rest of a new chunk shared (leaked if
            // the shared list is busy).
            let mut got = take_shared_or_new(1);
            let node = got.pop();
            let _ = put_shared(got);
            return node;
        }
        _ => return None, // BUSY: a signal handler interrupted this thread's pool work
    }
    l.enter();
    // Fill the empty stack with half its size from the spare list, the
    // shared list, or new nodes, and take one.
    // SAFETY: BUSY.
    let mut got = unsafe { l.spare() }.take_front(LOCAL_MAX / 2);
    if got.len == 0 {
        got = take_shared_or_new(LOCAL_MAX / 2);
    }
    let n = got.len;
    // SAFETY: BUSY; `n <= LOCAL_MAX`. The list's first node goes on top: a
    // chunk's nodes are handed out in address order.
    for slot in unsafe { l.slots() }[..n].iter_mut().rev() {
        *slot = got.pop().map_or(ptr::null_mut(), NonNull::as_ptr);
    }
    let node = n.checked_sub(1).map(|last| {
        // SAFETY: as above.
        unsafe { l.slots()[last] }
    });
    l.len.set(n.saturating_sub(1));
    l.leave();
    node.and_then(NonNull::new)
}

/// A thread's first use of the pool: registers the hook that hands the
/// thread's stack over when it exits, and marks the stack idle. False (the
/// stack marked exited) if the thread is already exiting.
fn start_using(l: &Local) -> bool {
    // Err only if the hook's destructor already ran (it marks EXITED too).
    if EXIT.try_with(|_| ()).is_err() {
        l.state.set(EXITED);
        return false;
    }
    l.state.set(IDLE);
    true
}

/// [`give_back`] when the thread's stack is not idle or is full.
#[cold]
#[inline(never)]
unsafe fn give_back_cold(l: &Local, node: NonNull<Node>) {
    match l.state.get() {
        IDLE => {}
        FRESH if start_using(l) => {}
        FRESH | EXITED => {
            let mut one = List::EMPTY;
            // SAFETY: per the caller, `node` is ours to hand over.
            unsafe { one.push(node) };
            // If the shared list is busy, the node is leaked (256 bytes).
            let _ = put_shared(one);
            return;
        }
        _ => return, // BUSY: a signal handler interrupted this thread; leaked
    }
    l.enter();
    let mut len = l.len.get();
    if len == LOCAL_MAX {
        // Half the stack goes to the shared list, with any spare nodes, if
        // the shared list is free now; if not, this node becomes a spare.
        let half = LOCAL_MAX / 2;
        match try_lock() {
            Some(mut shared) => {
                // SAFETY: BUSY; the top half of the stack and the spares are
                // our nodes, handed over.
                unsafe {
                    shared.prepend(List::of(&l.slots()[half..]));
                    shared.prepend(l.spare().take_front(usize::MAX));
                }
                len = half;
            }
            None => {
                // SAFETY: BUSY; the caller hands over `node`.
                unsafe { l.spare().push(node) };
                l.leave();
                return;
            }
        }
    }
    // SAFETY: BUSY; `len < LOCAL_MAX`; the caller hands over `node`.
    unsafe { l.slots()[len] = node.as_ptr() };
    l.len.set(len + 1);
    l.leave();
}

/// Up to `n` nodes from the shared list or, if it is empty or busy, a new
/// chunk ([`CHUNK`] nodes, whatever `n`); empty only if memory ran out.
fn take_shared_or_new(n: usize) -> List {
    let got = try_lock().map_or(List::EMPTY, |mut shared| shared.take_front(n));
    if got.len > 0 { got } else { List::new_chunk() }
}

/// Puts `list` in front of the shared list, or gives it back if the shared
/// list is busy.
fn put_shared(list: List) -> Result<(), List> {
    if list.len == 0 {
        return Ok(());
    }
    match try_lock() {
        Some(mut shared) => {
            shared.prepend(list);
            Ok(())
        }
        None => Err(list),
    }
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

struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        // Runs at thread exit, not from a signal handler: waiting for the
        // shared list is fine here.
        let _ = LOCAL.try_with(|l| {
            l.enter();
            let len = l.len.replace(0);
            let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            if len > 0 {
                // SAFETY: BUSY; the stack's `len` nodes are ours, handed over.
                shared.prepend(unsafe { List::of(&l.slots()[..len]) });
            }
            // SAFETY: BUSY; the spares are ours, handed over.
            shared.prepend(unsafe { l.spare() }.take_front(usize::MAX));
            drop(shared);
            compiler_fence(Ordering::SeqCst);
            l.state.set(EXITED);
        });
    }
}

#[cfg(test)]
pub(super) fn set_busy(busy: bool) {
    LOCAL.with(|l| {
        if l.state.get() == FRESH {
            start_using(l);
        }
        l.state.set(if busy { BUSY } else { IDLE });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_len() -> usize {
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
    fn a_full_stack_sends_half_to_the_shared_list() {
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
            // More nodes came back than a stack keeps: it passed LOCAL_MAX and
            // gave half away. (Had another thread held the shared list at that
            // moment, the next give-back would have.)
            assert!(spilled >= 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_stack_keeps_a_spare_while_the_shared_list_is_busy() {
        std::thread::spawn(|| {
            let mut held: Vec<_> = (0..LOCAL_MAX + 1).map(|_| take().unwrap()).collect();
            while local_len() < LOCAL_MAX {
                // SAFETY: each node taken above, given back once.
                unsafe { give_back(held.pop().unwrap()) };
            }
            let spare = held.pop().unwrap();
            {
                let _busy = SHARED.lock().unwrap(); // another thread holds it
                // SAFETY: as above.
                unsafe { give_back(spare) };
            }
            assert_eq!(local_len(), LOCAL_MAX, "the full stack kept its nodes");
            // SAFETY: no pool operation is running on this thread.
            assert_eq!(LOCAL.with(|l| unsafe { l.spare() }.len), 1);
            held.extend((0..LOCAL_MAX).map(|_| take().unwrap()));
            assert_eq!(take(), Some(spare), "an empty stack takes the spare first");
            // SAFETY: as above.
            assert_eq!(LOCAL.with(|l| unsafe { l.spare() }.len), 0);
            held.push(spare);
            for n in held {
                // SAFETY: as above.
                unsafe { give_back(n) };
            }
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
    fn a_busy_stack_hands_out_nothing_and_is_left_alone() {
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
            // SAFETY: `b` is ours; a busy stack leaves it alone (leaked).
            unsafe { give_back(b) };
            assert_eq!(local_len(), len, "the busy stack was not touched");
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
