//! Numbers on the command line and in the output: percentages, byte sizes
//! and job limits read from arguments (with errors that say what to write
//! instead), and counts, bytes, durations and changes written for people.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A percentage read from the command line: `5%`, `2.5%`, or `5` (the `%`
/// is optional). Never negative.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Percent(pub(crate) f64);

impl Percent {
    /// `percent` percent; `None` when negative or not a number.
    pub fn new(percent: f64) -> Option<Percent> {
        (percent.is_finite() && percent >= 0.0).then_some(Percent(percent))
    }

    /// The percentage, as written (`5.0` for `5%`).
    pub fn get(self) -> f64 {
        self.0
    }

    /// As a fraction (`0.05` for `5%`).
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Percent, String> {
        let number = text.trim().strip_suffix('%').unwrap_or(text.trim()).trim();
        let value: f64 = number.parse().map_err(|_| {
            format!("`{text}` is not a percentage: write a number, optionally followed by %, such as 5% or 2.5%")
        })?;
        Percent::new(value)
            .ok_or_else(|| format!("`{text}` is not an allowed increase: it must be 0% or more"))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A call rate read from the command line: `50/s`, `3000/min`, `2/h`,
/// `1e6/day` (a unit of time is needed, as a duration's is). Above 0.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Rate(f64);

impl Rate {
    /// Calls per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let Some((number, unit)) = text.trim().split_once('/') else {
            return Err(format!(
                "`{text}` has no unit of time: write calls per unit, such as 50/s or 3000/min"
            ));
        };
        let (number, unit) = (number.trim(), unit.trim());
        let seconds = match unit.to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1.0,
            "min" | "minute" | "m" => 60.0,
            "h" | "hour" => 3600.0,
            "d" | "day" => 86_400.0,
            _ => {
                return Err(format!(
                    "`{text}` has an unknown unit `/{unit}`: use /s, /min, /h or /day, such as 50/s"
                ))
            }
        };
        let calls: f64 = number.parse().map_err(|_| {
            format!(
                "`{text}` is not a rate: write calls per unit of time, such as 50/s or 3000/min"
            )
        })?;
        if !(calls.is_finite() && calls > 0.0) {
            return Err(format!(
                "`{text}` is not a rate a plan can serve: give more than 0 calls, such as 50/s"
            ));
        }
        Ok(Rate(calls / seconds))
    }
}

/// A duration read from the command line: `200ms`, `1.5s`, `500us` (or
/// `500µs`), `250000ns`, `2min`. Above 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationArg(pub std::time::Duration);

impl FromStr for DurationArg {
    type Err = String;

    fn from_str(text: &str) -> Result<DurationArg, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let nanos_per_unit = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "min" => 60e9,
            "" => {
                return Err(format!(
                    "`{text}` has no unit: write a duration such as 200ms, 1.5s or 500us"
                ))
            }
            other => {
                return Err(format!(
                "`{text}` has an unknown unit `{other}`: use ns, us, ms, s or min, such as 200ms"
            ))
            }
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("`{text}` is not a duration: write a number and a unit, such as 200ms")
        })?;
        let nanos = value * nanos_per_unit;
        if !(nanos.is_finite() && nanos >= 1.0) {
            return Err(format!(
                "`{text}` is not a target a call can meet: give a duration above 0, such as 200ms"
            ));
        }
        Ok(DurationArg(std::time::Duration::from_nanos(nanos as u64)))
    }
}

/// A number of bytes read from the command line: `1024`, `512B`, `10KiB`,
/// `2MiB`, `1.5GiB` (units are powers of 1024; a space before the unit and
/// any letter case are accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<ByteSize, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        let value: f64 = number.parse().map_err(|_| {
            format!("`{text}` is not a size: write a number of bytes, optionally with a unit, such as 1024, 10KiB or 2MiB")
        })?;
        let scale: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "`{text}` has an unknown unit `{unit}`: use B, KiB, MiB or GiB (powers of 1024), such as 10KiB"
                ))
            }
        };
        let bytes = value * scale as f64;
        if scale == 1 && value.fract() != 0.0 {
            return Err(format!(
                "`{text}` is not a whole number of bytes: write whole bytes, or a unit such as 1.5KiB"
            ));
        }
        if bytes >= u64::MAX as f64 {
            return Err(format!("`{text}` is too large"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bytes(self.0 as f64))
    }
}

/// An absolute limit on one job, `JOB=SIZE` on the command line
/// (`--max-bytes-per-call my_crate::parse=10KiB`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobLimit {
    /// The job's name, as in the report (`my_crate::parse`), or the last
    /// segment of one (`parse`) when only one job ends so.
    pub job: String,
    /// The most bytes one call may allocate on average.
    pub bytes: ByteSize,
}

