//! [`ServerBuilder::from_env`]: the settings an operator gives without a
//! rebuild, each parsed with an error that names the variable.

use std::time::Duration;

use super::memory_levels::SetBy;
use super::{
    Server, ServerBuilder, ADDR_VAR, BASELINE_VAR, LEAK_INTERVAL_VAR, LEAK_SNAPSHOTS_VAR,
    MAX_SESSIONS_VAR, MAX_SNAPSHOTS_VAR, MEMORY_CRITICAL_VAR, MEMORY_WARNING_VAR,
    OOM_SNAPSHOTS_VAR, SESSION_MAX_AGE_VAR, TOKEN_VAR,
};
use crate::Error;

impl ServerBuilder {
    /// A builder with the settings the environment gives, and the rest at
    /// the defaults, to adjust before [`start`](Self::start): the address
    /// ([`ADDR_VAR`]), the token ([`TOKEN_VAR`]), a QoS baseline file
    /// ([`BASELINE_VAR`]), the memory levels ([`MEMORY_WARNING_VAR`] and
    /// [`MEMORY_CRITICAL_VAR`], both or neither), the leak observer's
    /// interval and window ([`LEAK_INTERVAL_VAR`], [`LEAK_SNAPSHOTS_VAR`]) and
    /// how many snapshots and profiling sessions are kept, and how long
    /// ([`MAX_SNAPSHOTS_VAR`], [`OOM_SNAPSHOTS_VAR`], [`MAX_SESSIONS_VAR`],
    /// [`SESSION_MAX_AGE_VAR`]). Unset or empty
    /// leaves the default. The [`server`](super) module's docs list every
    /// variable in one table.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] naming the variable and saying what to
    /// write, when a value does not parse (`ip:port`; a size such as
    /// `512MiB`; a duration such as `30s`; a whole number), when only one
    /// of the memory levels is given, or when the baseline file cannot be
    /// read.
    pub fn from_env() -> Result<ServerBuilder, Error> {
        Self::from_vars(|name| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// [`from_env`](Self::from_env) with the variables read by `var`.
    pub(super) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ServerBuilder, Error> {
        let mut builder = Server::builder();
        if let Some(text) = var(ADDR_VAR) {
            let addr = text.parse::<std::net::SocketAddr>().map_err(|e| {
                invalid(
                    ADDR_VAR,
                    &text,
                    format!("{e} (expected ip:port, e.g. 127.0.0.1:6464)"),
                )
            })?;
            builder = builder.addr(addr);
        }
        if let Some(token) = var(TOKEN_VAR) {
            builder = builder.token(token);
        }
        if let Some(path) = var(BASELINE_VAR) {
            let baseline = crate::sizing::Baseline::read_json(&path)
                .map_err(|e| invalid(BASELINE_VAR, &path, e.to_string()))?;
            builder = builder.job_baseline(baseline);
        }
        match (var(MEMORY_WARNING_VAR), var(MEMORY_CRITICAL_VAR)) {
            (Some(warning), Some(critical)) => {
                let warning = parse_size(MEMORY_WARNING_VAR, &warning)?;
                let critical = parse_size(MEMORY_CRITICAL_VAR, &critical)?;
                builder.memory_limits = Some((warning, critical, SetBy::Environment));
            }
            (Some(given), None) | (None, Some(given)) => {
                let (set, missing) = if var(MEMORY_WARNING_VAR).is_some() {
                    (MEMORY_WARNING_VAR, MEMORY_CRITICAL_VAR)
                } else {
                    (MEMORY_CRITICAL_VAR, MEMORY_WARNING_VAR)
                };
                return Err(invalid(
                    set,
                    &given,
                    format!("{missing} is not set: give both levels, or neither"),
                ));
            }
            (None, None) => {}
        }
        if let Some(text) = var(LEAK_INTERVAL_VAR) {
            builder = builder.leak_interval(parse_duration(LEAK_INTERVAL_VAR, &text)?);
        }
        if let Some(text) = var(LEAK_SNAPSHOTS_VAR) {
            builder = builder.leak_snapshots(parse_count(LEAK_SNAPSHOTS_VAR, &text)?);
        }
        if let Some(text) = var(MAX_SNAPSHOTS_VAR) {
            builder = builder.max_snapshots(parse_count(MAX_SNAPSHOTS_VAR, &text)?);
        }
        if let Some(text) = var(OOM_SNAPSHOTS_VAR) {
            builder = builder.oom_snapshots(parse_count(OOM_SNAPSHOTS_VAR, &text)?);
        }
        if let Some(text) = var(MAX_SESSIONS_VAR) {
            builder = builder.max_sessions(parse_count(MAX_SESSIONS_VAR, &text)?);
        }
        if let Some(text) = var(SESSION_MAX_AGE_VAR) {
            builder = builder.session_max_age(parse_duration(SESSION_MAX_AGE_VAR, &text)?);
        }
        Ok(builder)
    }
}

fn invalid(setting: &'static str, value: &str, reason: String) -> Error {
    Error::InvalidSetting {
        setting,
        value: value.to_string(),
        reason,
    }
}

/// `1073741824`, `512MiB`, `1.5 GiB`: bytes, in binary units.
fn parse_size(name: &'static str, text: &str) -> Result<u64, Error> {
    let bad = || {
        invalid(
            name,
            text,
            "expected a size: a number of bytes with an optional unit B, KiB, MiB, GiB or \
             TiB, such as 512MiB"
                .to_string(),
        )
    };
    let (number, unit) = split_number(text);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// `30s`, `500ms`, `5m`, `1h`.
fn parse_duration(name: &'static str, text: &str) -> Result<Duration, Error> {
    let bad = || {
        invalid(
            name,
            text,
            "expected a duration with its unit ms, s, m or h, such as 30s".to_string(),
        )
    };
    let (number, unit) = split_number(text);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// A whole number.
fn parse_count(name: &'static str, text: &str) -> Result<usize, Error> {
    text.trim()
        .parse()
        .map_err(|_| invalid(name, text, "expected a whole number".to_string()))
}

/// `"512 MiB"` → `("512", "MiB")`.
fn split_number(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    (number, unit.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<ServerBuilder, Error> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerBuilder::from_vars(|name| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    #[test]
    fn every_variable_is_read() {
        let builder = from(&[
            (MEMORY_WARNING_VAR, "512MiB"),
            (MEMORY_CRITICAL_VAR, "0.75 GiB"),
            (LEAK_INTERVAL_VAR, "30s"),
            (LEAK_SNAPSHOTS_VAR, "120"),
            (MAX_SNAPSHOTS_VAR, "4"),
            (OOM_SNAPSHOTS_VAR, "0"),
            (MAX_SESSIONS_VAR, "3"),
            (SESSION_MAX_AGE_VAR, "6h"),
            (ADDR_VAR, "127.0.0.1:7000"),
        ])
        .unwrap();
        assert_eq!(
            builder.memory_limits,
            Some((512 << 20, 768 << 20, SetBy::Environment))
        );
        assert_eq!(builder.leak_interval, Duration::from_secs(30));
        assert_eq!(builder.leak_snapshots, 120);
        assert_eq!(builder.max_snapshots, 4);
        assert_eq!(builder.oom_snapshots, 0);
        assert_eq!(builder.max_sessions, 3);
        assert_eq!(builder.session_max_age, Duration::from_secs(6 * 3600));
        assert_eq!(builder.addr.port(), 7000);
        assert_eq!(from(&[]).unwrap().memory_limits, None);
    }

    #[test]
    fn bad_values_name_the_variable_and_say_what_to_write() {
        let message = |vars: &[(&str, &str)]| from(vars).unwrap_err().to_string();
        let text = message(&[(MEMORY_WARNING_VAR, "lots"), (MEMORY_CRITICAL_VAR, "1GiB")]);
        assert!(
            text.contains("PROFILING_ALLOC_MEMORY_WARNING") && text.contains("512MiB"),
            "{text}"
        );
        let text = message(&[(MEMORY_WARNING_VAR, "1GB"), (MEMORY_CRITICAL_VAR, "2GiB")]);
        assert!(text.contains("KiB, MiB, GiB"), "{text}");
        let text = message(&[(MEMORY_CRITICAL_VAR, "1GiB")]);
        assert!(
            text.contains("PROFILING_ALLOC_MEMORY_CRITICAL")
                && text.contains("PROFILING_ALLOC_MEMORY_WARNING is not set"),
            "{text}"
        );
        let text = message(&[(LEAK_INTERVAL_VAR, "30")]);
        assert!(
            text.contains("PROFILING_ALLOC_LEAK_INTERVAL") && text.contains("30s"),
            "{text}"
        );
        let text = message(&[(MAX_SNAPSHOTS_VAR, "-1")]);
        assert!(text.contains("whole number"), "{text}");
        let text = message(&[(MEMORY_WARNING_VAR, "0"), (MEMORY_CRITICAL_VAR, "1")]);
        assert!(text.contains("PROFILING_ALLOC_MEMORY_WARNING"), "{text}");
    }
}
