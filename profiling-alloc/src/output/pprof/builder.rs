//! [`ProfileBuilder`]: a `Profile` put together entry by entry, with its
//! string table, functions and locations deduplicated and numbered from 1.

use std::collections::HashMap;

use super::proto::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use crate::callsites::Frame;
use crate::program::ProgramInfo;

/// A profile under construction.
pub(super) struct ProfileBuilder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(i64, i64), u64>,
    locations: HashMap<Vec<(u64, i64)>, u64>,
}

/// What the samples' values mean, and what the period counts.
pub(super) struct Layout<'a> {
    /// `(type, unit)` of each value, in order.
    pub(super) sample_types: &'a [(&'a str, &'a str)],
    /// The type viewers show first.
    pub(super) default_sample_type: &'a str,
    /// `(type, unit)` of the period.
    pub(super) period_type: (&'a str, &'a str),
    /// Events between samples (0: not sampled).
    pub(super) period: i64,
}

impl ProfileBuilder {
    /// An empty profile of `layout`, with the program's executable as its
    /// only mapping (id 1).
    pub(super) fn new(layout: &Layout<'_>, program: &ProgramInfo) -> ProfileBuilder {
        let mut builder = ProfileBuilder {
            profile: Profile::default(),
            strings: HashMap::new(),
            functions: HashMap::new(),
            locations: HashMap::new(),
        };
        builder.string(""); // string_table[0] must be ""
        for &(kind, unit) in layout.sample_types {
            let value_type = builder.value_type(kind, unit);
            builder.profile.sample_type.push(value_type);
        }
        builder.profile.default_sample_type = builder.string(layout.default_sample_type);
        let (kind, unit) = layout.period_type;
        builder.profile.period_type = Some(builder.value_type(kind, unit));
        builder.profile.period = layout.period;
        builder.profile.time_nanos =
            i64::try_from(program.captured_at_unix_ms.saturating_mul(1_000_000)).unwrap_or(0);
        let mapping = Mapping {
            id: 1,
            filename: builder.string(program.executable.as_deref().unwrap_or(&program.name)),
            build_id: builder.string(program.build_id.as_deref().unwrap_or("")),
            // Every location carries its function, file, line and inlined
            // frames: viewers need neither the binary nor a symbolizer.
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
            ..Mapping::default()
        };
        builder.profile.mapping.push(mapping);
        builder
    }

    /// The index of `text` in the string table, adding it if new.
    pub(super) fn string(&mut self, text: &str) -> i64 {
        if let Some(&index) = self.strings.get(text) {
            return index;
        }
        let index = self.profile.string_table.len() as i64;
        self.profile.string_table.push(text.to_string());
        self.strings.insert(text.to_string(), index);
        index
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> ValueType {
        ValueType {
            r#type: self.string(kind),
            unit: self.string(unit),
        }
    }

    /// The id of the function `name` in `file`, adding it if new. Its
    /// `system_name` stays empty: the name is demangled already, and a
    /// viewer's C++ demangler would garble a Rust one.
    pub(super) fn function(&mut self, name: &str, file: Option<&str>, start_line: u32) -> u64 {
        let key = (self.string(name), self.string(file.unwrap_or("")));
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        self.profile.function.push(Function {
            id,
            name: key.0,
            system_name: 0,
            filename: key.1,
            start_line: i64::from(start_line),
        });
        self.functions.insert(key, id);
        id
    }

    /// The id of the location of `lines` (`(function id, line)`, innermost
    /// first: inlined functions, then the function they were inlined into),
    /// adding it if new.
    pub(super) fn location(&mut self, lines: Vec<(u64, i64)>) -> u64 {
        if let Some(&id) = self.locations.get(&lines) {
            return id;
        }
        let id = self.profile.location.len() as u64 + 1;
        self.profile.location.push(Location {
            id,
            mapping_id: 1,
            address: 0,
            line: lines
                .iter()
                .map(|&(function_id, line)| Line { function_id, line })
                .collect(),
        });
        self.locations.insert(lines, id);
        id
    }

    /// The locations of `frames` (innermost first), leaf first: a frame
    /// marked [`Frame::inlined`] shares a location with the frames after it,
    /// up to the first that is not.
    pub(super) fn frame_locations(&mut self, frames: &[&Frame]) -> Vec<u64> {
        let mut ids = Vec::new();
        let mut lines = Vec::new();
        for (index, frame) in frames.iter().enumerate() {
            let function = self.function(&frame.function, frame.file.as_deref(), 0);
            lines.push((function, frame.line.map_or(0, i64::from)));
            if !frame.inlined || index + 1 == frames.len() {
                ids.push(self.location(std::mem::take(&mut lines)));
            }
        }
        ids
    }

    /// A string label.
    pub(super) fn text_label(&mut self, key: &str, value: &str) -> Label {
        Label {
            key: self.string(key),
            str: self.string(value),
            ..Label::default()
        }
    }

    /// A numeric label in `unit`.
    pub(super) fn number_label(&mut self, key: &str, num: i64, unit: &str) -> Label {
        Label {
            key: self.string(key),
            num,
            num_unit: self.string(unit),
            ..Label::default()
        }
    }

    /// Adds a sample: its locations leaf first, one value per sample type.
    pub(super) fn sample(&mut self, location_id: Vec<u64>, value: Vec<i64>, label: Vec<Label>) {
        self.profile.sample.push(Sample {
            location_id,
            value,
            label,
        });
    }

    /// Adds a comment line.
    pub(super) fn comment(&mut self, text: &str) {
        let index = self.string(text);
        self.profile.comment.push(index);
    }

    /// The finished profile.
    pub(super) fn finish(self) -> Profile {
        self.profile
    }
}

/// Rounds a column of estimates to whole values so that every running sum
/// stays within ½ of the estimates' sum: each rounding error is carried into
/// the next value (error diffusion). pprof values are integers; rounding
/// each on its own would bias sums of many small estimates (a callsite
/// standing for 1.58 blocks is not 2).
#[derive(Default)]
pub(super) struct Rounder {
    carry: f64,
}

impl Rounder {
    /// `estimate` plus the carried error, rounded; saturating, NaN as 0.
    pub(super) fn round(&mut self, estimate: f64) -> i64 {
        let target = estimate + self.carry;
        let whole = target.round();
        let error = target - whole;
        // A NaN or infinite value (a report file may hold any number) must
        // not poison the values after it.
        self.carry = if error.is_finite() { error } else { 0.0 };
        whole as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, line: u32, inlined: bool) -> Frame {
        Frame {
            function: function.to_string(),
            file: Some("src/lib.rs".to_string()),
            line: Some(line),
            inlined,
        }
    }

