//! Reports of one closure: [`Report::capture_of`], which the one-call test
//! helpers of [`testing`](crate::testing) draw.
//!
//! While the closure runs, its thread samples every block (whatever the
//! sampling mode, and without changing it for other threads), on a job path
//! of the scope's own: the report then holds that closure's callsites and
//! nothing of the test harness, the rest of the program, or an earlier call
//! of the same scope.

use serde::{Deserialize, Serialize};

use super::report::Report;
use crate::heap::AllocDelta;

/// What a report taken by [`Report::capture_of`] covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReportScope {
    /// The scope's name: the root frame of its stacks and job paths.
    pub name: String,
    /// What the closure allocated, freed and kept on its thread (as
    /// [`measure`](crate::measure) counts it: exact).
    pub allocations: AllocDelta,
}

impl Report {
    /// Runs `f` and returns its value with a report of what it allocated:
    /// every block `f` allocated on this thread is sampled (exact counts,
    /// whatever the [`sampling`](crate::callsites::sampling) mode), and the report's
    /// callsites and job paths are `f`'s alone, rooted at a frame named
    /// after the function that calls `capture_of`.
    ///
    /// The report's [`scope`](Report::scope) holds `f`'s exact
    /// [`AllocDelta`]; its heap totals and [`jobs`](Report::jobs) stay
    /// the whole program's. Threads that `f` starts are not in the scope
    /// (their blocks are sampled as the mode says, outside it). Without the
    /// `callsites` feature the report has no callsites.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: profiling_alloc::ProfilingAllocator = profiling_alloc::ProfilingAllocator::system();
    /// use profiling_alloc::{FlameKind, Report};
    ///
    /// fn tokenize(text: &str) -> Vec<String> {
    ///     text.split_whitespace().map(str::to_string).collect()
    /// }
    ///
    /// # fn main() {
    /// let (tokens, report) = Report::capture_of(|| tokenize("a few words of text"));
    /// assert_eq!(tokens.len(), 5);
    /// let scope = report.scope.as_ref().unwrap();
    /// // Five Strings, and the Vec: allocated with room for 4, then grown.
    /// assert_eq!(scope.allocations.total_blocks, 7);
    /// # #[cfg(feature = "callsites")]
    /// for line in report.folded(FlameKind::AllocatedBytes) {
    ///     assert!(line.contains("tokenize"), "{line}");
    /// }
    /// # }
    /// ```
    pub fn capture_of<R, F: FnOnce() -> R>(f: F) -> (R, Report) {
        let name = crate::job::function_path(std::any::type_name::<F>());
        Self::capture_scope(&name, f)
    }

    /// [`capture_of`](Report::capture_of) with the scope's name given.
    pub(crate) fn capture_scope<R>(name: &str, f: impl FnOnce() -> R) -> (R, Report) {
        let name: &'static str = {
            let _untracked = crate::capture::reentrancy::Untracked::enter();
            Box::leak(name.to_owned().into_boxed_str())
        };
        let ((value, allocations), node) = {
            let _every_block = EveryBlock::enter();
            crate::job::run_detached(name, || {
                crate::heap::measure(|| crate::job::__profiling_alloc_scope(f))
            })
        };
        let mut report = Report::capture_within(Some(node));
        report.scope = Some(ReportScope {
            name: name.to_string(),
            allocations,
        });
        (value, report)
    }
}

/// While alive, the calling thread samples every block; put back on drop
/// (also when the closure panics).
struct EveryBlock {
    #[cfg(feature = "callsites")]
    _forced: crate::capture::sampling::decision::ForcedEvery,
}

impl EveryBlock {
    fn enter() -> EveryBlock {
        // First make the allocator ask samplers (the mode may be `Off`),
        // then make this thread's sampler say yes.
        crate::capture::sampling::mode::enter_scope();
        EveryBlock {
            #[cfg(feature = "callsites")]
            _forced: crate::capture::sampling::decision::force_every(),
        }
    }
}

impl Drop for EveryBlock {
    fn drop(&mut self) {
        crate::capture::sampling::mode::leave_scope();
    }
}
