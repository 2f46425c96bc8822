//! Lifetime classes: how long a sampled block lived, in decades of
//! nanoseconds.

/// Upper bounds of [`Callsite::lifetimes`](crate::Callsite::lifetimes)'
/// classes, in nanoseconds: under 1 µs, 1–10 µs, 10–100 µs, 0.1–1 ms,
/// 1–10 ms, 10–100 ms, 0.1–1 s, 1–10 s; a ninth class holds 10 s and more.
pub const LIFETIME_CLASS_BOUNDS_NS: [u64; 8] = [
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// The number of lifetime classes (the bounds, and one above them).
#[cfg_attr(not(feature = "callsites"), allow(dead_code))]
pub(crate) const LIFETIME_CLASSES: usize = LIFETIME_CLASS_BOUNDS_NS.len() + 1;

/// The lifetime class of `nanos`.
#[cfg_attr(not(feature = "callsites"), allow(dead_code))]
pub(crate) fn lifetime_class(nanos: u64) -> usize {
    LIFETIME_CLASS_BOUNDS_NS
        .iter()
        .position(|&bound| nanos < bound)
        .unwrap_or(LIFETIME_CLASS_BOUNDS_NS.len())
}
