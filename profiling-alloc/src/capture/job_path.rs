//! The chain of jobs a call runs inside (its job path), kept as a tree of
//! nodes: one per distinct (parent path, site). The tree only grows; nodes are
//! found and added without a lock (a compare-and-swap on a parent's list of
//! children), and each node counts the calls on its path, their wall time,
//! and their busy and self busy time (`busy`), which is what a job-time
//! flamegraph draws.

use std::cell::Cell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicPtr, AtomicU64};

use super::reentrancy::Untracked;

/// Which job a node is for. Opaque on this floor: the address of the job's
/// site, a `'static` value of the `job` module that the floor never reads
/// (as Go's runtime keeps a goroutine's profile labels as a pointer that
/// only `runtime/pprof` interprets). The `job` module makes every id and is
/// the one that turns it back into its site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SiteId(*const ());

// SAFETY: an id is an address that this floor compares and never reads
// through; the `job` module only makes ids from `&'static` sites that are
// `Sync`.
unsafe impl Sync for SiteId {}
// SAFETY: as above.
unsafe impl Send for SiteId {}

impl SiteId {
    /// The id of a `'static` site.
    ///
    /// # Safety
    ///
    /// `site` must be the `job` module's `JobSite`: `job::path::site_of`
    /// turns every id back into a `&'static JobSite`.
    pub(crate) unsafe fn of<T: Sync>(site: &'static T) -> SiteId {
        SiteId(std::ptr::from_ref(site).cast())
    }

    /// The address [`of`](Self::of) was given.
    pub(crate) fn as_ptr(self) -> *const () {
        self.0
    }
}

/// One job path: `site` called inside `parent`'s path.
#[derive(Debug)]
pub(crate) struct PathNode {
    pub(crate) site: SiteId,
    pub(crate) parent: Option<&'static PathNode>,
    /// First child (a list linked through `next_sibling`).
    children: AtomicPtr<PathNode>,
    /// Set before the node is published, never changed after.
    next_sibling: *const PathNode,
    pub(crate) calls: AtomicU64,
    /// Wall time of the calls, first poll to completion for async ones.
    pub(crate) total_nanos: AtomicU64,
    /// Time spent running the calls: a sync call's duration, the sum of an
    /// async call's polls.
    pub(crate) busy_nanos: AtomicU64,
    /// `busy_nanos` less that of the jobs run inside these calls on the
    /// same thread (see `busy`).
    pub(crate) self_busy_nanos: AtomicU64,
    /// Number of jobs on the path (1 for a top-level job).
    depth: usize,
}

/// Longest job path kept: deeper calls (deep recursion) are counted on the
/// node at this depth, which keeps the tree, and the time to read it, bounded.
pub(crate) const MAX_DEPTH: usize = 64;

// SAFETY: `next_sibling` is written only before the node is published (while
// one thread owns it) and only read afterwards; every other field is an atomic
// or a shared reference to a `Sync` type.
unsafe impl Sync for PathNode {}
// SAFETY: as above; nodes are never freed once published, so sending the
// reference around is sound.
unsafe impl Send for PathNode {}

/// Paths that start at a top-level job.
static ROOTS: AtomicPtr<PathNode> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    // `const`, no destructor: readable at any time, never allocates.
    static CURRENT: Cell<Option<&'static PathNode>> = const { Cell::new(None) };
}

impl PathNode {
    /// A node for `site` inside `parent`, with no children and zero counts,
    /// to be published in front of `next_sibling` (null: a detached node).
    fn new(
        parent: Option<&'static PathNode>,
        site: SiteId,
        next_sibling: *const PathNode,
    ) -> PathNode {
        PathNode {
            site,
            parent,
            children: AtomicPtr::new(std::ptr::null_mut()),
            next_sibling,
            calls: AtomicU64::new(0),
            total_nanos: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            self_busy_nanos: AtomicU64::new(0),
            depth: parent.map_or(1, |parent| parent.depth + 1),
        }
    }

    /// Adds one call of `nanos` (wall time) to this path.
    pub(crate) fn record(&self, nanos: u64) {
        self.calls.fetch_add(1, Relaxed);
        self.total_nanos.fetch_add(nanos, Relaxed);
    }

    /// Adds `busy` nanoseconds of running (a sync call, or one poll), of
    /// which `self_busy` outside nested jobs.
    pub(crate) fn add_busy(&self, busy: u64, self_busy: u64) {
        self.busy_nanos.fetch_add(busy, Relaxed);
        self.self_busy_nanos.fetch_add(self_busy, Relaxed);
    }

