//! Job sites: one per `#[profile_job]` function (a `static` in its body) or
//! per name given to [`job`](crate::jobs::job). A site's statistics are allocated
//! and registered on its first call, under a lock, once; every later call
//! updates them with relaxed atomics and takes no lock.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU64};
use std::sync::Mutex;

use super::duration::DurationHistogram;
use crate::capture::reentrancy::Untracked;
use crate::heap::AllocDelta;

/// Where a job is defined. Built by `#[profile_job]` as a `static`; not meant
/// to be written by hand.
// Aligned to 8 on every target: `tracing::JobLayer` keeps flags in the low
// three bits of a site's address.
#[doc(hidden)]
#[derive(Debug)]
#[repr(align(8))]
pub struct JobSite {
    name: JobName,
    pub(crate) module_path: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
    stats: AtomicPtr<SiteStats>,
}

/// How a site's name is known.
#[derive(Debug)]
enum JobName {
    /// Given (`name = "..."`, or `job("...")`).
    Given(&'static str),
    /// The path of the function, read at registration from the type name of
    /// a function item declared inside it (`std::any::type_name`), which
    /// includes the `impl` block's type that a macro cannot see.
    Of(fn() -> &'static str),
}

impl JobSite {
    /// A site for the job `name` defined at `module_path`, `file:line`.
    pub const fn new(
        name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        JobSite {
            name: JobName::Given(name),
            module_path,
            file,
            line,
            stats: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// A site named after the function it is declared in: `name_of` returns
    /// `std::any::type_name` of a function item declared in the job's body.
    pub const fn named_after(
        name_of: fn() -> &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        JobSite {
            name: JobName::Of(name_of),
            module_path,
            file,
            line,
            stats: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The job's name. A given name is read without registering the site
    /// (a scope's site is never registered); a function's path registers it.
    pub(crate) fn name(&'static self) -> &'static str {
        match self.name {
            JobName::Given(name) => name,
            JobName::Of(_) => self.stats().name,
        }
    }

    /// The site's statistics, registering the site on its first call.
    #[inline]
    pub(crate) fn stats(&'static self) -> &'static SiteStats {
        let stats = self.stats.load(Acquire);
        if stats.is_null() {
            return self.register();
        }
        // SAFETY: a non-null pointer was stored by `register` from a leaked
        // `Box`, which lives for the rest of the program and is never mutated
        // except through atomics.
        unsafe { &*stats }
    }

    #[cold]
    fn register(&'static self) -> &'static SiteStats {
        // The registry and the statistics are the profiler's own memory.
        let _untracked = Untracked::enter();
        let mut sites = REGISTRY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let existing = self.stats.load(Acquire);
        if !existing.is_null() {
            // SAFETY: as in `stats`: set once from a leaked `Box`.
            return unsafe { &*existing };
        }
        let name = match self.name {
            JobName::Given(name) => name,
            JobName::Of(name_of) => Box::leak(function_path(name_of()).into_boxed_str()),
        };
        let stats: &'static SiteStats = Box::leak(Box::new(SiteStats::new(name)));
        self.stats
            .store(stats as *const SiteStats as *mut SiteStats, Release);
        sites.push(self);
        stats
    }
}

/// Every site that has been called, in order of first call.
static REGISTRY: Mutex<Vec<&'static JobSite>> = Mutex::new(Vec::new());

/// A copy of the registry's list (allocated normally: it is the caller's).
pub(crate) fn registered_sites() -> Vec<&'static JobSite> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Per-site counters. All updates are relaxed atomics: a reader racing with
/// running jobs sees each counter exact for some moment.
#[derive(Debug)]
pub(crate) struct SiteStats {
    /// The job's name (resolved when the site registered).
    pub(crate) name: &'static str,
    pub(crate) calls: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) total_nanos: AtomicU64,
    /// Shortest call (`u64::MAX` before the first).
    pub(crate) min_nanos: AtomicU64,
    pub(crate) max_nanos: AtomicU64,
    pub(crate) durations: DurationHistogram,
    /// Calls whose allocations were counted (the allocator was installed and
    /// the thread had a slot).
    pub(crate) measured_calls: AtomicU64,
    pub(crate) total_blocks: SumMax,
    pub(crate) total_bytes: SumMax,
    pub(crate) freed_bytes: SumMax,
    pub(crate) live_bytes_total: AtomicI64,
    pub(crate) live_bytes_max: AtomicI64,
    pub(crate) peak_bytes_max: AtomicU64,
    /// CPU time sampled inside the job's calls (CPU profiles, feature
    /// `cpu`), its nested jobs included.
    pub(crate) on_cpu_nanos: AtomicU64,
    /// Calls that ended while a CPU profile ran, and their wall time: what
    /// `on_cpu_nanos` is compared with.
    pub(crate) profiled_calls: AtomicU64,
    pub(crate) profiled_nanos: AtomicU64,
}

/// A sum and a per-call maximum.
#[derive(Debug, Default)]
pub(crate) struct SumMax {
    pub(crate) total: AtomicU64,
    pub(crate) max: AtomicU64,
}

impl SumMax {
    fn add(&self, value: u64) {
        // PERF: a locked read-modify-write costs several ns even uncontended;
        // skip the ones that cannot change anything (adding 0, a value not
        // above the maximum), which is most of them for small jobs.
        if value != 0 {
            self.total.fetch_add(value, Relaxed);
            raise(&self.max, value);
        }
    }

    fn clear(&self) {
        self.total.store(0, Relaxed);
        self.max.store(0, Relaxed);
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Returned normally (an `Ok`, or a type that is not a `Result`).
    Returned,
    /// Returned an `Err`.
    Failed,
    /// Unwound.
    Panicked,
    /// An async job dropped before it completed.
    Cancelled,
}

impl SiteStats {
    fn new(name: &'static str) -> Self {
        SiteStats {
            name,
            calls: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            total_nanos: AtomicU64::new(0),
            min_nanos: AtomicU64::new(u64::MAX),
            max_nanos: AtomicU64::new(0),
            durations: DurationHistogram::new(),
            measured_calls: AtomicU64::new(0),
            total_blocks: SumMax::default(),
            total_bytes: SumMax::default(),
            freed_bytes: SumMax::default(),
            live_bytes_total: AtomicI64::new(0),
            live_bytes_max: AtomicI64::new(i64::MIN),
            peak_bytes_max: AtomicU64::new(0),
            on_cpu_nanos: AtomicU64::new(0),
            profiled_calls: AtomicU64::new(0),
            profiled_nanos: AtomicU64::new(0),
        }
    }

    /// Records one finished call.
    pub(crate) fn record(&self, nanos: u64, outcome: Outcome, alloc: Option<&AllocDelta>) {
        self.calls.fetch_add(1, Relaxed);
        match outcome {
            Outcome::Returned => {}
            Outcome::Failed => {
                self.errors.fetch_add(1, Relaxed);
            }
            Outcome::Panicked => {
                self.panics.fetch_add(1, Relaxed);
            }
            Outcome::Cancelled => {
                self.cancelled.fetch_add(1, Relaxed);
            }
        }
        self.total_nanos.fetch_add(nanos, Relaxed);
        if super::stats::cpu_profiling() {
            self.profiled_calls.fetch_add(1, Relaxed);
            self.profiled_nanos.fetch_add(nanos, Relaxed);
        }
        if nanos < self.min_nanos.load(Relaxed) {
            self.min_nanos.fetch_min(nanos, Relaxed);
        }
        raise(&self.max_nanos, nanos);
        self.durations.record(nanos);
        if let Some(delta) = alloc {
            self.measured_calls.fetch_add(1, Relaxed);
            self.total_blocks.add(delta.total_blocks);
            self.total_bytes.add(delta.total_bytes);
            self.freed_bytes.add(delta.freed_bytes);
            if delta.live_bytes != 0 {
                self.live_bytes_total.fetch_add(delta.live_bytes, Relaxed);
            }
            if delta.live_bytes > self.live_bytes_max.load(Relaxed) {
                self.live_bytes_max.fetch_max(delta.live_bytes, Relaxed);
            }
            raise(&self.peak_bytes_max, delta.peak_bytes);
        }
    }

    /// Zeroes every counter.
    pub(crate) fn clear(&self) {
        for counter in [
            &self.calls,
            &self.panics,
            &self.errors,
            &self.cancelled,
            &self.total_nanos,
            &self.max_nanos,
            &self.measured_calls,
            &self.peak_bytes_max,
            &self.on_cpu_nanos,
            &self.profiled_calls,
            &self.profiled_nanos,
        ] {
            counter.store(0, Relaxed);
        }
        self.min_nanos.store(u64::MAX, Relaxed);
        self.durations.clear();
        self.total_blocks.clear();
        self.total_bytes.clear();
        self.freed_bytes.clear();
        self.live_bytes_total.store(0, Relaxed);
        self.live_bytes_max.store(i64::MIN, Relaxed);
    }
}

/// Raises `max` to `value` if higher; a plain load first, since most values
/// are not a new maximum.
#[inline]
fn raise(max: &AtomicU64, value: u64) {
    if value > max.load(Relaxed) {
        max.fetch_max(value, Relaxed);
    }
}

/// Sites for names given at run time ([`job`](crate::jobs::job), spans, routes):
/// an open-addressing table of pointers, looked up without a lock; a new
/// name is inserted with a compare-and-swap.
pub(crate) const DYNAMIC_SITES: usize = 1024;
static DYNAMIC: [AtomicPtr<JobSite>; DYNAMIC_SITES] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; DYNAMIC_SITES];

/// Where calls of new names go once [`DYNAMIC_SITES`] names are taken, so
/// that they are still counted (together).
static OVERFLOW: JobSite = JobSite::new(OVERFLOW_NAME, "", "", 0);

/// The name of the job that holds calls of names beyond the table's
/// [`DYNAMIC_SITES`].
pub(crate) const OVERFLOW_NAME: &str = "(other job names: more than 1024)";

/// The site for the run-time job name `name`, created on first use (the
/// name is copied then, once). Once [`DYNAMIC_SITES`] names are taken, new
/// names share one site, [`OVERFLOW_NAME`].
pub(crate) fn named_site(
    name: &str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
) -> &'static JobSite {
    let start = (fnv1a(name.as_bytes()) % DYNAMIC_SITES as u64) as usize;
    for probe in 0..DYNAMIC_SITES {
        let entry = &DYNAMIC[(start + probe) % DYNAMIC_SITES];
        let mut current = entry.load(Acquire);
        if current.is_null() {
            let site = {
                let _untracked = Untracked::enter();
                let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
                Box::into_raw(Box::new(JobSite::new(name, module_path, file, line)))
            };
            match entry.compare_exchange(std::ptr::null_mut(), site, Release, Acquire) {
                Ok(_) => current = site,
                Err(other) => {
                    let _untracked = Untracked::enter();
                    // SAFETY: `site` came from `Box::into_raw` just above and
                    // was never shared (the exchange failed). Its leaked name
                    // stays: a few bytes, once per lost race.
                    drop(unsafe { Box::from_raw(site) });
                    current = other;
                }
            }
        }
        // SAFETY: non-null entries come from `Box::into_raw` of sites that are
        // never freed once published.
        let site: &'static JobSite = unsafe { &*current };
        if matches!(site.name, JobName::Given(given) if given == name) {
            return site;
        }
    }
    &OVERFLOW
}

/// [`named_site`] for a name given in code, at the caller's location.
pub(crate) fn dynamic_site(
    name: &str,
    location: &'static std::panic::Location<'static>,
) -> &'static JobSite {
    named_site(name, "", location.file(), location.line())
}

/// `my_crate::Parser<_>::parse::__profiling_name` → `my_crate::Parser::parse`:
/// drops the marker function's own segment, closure segments (an `async fn`'s
/// body is one) and `<_>` placeholders of generic types.
pub(crate) fn function_path(type_name: &str) -> String {
    let path = type_name
        .strip_suffix("::__profiling_name")
        .unwrap_or(type_name);
    let mut path = path.replace("::{{closure}}", "");
    for placeholder in ["<_>", "<_, _>", "<_, _, _>"] {
        path = path.replace(placeholder, "");
    }
    path
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_paths_from_type_names() {
        let path = |name| function_path(name);
        assert_eq!(
            path("app::ingest::parse::__profiling_name"),
            "app::ingest::parse"
        );
        assert_eq!(
            path("app::Parser<_>::new::__profiling_name"),
            "app::Parser::new"
        );
        assert_eq!(
            path("<app::Csv<_, _> as app::Format>::parse::__profiling_name"),
            "<app::Csv as app::Format>::parse"
        );
        assert_eq!(
            path("app::fetch::{{closure}}::__profiling_name"),
            "app::fetch"
        );
    }
}