impl FromStr for JobLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<JobLimit, String> {
        let expected = || {
            format!("`{text}` is not a job limit: write JOB=SIZE, such as my_crate::parse=10KiB")
        };
        let (job, size) = text.rsplit_once('=').ok_or_else(expected)?;
        let job = job.trim();
        if job.is_empty() {
            return Err(expected());
        }
        Ok(JobLimit {
            job: job.to_string(),
            bytes: size.parse()?,
        })
    }
}

/// A count with thousands separators (`1,256`), or with two decimals when
/// it is a small fractional average (`1.33`).
pub fn count(n: f64) -> String {
    if !n.is_finite() {
        return n.to_string();
    }
    if (n - n.round()).abs() < 0.005 || n.abs() >= 1000.0 {
        let rounded = n.round();
        let sign = if rounded < 0.0 { "-" } else { "" };
        return format!("{sign}{}", grouped(rounded.abs() as u64));
    }
    format!("{n:.2}")
}

/// A count with thousands separators: `1,256`.
pub fn grouped(n: u64) -> String {
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

/// A byte size in binary units with three significant digits, so that a
/// change shows: `512 B`, `48.8 B`, `1.50 KiB`, `12.3 MiB`, `123 MiB`. Negative
/// sizes (bytes a job freed more than it kept) keep their sign.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if !n.is_finite() {
        return n.to_string();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let n = n.abs();
    if n < 1024.0 {
        // Averages per call have fractions worth showing.
        return if (n - n.round()).abs() < 0.05 || n >= 100.0 {
            format!("{sign}{} B", n.round())
        } else {
            format!("{sign}{n:.1} B")
        };
    }
    let mut value = n / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let unit = UNITS[unit];
    if value < 10.0 {
        format!("{sign}{value:.2} {unit}")
    } else if value < 100.0 {
        format!("{sign}{value:.1} {unit}")
    } else {
        format!("{sign}{value:.0} {unit}")
    }
}

/// A duration given in nanoseconds, with three significant digits or so:
/// `850 ns`, `12.4 µs`, `3.20 ms`, `1.50 s`.
pub fn duration_ns(nanos: f64) -> String {
    if nanos < 1e3 {
        format!("{nanos:.0} ns")
    } else if nanos < 1e6 {
        format!("{:.1} µs", nanos / 1e3)
    } else if nanos < 1e9 {
        format!("{:.2} ms", nanos / 1e6)
    } else {
        format!("{:.2} s", nanos / 1e9)
    }
}

