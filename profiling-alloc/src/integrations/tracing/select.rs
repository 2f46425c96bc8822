//! Which spans a layer records, and under which job: the decision per
//! callsite, made once and cached, and the fields read from a span's values
//! (a name field, an `error` field).

use std::fmt::{self, Write as _};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Acquire, Release};

use tracing_core::field::{Field, Visit};
use tracing_core::{Level, Metadata};

use crate::integrations::NameBuf;
use crate::job::{named_site, JobSite};

/// A function that selects spans by their callsite's metadata.
pub(super) type Selector = Box<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>;

/// What a layer selects, in the words of its builder.
#[derive(Default)]
pub(super) struct Selection {
    pub(super) targets: Vec<String>,
    pub(super) names: Vec<String>,
    pub(super) fields: Vec<String>,
    pub(super) max_level: Option<Level>,
    pub(super) predicate: Option<Selector>,
    pub(super) name_field: Option<String>,
}

impl fmt::Debug for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selection")
            .field("targets", &self.targets)
            .field("names", &self.names)
            .field("fields", &self.fields)
            .field("max_level", &self.max_level)
            .field("predicate", &self.predicate.as_ref().map(|_| "Fn"))
            .field("name_field", &self.name_field)
            .finish()
    }
}

impl Selection {
    /// Whether spans of this callsite are recorded.
    fn selects(&self, meta: &Metadata<'_>) -> bool {
        let target = meta.target();
        let target_ok = self.targets.is_empty()
            || self.targets.iter().any(|wanted| {
                target == wanted
                    || target
                        .strip_prefix(wanted.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            });
        let name_ok = self.names.is_empty() || self.names.iter().any(|name| name == meta.name());
        let field_ok = self.fields.is_empty()
            || self
                .fields
                .iter()
                .any(|field| meta.fields().field(field).is_some());
        let level_ok = self.max_level.is_none_or(|max| *meta.level() <= max);
        let predicate_ok = self.predicate.as_ref().is_none_or(|select| select(meta));
        meta.is_span() && target_ok && name_ok && field_ok && level_ok && predicate_ok
    }

    /// The decision for a callsite, as cached.
    fn decide(&self, meta: &'static Metadata<'static>) -> usize {
        if !self.selects(meta) {
            return NOT_SELECTED;
        }
        // On the stack: the first span of a callsite allocates nothing
        // (the name's copy in the table is the profiler's, untracked).
        let mut name = NameBuf::default();
        let _ = write!(name, "{}::{}", meta.target(), meta.name());
        let site = named_site(
            name.as_str(),
            meta.module_path().unwrap_or(""),
            meta.file().unwrap_or(""),
            meta.line().unwrap_or(0),
        );
        let mut decision = site as *const JobSite as usize;
        if self
            .name_field
            .as_deref()
            .is_some_and(|field| meta.fields().field(field).is_some())
        {
            decision |= HAS_NAME_FIELD;
        }
        if meta.fields().field(ERROR_FIELD).is_some() {
            decision |= HAS_ERROR_FIELD;
        }
        decision
    }
}

/// The field whose value marks a span failed.
pub(super) const ERROR_FIELD: &str = "error";

/// A callsite's decision: a job site's address (`JobSite` is
/// `repr(align(8))`), with the flags below in its low bits; or
/// [`NOT_SELECTED`]; 0 while unknown.
const NOT_SELECTED: usize = 1;
const HAS_NAME_FIELD: usize = 2;
const HAS_ERROR_FIELD: usize = 4;
const FLAGS: usize = 7;

/// A selected callsite: its job, and which of its fields to read.
#[derive(Clone, Copy, Debug)]
pub(super) struct Decision {
    pub(super) site: &'static JobSite,
    pub(super) has_name_field: bool,
    pub(super) has_error_field: bool,
}

fn unpack(decision: usize) -> Option<Decision> {
    if decision == 0 || decision == NOT_SELECTED {
        return None;
    }
    let site = (decision & !FLAGS) as *const JobSite;
    // SAFETY: a selected decision holds the address of a `&'static JobSite`
    // from `named_site` (never freed) with flags in the three low bits, which
    // `JobSite`'s `repr(align(8))` leaves zero in every site's address (the
    // assertion below checks it at compile time).
    let site = unsafe { &*site };
    Some(Decision {
        site,
        has_name_field: decision & HAS_NAME_FIELD != 0,
        has_error_field: decision & HAS_ERROR_FIELD != 0,
    })
}

const _: () = assert!(std::mem::align_of::<JobSite>() >= 8);

/// Callsites cached per layer: more distinct span callsites than this are
/// decided again at each span (correct, slower, and still allocating
/// nothing tracked).
const CALLSITES: usize = 4096;

/// Entries a lookup tries before deciding without the cache.
const PROBES: usize = 16;

/// Decisions by callsite (the address of its `'static` metadata), in an
/// open-addressing table filled without a lock.
#[derive(Debug)]
pub(super) struct CallsiteCache {
    keys: Box<[AtomicUsize]>,
    decisions: Box<[AtomicUsize]>,
}

impl CallsiteCache {
    pub(super) fn new() -> CallsiteCache {
        CallsiteCache {
            keys: (0..CALLSITES).map(|_| AtomicUsize::new(0)).collect(),
            decisions: (0..CALLSITES).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// The decision for spans of `meta`, made once per callsite.
    #[inline]
    pub(super) fn decision(
        &self,
        meta: &'static Metadata<'static>,
        selection: &Selection,
    ) -> Option<Decision> {
        let key = meta as *const Metadata<'static> as usize;
        let start = (key >> 4).wrapping_mul(0x9E37_79B9) % CALLSITES;
        for probe in 0..PROBES {
            let index = (start + probe) % CALLSITES;
            let (Some(slot), Some(decision)) = (self.keys.get(index), self.decisions.get(index))
            else {
                break;
            };
            let mut current = slot.load(Acquire);
            if current == 0 {
                current = match slot.compare_exchange(0, key, Acquire, Acquire) {
                    Ok(_) => {
                        let made = selection.decide(meta);
                        decision.store(made, Release);
                        return unpack(made);
                    }
                    Err(other) => other,
                };
            }
            if current == key {
                return match decision.load(Acquire) {
                    // Being decided by another thread: decide here too.
                    0 => unpack(selection.decide(meta)),
                    made => unpack(made),
                };
            }
        }
        unpack(selection.decide(meta))
    }
}

/// Reads a span's name field and `error` field from its values.
pub(super) struct FieldReader<'a> {
    name_field: Option<&'a str>,
    /// The name field's value, if it was given.
    pub(super) name: Option<NameBuf>,
    /// Whether an `error` field was given a value other than `false`.
    pub(super) error: bool,
}

impl<'a> FieldReader<'a> {
    pub(super) fn new(name_field: Option<&'a str>) -> FieldReader<'a> {
        FieldReader {
            name_field,
            name: None,
            error: false,
        }
    }
}

impl Visit for FieldReader<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.name_field == Some(field.name()) {
            let mut name = NameBuf::default();
            let _ = name.write_str(value);
            self.name = Some(name);
        } else if field.name() == ERROR_FIELD {
            self.error = true;
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == ERROR_FIELD {
            self.error |= value;
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name_field == Some(field.name()) {
            let mut name = NameBuf::default();
            let _ = write!(name, "{value:?}");
            self.name = Some(name);
        } else if field.name() == ERROR_FIELD {
            self.error = true;
        }
    }
}
