//! `PROFILING_ALLOC_SAMPLING`: the sampling mode chosen without a rebuild.
//!
//! Read once, at the allocator's first call (when it first needs its mode),
//! with `getenv`, which on Linux (glibc, musl) neither allocates nor locks,
//! and parsed from the bytes in place; its first 64 bytes are kept for the
//! report. Elsewhere the variable is not read (the first allocation may
//! come before anything else is ready, and other C libraries lock). Values: `off`, `every`, `poisson` (512 KiB) or
//! `poisson:SIZE`, where SIZE is a number of bytes with an optional unit
//! `B`, `KiB`, `MiB` or `GiB` (`poisson:64KiB`); case and surrounding
//! blanks do not matter. A value that is none of these keeps the mode the
//! allocator was built with; the report's settings say which applied and
//! why ([`origin`]).

use super::mode::Sampling;

/// The environment variable that chooses the sampling mode.
pub const SAMPLING_VAR: &str = "PROFILING_ALLOC_SAMPLING";

/// What the variable said, at the allocator's first call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FromEnv {
    /// Not set (or not readable on this platform).
    Unset,
    /// A valid mode.
    Mode(Sampling),
    /// Set to something that is not a mode.
    Invalid,
}

/// The variable's value as read, for the report: its first 64 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EnvValue {
    bytes: [u8; 64],
    len: usize,
    /// Whether the value was longer.
    cut: bool,
}

impl EnvValue {
    /// Nothing read.
    pub(crate) const EMPTY: EnvValue = EnvValue {
        bytes: [0; 64],
        len: 0,
        cut: false,
    };

    fn keep(value: &[u8]) -> EnvValue {
        let mut kept = EnvValue::EMPTY;
        let len = value.len().min(kept.bytes.len());
        if let (Some(to), Some(from)) = (kept.bytes.get_mut(..len), value.get(..len)) {
            to.copy_from_slice(from);
            kept.len = len;
            kept.cut = value.len() > len;
        }
        kept
    }

    /// The value as text (lossy; `…` when it was longer).
    fn text(&self) -> String {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        if self.cut {
            text.push('…');
        }
        text
    }
}

/// Reads and parses the variable, and keeps its value. Safe to call from
/// the allocator: no allocation, no lock, no system call.
pub(crate) fn read() -> (FromEnv, EnvValue) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the name is a NUL-terminated C string. glibc's and musl's
        // `getenv` take no lock and allocate nothing; they return null or a
        // pointer to a NUL-terminated string of the environment, which is
        // read at once. A `setenv` on another thread at this moment could
        // free it: the same race every reader of the environment has (why
        // std's `set_var` is `unsafe`); the allocator's first call comes
        // before `main`, before a program's threads change the environment.
        let value = unsafe { libc::getenv(c"PROFILING_ALLOC_SAMPLING".as_ptr()) };
        if value.is_null() {
            return (FromEnv::Unset, EnvValue::EMPTY);
        }
        // SAFETY: non-null and NUL-terminated (see above).
        let bytes = unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes();
        let read = match parse(bytes) {
            Some(mode) => FromEnv::Mode(mode),
            None => FromEnv::Invalid,
        };
        (read, EnvValue::keep(bytes))
    }
    #[cfg(not(target_os = "linux"))]
    (FromEnv::Unset, EnvValue::EMPTY)
}

/// Parses a value of the variable; `None` if it is not a mode.
pub(crate) fn parse(value: &[u8]) -> Option<Sampling> {
    let value = value.trim_ascii();
    if value.eq_ignore_ascii_case(b"off") {
        return Some(Sampling::Off);
    }
    if value.eq_ignore_ascii_case(b"every") {
        return Some(Sampling::Every);
    }
    let (head, size) = match value.iter().position(|&b| b == b':') {
        Some(colon) => {
            let (head, rest) = value.split_at(colon);
            (head, rest.get(1..))
        }
        None => (value, None),
    };
    if !head.trim_ascii().eq_ignore_ascii_case(b"poisson") {
        return None;
    }
    let Some(size) = size else {
        return Some(Sampling::poisson());
    };
    let mean_bytes = parse_size(size.trim_ascii())?;
    (mean_bytes > 0).then_some(Sampling::Poisson { mean_bytes })
}

/// `65536`, `64KiB`, `64 KiB`, `1MiB`: whole bytes in binary units.
fn parse_size(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let (digits, unit) = text.split_at(digits);
    let mut number: u64 = 0;
    for &digit in digits {
        number = number
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    let unit = unit.trim_ascii();
    let scale: u64 = if unit.is_empty() || unit.eq_ignore_ascii_case(b"b") {
        1
    } else if unit.eq_ignore_ascii_case(b"kib") {
        1 << 10
    } else if unit.eq_ignore_ascii_case(b"mib") {
        1 << 20
    } else if unit.eq_ignore_ascii_case(b"gib") {
        1 << 30
    } else {
        return None;
    };
    number.checked_mul(scale)
}

/// Why the sampling mode in force is what it is, for a report's settings
/// (allocates: report time only). `from_env` and `value` are what the
/// allocator's first call read; `set_at_run_time`, whether `set_sampling`
/// changed the mode since.
pub(crate) fn origin(from_env: FromEnv, value: &EnvValue, set_at_run_time: bool) -> String {
    let value = || value.text();
    let configured = match from_env {
        FromEnv::Unset => "the allocator's configuration".to_string(),
        FromEnv::Mode(_) => format!("{SAMPLING_VAR}={}", value()),
        FromEnv::Invalid => format!(
            "the allocator's configuration ({SAMPLING_VAR}=`{}` was ignored: it must be \
             off, every, poisson or poisson:SIZE, such as poisson:64KiB)",
            value()
        ),
    };
    if set_at_run_time {
        format!("set_sampling, at run time (before it, {configured})")
    } else {
        configured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_people_write_parse() {
        assert_eq!(parse(b"off"), Some(Sampling::Off));
        assert_eq!(parse(b" Every "), Some(Sampling::Every));
        assert_eq!(parse(b"poisson"), Some(Sampling::poisson()));
        let kib = |n: u64| {
            Some(Sampling::Poisson {
                mean_bytes: n * 1024,
            })
        };
        assert_eq!(parse(b"poisson:64KiB"), kib(64));
        assert_eq!(parse(b"POISSON: 64 kib"), kib(64));
        assert_eq!(parse(b"poisson:1MiB"), kib(1024));
        assert_eq!(
            parse(b"poisson:4096"),
            Some(Sampling::Poisson { mean_bytes: 4096 })
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            &b""[..],
            b"on",
            b"poison",
            b"poisson:",
            b"poisson:0",
            b"poisson:64KB",
            b"poisson:-1",
            b"poisson:1.5MiB",
            b"poisson:99999999999999999999",
            b"poisson:64KiB:2",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