/// A relative change: `+20.0%`, `-3.1%`, `0.0%`; `new` when growing from 0
/// (no percentage of nothing), `n/a` when neither side has a value.
pub fn change(percent: Option<f64>, base: Option<f64>, head: Option<f64>) -> String {
    match (percent, base, head) {
        (Some(p), _, _) if p.abs() < 0.05 => "0.0%".to_string(),
        (Some(p), _, _) => format!("{p:+.1}%"),
        (None, Some(b), Some(h)) if b == 0.0 && h != 0.0 => "from 0".to_string(),
        (None, Some(_), Some(_)) => "0.0%".to_string(),
        _ => "n/a".to_string(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn rates_take_a_unit_of_time() {
        assert_eq!("50/s".parse::<Rate>().unwrap().per_second(), 50.0);
        assert!("50"
            .parse::<Rate>()
            .unwrap_err()
            .contains("no unit of time"));
        assert_eq!("3000/min".parse::<Rate>().unwrap().per_second(), 50.0);
        assert_eq!("7200/h".parse::<Rate>().unwrap().per_second(), 2.0);
        assert_eq!("86400/day".parse::<Rate>().unwrap().per_second(), 1.0);
        assert!("0/s".parse::<Rate>().unwrap_err().contains("more than 0"));
        assert!("-3/s".parse::<Rate>().unwrap_err().contains("more than 0"));
        assert!("50/week"
            .parse::<Rate>()
            .unwrap_err()
            .contains("unknown unit `/week`"));
        assert!("fast"
            .parse::<Rate>()
            .unwrap_err()
            .contains("no unit of time"));
        assert!("fast/s".parse::<Rate>().unwrap_err().contains("not a rate"));
    }

    #[test]
    fn durations_need_a_unit() {
        use std::time::Duration;
        assert_eq!(
            "200ms".parse::<DurationArg>().unwrap().0,
            Duration::from_millis(200)
        );
        assert_eq!(
            "1.5s".parse::<DurationArg>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            "500µs".parse::<DurationArg>().unwrap().0,
            Duration::from_micros(500)
        );
        assert_eq!(
            "2min".parse::<DurationArg>().unwrap().0,
            Duration::from_secs(120)
        );
        assert!("200"
            .parse::<DurationArg>()
            .unwrap_err()
            .contains("no unit"));
        assert!("0ms"
            .parse::<DurationArg>()
            .unwrap_err()
            .contains("above 0"));
        assert!("3 days"
            .parse::<DurationArg>()
            .unwrap_err()
            .contains("unknown unit"));
    }
    use super::*;

    #[test]
    fn percentages_with_or_without_the_sign() {
        assert_eq!("5%".parse::<Percent>().unwrap().get(), 5.0);
        assert_eq!(" 2.5 % ".parse::<Percent>().unwrap().fraction(), 0.025);
        assert_eq!("0".parse::<Percent>().unwrap().get(), 0.0);
        assert_eq!("12".parse::<Percent>().unwrap().get(), 12.0);
    }

    #[test]
    fn bad_percentages_say_what_to_write() {
        let error = "five".parse::<Percent>().unwrap_err();
        assert!(error.contains("`five` is not a percentage"), "{error}");
        assert!(error.contains("such as 5%"), "{error}");
        let error = "-5%".parse::<Percent>().unwrap_err();
        assert!(error.contains("0% or more"), "{error}");
        assert!("NaN".parse::<Percent>().is_err());
        assert!("inf%".parse::<Percent>().is_err());
        assert!("%".parse::<Percent>().is_err());
    }

    #[test]
    fn sizes_in_bytes_and_binary_units() {
        let size = |s: &str| s.parse::<ByteSize>().unwrap().0;
        assert_eq!(size("1024"), 1024);
        assert_eq!(size("512B"), 512);
        assert_eq!(size("10KiB"), 10 * 1024);
        assert_eq!(size("10 kib"), 10 * 1024);
        assert_eq!(size("2MiB"), 2 << 20);
        assert_eq!(size("1.5GiB"), 3 << 29);
        assert_eq!(size("0.5KiB"), 512);
    }

    #[test]
    fn bad_sizes_say_what_to_write() {
        let error = "10KB".parse::<ByteSize>().unwrap_err();
        assert!(error.contains("unknown unit `KB`"), "{error}");
        assert!(error.contains("powers of 1024"), "{error}");
        let error = "lots".parse::<ByteSize>().unwrap_err();
        assert!(error.contains("`lots` is not a size"), "{error}");
        let error = "1.5".parse::<ByteSize>().unwrap_err();
        assert!(error.contains("whole number of bytes"), "{error}");
        assert!("-1KiB".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn job_limits() {
        let limit: JobLimit = "my_crate::parse=10KiB".parse().unwrap();
        assert_eq!(limit.job, "my_crate::parse");
        assert_eq!(limit.bytes, ByteSize(10240));
        let error = "my_crate::parse".parse::<JobLimit>().unwrap_err();
        assert!(error.contains("JOB=SIZE"), "{error}");
        assert!("=1KiB".parse::<JobLimit>().is_err());
        let error = "parse=ten".parse::<JobLimit>().unwrap_err();
        assert!(error.contains("`ten` is not a size"), "{error}");
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(count(1256.0), "1,256");
        assert_eq!(count(4.0), "4");
        assert_eq!(count(1.3333), "1.33");
        assert_eq!(count(-3.0), "-3");
        assert_eq!(bytes(100.0), "100 B");
        assert_eq!(bytes(48.8), "48.8 B");
        assert_eq!(bytes(512.4), "512 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes(-2048.0), "-2.00 KiB");
        assert_eq!(bytes(50.0 * 1024.0 * 1024.0), "50.0 MiB");
        assert_eq!(bytes(500.0 * 1024.0 * 1024.0), "500 MiB");
        assert_eq!(duration_ns(850.0), "850 ns");
        assert_eq!(duration_ns(12_400.0), "12.4 µs");
        assert_eq!(duration_ns(3_200_000.0), "3.20 ms");
        assert_eq!(change(Some(20.0), Some(1.0), Some(1.2)), "+20.0%");
        assert_eq!(change(Some(-3.12), Some(1.0), Some(0.9688)), "-3.1%");
        assert_eq!(change(None, Some(0.0), Some(5.0)), "from 0");
        assert_eq!(change(None, Some(0.0), Some(0.0)), "0.0%");
    }
}
