//! How `#[profile_job]` tells an `Err` return from any other value, for any
//! return type: autoref-based dispatch picks [`ErrorOutcome`] when the value
//! is a `core::result::Result` (or an alias of it), and falls back to
//! [`OtherOutcome`] ("never an error") for everything else, including a user
//! type that happens to be called `Result`.
//!
//! The expansion writes `(&&Outcome(&value)).is_error()`: the receiver
//! `&&Outcome<Result<..>>` matches `ErrorOutcome` without auto-deref; any
//! other `T` needs one deref and reaches `OtherOutcome`.

/// A borrowed return value being classified.
#[doc(hidden)]
#[derive(Debug)]
pub struct Outcome<'a, T>(pub &'a T);

/// Chosen for `Result`: `Err` is an error.
#[doc(hidden)]
pub trait ErrorOutcome {
    /// Whether the value is an `Err`.
    fn is_error(&self) -> bool;
}

impl<T, E> ErrorOutcome for &Outcome<'_, Result<T, E>> {
    fn is_error(&self) -> bool {
        self.0.is_err()
    }
}

/// Chosen for every other type: never an error.
#[doc(hidden)]
pub trait OtherOutcome {
    /// Always `false`.
    fn is_error(&self) -> bool;
}

impl<T> OtherOutcome for Outcome<'_, T> {
    fn is_error(&self) -> bool {
        false
    }
}

/// Calls `f` once. The expansion runs a `Result`-returning body through this
/// rather than calling the closure directly, so that the closure is inferred
/// as `FnOnce` and may return borrows of what it captured by move (a
/// `&mut self` method returning `Result<&mut T, E>`).
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Result;

    #[test]
    #[allow(clippy::needless_borrow)] // the double reference is the dispatch under test
    fn dispatch_picks_err_for_results_only() {
        let ok: std::result::Result<u8, ()> = Ok(1);
        let err: std::io::Result<u8> = Err(std::io::ErrorKind::Other.into());
        assert!(!(&&Outcome(&ok)).is_error());
        assert!((&&Outcome(&err)).is_error());
        assert!(!(&&Outcome(&5u32)).is_error());
        assert!(
            !(&&Outcome(&Result)).is_error(),
            "a type merely named Result"
        );
    }
}