    #[test]
    fn inlined_frames_share_their_caller_s_location() {
        let program: ProgramInfo = serde_json::from_value(serde_json::json!({
            "name": "app", "pid": 1, "profiler_version": "0", "captured_at_unix_ms": 5,
            "max_rss_bytes": null
        }))
        .unwrap();
        let layout = Layout {
            sample_types: &[("alloc_space", "bytes")],
            default_sample_type: "alloc_space",
            period_type: ("space", "bytes"),
            period: 1,
        };
        let mut builder = ProfileBuilder::new(&layout, &program);
        // Leaf first: `push` inlined into `fill`, then `main`.
        let frames = [
            frame("push", 10, true),
            frame("fill", 20, false),
            frame("main", 30, false),
        ];
        let refs: Vec<&Frame> = frames.iter().collect();
        let ids = builder.frame_locations(&refs);
        assert_eq!(ids, [1, 2]);
        // The same frames again reuse the locations and functions.
        assert_eq!(builder.frame_locations(&refs), [1, 2]);
        let profile = builder.finish();
        let lines: Vec<(u64, i64)> = profile.location[0]
            .line
            .iter()
            .map(|line| (line.function_id, line.line))
            .collect();
        assert_eq!(lines, [(1, 10), (2, 20)], "inlined first, its caller last");
        assert_eq!(profile.function.len(), 3);
        assert_eq!(profile.string_table[0], "");
        assert_eq!(profile.time_nanos, 5_000_000);
        assert_eq!(
            profile.string_table[profile.mapping[0].filename as usize],
            "app"
        );
    }

    #[test]
    fn rounded_sums_stay_within_a_half() {
        let mut rounder = Rounder::default();
        let estimates = [1.58, 1.58, 0.3, 0.3, 0.3, 2.5, 7.25];
        let mut sum = 0.0;
        let mut whole_sum = 0;
        for estimate in estimates {
            sum += estimate;
            whole_sum += rounder.round(estimate);
            assert!(
                (whole_sum as f64 - sum).abs() <= 0.5,
                "{whole_sum} vs {sum}"
            );
        }
        let mut rounder = Rounder::default();
        assert_eq!(rounder.round(f64::NAN), 0);
        assert_eq!(rounder.round(1e300), i64::MAX);
        assert_eq!(rounder.round(f64::INFINITY), i64::MAX);
        assert_eq!(rounder.round(2.0), 2, "nothing carried from those");
    }
}
