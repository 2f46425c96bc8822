//! Numbers with their units: for people (thousands separators, byte sizes
//! and durations in the unit that reads best: the `Display` impls and the
//! text summary), and for JSON (durations as integer nanoseconds, see
//! [`nanos`]).

use std::time::Duration;

/// An estimate rounded to a whole count for display: negative and NaN are
/// 0, and values past `u64::MAX` saturate.
pub(crate) fn whole(estimate: f64) -> u64 {
    // `as` saturates, and maps NaN to 0.
    estimate.round() as u64
}

/// A count with thousands separators: `1,256`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A byte size in binary units: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A memory size as platforms state them: whole GiB (`4 GiB`) or MiB
/// (`1,769 MiB`) when it is one, else as [`bytes`].
pub(crate) fn memory_size(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", grouped(n / GIB))
    } else if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", grouped(n / MIB))
    } else {
        bytes(n)
    }
}

/// vCPUs: whole ones plainly (`2 vCPU`), a share with three decimals
/// (`0.583 vCPU`).
pub(crate) fn vcpus(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0} vCPU")
    } else {
        format!("{n:.3} vCPU")
    }
}

/// A rate for people: whole calls grouped (`3,000`), else three
/// significant digits or so (`11.6`, `0.0116`).
pub(crate) fn rate(per_second: f64) -> String {
    if per_second >= 1.0 && per_second.fract() == 0.0 {
        grouped(per_second as u64)
    } else if per_second >= 10.0 {
        format!("{per_second:.1}")
    } else {
        let digits = (2 - per_second.log10().floor() as i32).clamp(2, 9) as usize;
        format!("{per_second:.digits$}")
    }
}

/// A duration with three significant digits or so: `850 ns`, `12.4 µs`,
/// `3.20 ms`, `1.50 s`.
pub(crate) fn duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2} s", nanos as f64 / 1e9)
    }
}

/// A duration given in seconds, for people (`"unbounded"` when not finite).
pub(crate) fn duration_secs(seconds: f64) -> String {
    if seconds.is_finite() && seconds >= 0.0 {
        duration(Duration::from_secs_f64(seconds.min(1e12)))
    } else {
        "unbounded".to_string()
    }
}

/// Now, as an RFC 3339 UTC timestamp with milliseconds:
/// `2026-12-07T19:30:00.123Z`.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn timestamp_now() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    timestamp(since_epoch)
}

/// `since_epoch` as an RFC 3339 UTC timestamp with milliseconds.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn timestamp(since_epoch: Duration) -> String {
    let seconds = since_epoch.as_secs();
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm, for days since
    // 1970-01-01; every date here is after it).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        time / 3600,
        time / 60 % 60,
        time % 60,
        since_epoch.subsec_millis()
    )
}

/// Serde for a `Duration` as integer nanoseconds, the form every duration of
/// a report takes in JSON; the field's key says the unit (`total_ns`). Used
/// as `#[serde(rename = "total_ns", with = "crate::units::nanos")]`.
pub(crate) mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Nanoseconds, saturating at `u64::MAX` (584 years).
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Integer nanoseconds; also serde's own `{"secs": .., "nanos": ..}`,
    /// which fields written before they took `_ns` keys had.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Nanos(u64),
            Serde(Duration),
        }
        Ok(match Written::deserialize(d)? {
            Written::Nanos(nanos) => Duration::from_nanos(nanos),
            Written::Serde(duration) => duration,
        })
    }

    /// The same for an `Option<Duration>` (`null` for `None`).
    pub(crate) mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            Ok(Option::<u64>::deserialize(d)?.map(Duration::from_nanos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(rate(3000.0), "3,000");
        assert_eq!(rate(11.574_074), "11.6");
        assert_eq!(rate(2.5), "2.50");
        assert_eq!(rate(0.011_574), "0.0116");
        assert_eq!(memory_size(1769 << 20), "1,769 MiB");
        assert_eq!(memory_size(4 << 30), "4 GiB");
        assert_eq!(vcpus(2.0), "2 vCPU");
        assert_eq!(vcpus(0.5833), "0.583 vCPU");
    }

    #[test]
    fn grouped_inserts_thousands_separators() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_256_000), "1,256,000");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn bytes_use_the_largest_unit_below_the_value() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12 * 1024 * 1024), "12.0 MiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(12_400)), "12.4 µs");
        assert_eq!(duration(Duration::from_micros(3_200)), "3.20 ms");
        assert_eq!(duration(Duration::from_millis(1_500)), "1.50 s");
    }

    #[test]
    fn durations_are_nanoseconds_in_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Timed {
            #[serde(rename = "total_ns", with = "nanos")]
            total: Duration,
            #[serde(rename = "limit_ns", with = "nanos::option")]
            limit: Option<Duration>,
        }
        let timed = Timed {
            total: Duration::from_micros(1500),
            limit: None,
        };
        let json = serde_json::to_string(&timed).unwrap();
        assert_eq!(json, r#"{"total_ns":1500000,"limit_ns":null}"#);
        assert_eq!(serde_json::from_str::<Timed>(&json).unwrap(), timed);
        let huge = Timed {
            total: Duration::MAX,
            limit: Some(Duration::from_secs(2)),
        };
        let json = serde_json::to_string(&huge).unwrap();
        assert!(json.contains(&u64::MAX.to_string()), "{json}");
        assert!(json.contains("2000000000"), "{json}");
    }
    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        // 2026-12-07T19:30:05.250Z
        assert_eq!(
            timestamp(Duration::from_millis(1_796_671_805_250)),
            "2026-12-07T19:30:05.250Z"
        );
        // A leap day.
        assert_eq!(
            timestamp(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
    #[test]
    fn durations_written_by_serde_itself_still_read() {
        #[derive(serde::Deserialize)]
        struct Timed {
            #[serde(rename = "on_cpu_ns", alias = "on_cpu", with = "nanos")]
            on_cpu: Duration,
        }
        let new: Timed = serde_json::from_str(r#"{"on_cpu_ns": 1500000000}"#).unwrap();
        let old: Timed =
            serde_json::from_str(r#"{"on_cpu": {"secs": 1, "nanos": 500000000}}"#).unwrap();
        assert_eq!(
            (new.on_cpu, old.on_cpu),
            (Duration::from_millis(1500), Duration::from_millis(1500))
        );
    }
}
