//! Adapters to the crates a service is already built with, one per feature:
//! `tracing` spans and tower requests as jobs.

#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub mod tracing;

use std::fmt;

/// A job name made on the stack (from a span's field, a request's route):
/// names past 200 bytes are cut, at a character boundary.
pub(crate) struct NameBuf {
    bytes: [u8; 200],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            bytes: [0; 200],
            len: 0,
        }
    }
}

impl NameBuf {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl fmt::Write for NameBuf {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // PERF: most texts fit whole: one copy.
        if let Some(room) = self.bytes.get_mut(self.len..self.len + text.len()) {
            room.copy_from_slice(text.as_bytes());
            self.len += text.len();
            return Ok(());
        }
        for c in text.chars() {
            let mut utf8 = [0; 4];
            let encoded = c.encode_utf8(&mut utf8).as_bytes();
            let Some(room) = self.bytes.get_mut(self.len..self.len + encoded.len()) else {
                return Err(fmt::Error);
            };
            room.copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn names_are_cut_at_a_character_boundary() {
        let mut name = NameBuf::default();
        let long = "é".repeat(150); // 300 bytes
        assert!(name.write_str(&long).is_err());
        assert_eq!(name.as_str(), "é".repeat(100));
    }
}