    /// Sets every count of this path to zero.
    pub(crate) fn clear(&self) {
        for count in [
            &self.calls,
            &self.total_nanos,
            &self.busy_nanos,
            &self.self_busy_nanos,
        ] {
            count.store(0, Relaxed);
        }
    }

    /// Whether `ancestor` is this node or one of the nodes it runs inside.
    #[cfg_attr(not(any(feature = "callsites", feature = "tracing")), allow(dead_code))]
    pub(crate) fn is_within(&'static self, ancestor: &'static PathNode) -> bool {
        let mut node = Some(self);
        while let Some(n) = node {
            if std::ptr::eq(n, ancestor) {
                return true;
            }
            node = n.parent;
        }
        false
    }

    fn first_child(&self) -> Option<&'static PathNode> {
        load(&self.children)
    }

    fn next(&self) -> Option<&'static PathNode> {
        // SAFETY: `next_sibling` is null or points to a published node, which
        // is never freed.
        unsafe { self.next_sibling.as_ref() }
    }
}

fn load(list: &AtomicPtr<PathNode>) -> Option<&'static PathNode> {
    // SAFETY: list heads are null or point to published nodes, never freed.
    unsafe { list.load(Acquire).as_ref() }
}

/// The node for `site` called inside `parent` (or at top level), created on
/// first use.
pub(crate) fn child_of(parent: Option<&'static PathNode>, site: SiteId) -> &'static PathNode {
    if let Some(parent) = parent.filter(|parent| parent.depth >= MAX_DEPTH) {
        return parent;
    }
    let list = match parent {
        Some(parent) => &parent.children,
        None => &ROOTS,
    };
    loop {
        let head = list.load(Acquire);
        let mut node = load(list);
        while let Some(candidate) = node {
            if candidate.site == site {
                return candidate;
            }
            node = candidate.next();
        }
        let new = {
            let _untracked = Untracked::enter();
            Box::into_raw(Box::new(PathNode::new(parent, site, head)))
        };
        match list.compare_exchange(head, new, Release, Relaxed) {
            // SAFETY: `new` is now published and never freed.
            Ok(_) => return unsafe { &*new },
            Err(_) => {
                // Another thread added a child first: drop ours, look again.
                let _untracked = Untracked::enter();
                // SAFETY: `new` came from `Box::into_raw` above and was never
                // published.
                drop(unsafe { Box::from_raw(new) });
            }
        }
    }
}

/// A node of its own for `site` inside `parent`, outside the tree that
/// [`for_each_node`] walks: a scope (`callsites::scope`) whose samples and
/// job paths must be told apart from every other call of the same name.
pub(crate) fn detached(parent: Option<&'static PathNode>, site: SiteId) -> &'static PathNode {
    let _untracked = Untracked::enter();
    Box::leak(Box::new(PathNode::new(parent, site, std::ptr::null())))
}

/// The calling thread's current job path.
pub(crate) fn current() -> Option<&'static PathNode> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

/// Makes `node` the calling thread's current path until the returned guard is
/// dropped (which puts the previous one back, also when unwinding).
pub(crate) fn enter(node: &'static PathNode) -> PathGuard {
    let previous = CURRENT
        .try_with(|current| current.replace(Some(node)))
        .ok()
        .flatten();
    PathGuard { previous }
}

/// Restores the previous job path on drop.
#[derive(Debug)]
pub(crate) struct PathGuard {
    previous: Option<&'static PathNode>,
}

impl PathGuard {
    /// Ends this guard while `above`, made after it on the same thread, is
    /// still held (guards dropped out of order): `above` will put back what
    /// this one would have, and the thread's path stays as it is now.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn close_under(self, above: &mut PathGuard) {
        above.previous = self.previous;
        std::mem::forget(self);
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(self.previous));
    }
}

/// Calls `f` on every node, parents before children.
pub(crate) fn for_each_node(f: impl FnMut(&'static PathNode)) {
    walk_from(load(&ROOTS), f);
}

/// Calls `f` on `node` and every path inside it, parents before children.
pub(crate) fn for_each_node_within(node: &'static PathNode, mut f: impl FnMut(&'static PathNode)) {
    f(node);
    walk_from(node.first_child(), f);
}

/// Calls `f` on `first`, its siblings, and everything inside them.
fn walk_from(first: Option<&'static PathNode>, mut f: impl FnMut(&'static PathNode)) {
    let mut stack: Vec<&'static PathNode> = Vec::new();
    let mut node = first;
    while let Some(n) = node {
        stack.push(n);
        node = n.next();
    }
    while let Some(n) = stack.pop() {
        f(n);
        let mut child = n.first_child();
        while let Some(c) = child {
            stack.push(c);
            child = c.next();
        }
    }
}
