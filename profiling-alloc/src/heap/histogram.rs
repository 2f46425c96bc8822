//! The public [`SizeHistogram`] a reader builds from the per-thread tallies
//! of the allocator's size classes.

use serde::{Deserialize, Serialize};

use crate::capture::counts::size_class::{class_min_size, SIZE_CLASSES};

/// One power-of-two size class of a [`SizeHistogram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SizeClass {
    /// Smallest block size in this class, in bytes (`2^k`: 1 for class 0).
    pub min_size: u64,
    /// Largest block size in this class, in bytes (`2^(k+1) - 1`).
    pub max_size: u64,
    /// Blocks allocated with a size in this class (reallocs count their new
    /// size, as in [`HeapStats::total_blocks`](crate::HeapStats::total_blocks)).
    pub total_blocks: u64,
    /// Bytes allocated in blocks of this class.
    pub total_bytes: u64,
}

/// Allocated blocks and bytes per power-of-two size class, over the whole
/// program since start-up (read with [`size_histogram`](crate::heap::size_histogram)).
///
/// Only classes that saw at least one block are listed, smallest first. The
/// sums of `total_blocks` and `total_bytes` over all classes equal
/// [`HeapStats::total_blocks`](crate::HeapStats::total_blocks) and
/// [`HeapStats::total_bytes`](crate::HeapStats::total_bytes) once threads are
/// quiet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SizeHistogram {
    /// Non-empty classes, in increasing size order.
    pub classes: Vec<SizeClass>,
}

impl SizeHistogram {
    /// Builds a histogram from per-class block and byte sums (index = class).
    pub(crate) fn from_sums(blocks: &[u64; SIZE_CLASSES], bytes: &[u64; SIZE_CLASSES]) -> Self {
        // Sized up front: one allocation, so a reader can account for it.
        let mut classes = Vec::with_capacity(blocks.iter().filter(|&&b| b > 0).count());
        classes.extend(
            blocks
                .iter()
                .zip(bytes)
                .enumerate()
                .filter(|(_, (&blocks, _))| blocks > 0)
                .map(|(class, (&blocks, &bytes))| SizeClass {
                    min_size: class_min_size(class),
                    max_size: if class == 63 {
                        u64::MAX
                    } else {
                        (1u64 << (class + 1)) - 1
                    },
                    total_blocks: blocks,
                    total_bytes: bytes,
                }),
        );
        SizeHistogram { classes }
    }

    /// Total blocks over all classes.
    pub fn total_blocks(&self) -> u64 {
        self.classes.iter().map(|c| c.total_blocks).sum()
    }

    /// Total bytes over all classes.
    pub fn total_bytes(&self) -> u64 {
        self.classes.iter().map(|c| c.total_bytes).sum()
    }

    /// The class holding blocks of `size` bytes, if any such block was seen.
    pub fn class_of(&self, size: u64) -> Option<&SizeClass> {
        self.classes
            .iter()
            .find(|c| (c.min_size..=c.max_size).contains(&size))
    }
}

impl std::fmt::Display for SizeHistogram {
    /// One line per class: size range, blocks, bytes and a bar scaled to the
    /// class with the most bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::capture::reading(|| {
            let widest = self
                .classes
                .iter()
                .map(|c| c.total_bytes)
                .max()
                .unwrap_or(0);
            writeln!(f, "{:>27} {:>12} {:>16}", "size (bytes)", "blocks", "bytes")?;
            for class in &self.classes {
                let bar = if widest == 0 {
                    0
                } else {
                    (class.total_bytes as u128 * 30 / widest as u128) as usize
                };
                let range = format!("{} ..= {}", class.min_size, class.max_size);
                write!(
                    f,
                    "{range:>27} {:>12} {:>16}",
                    class.total_blocks, class.total_bytes
                )?;
                if bar > 0 {
                    write!(f, " {}", "#".repeat(bar))?;
                }
                writeln!(f)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::counts::size_class::size_class;

    #[test]
    fn histogram_lists_non_empty_classes_with_bounds() {
        let mut blocks = [0; SIZE_CLASSES];
        let mut bytes = [0; SIZE_CLASSES];
        blocks[size_class(1000)] = 2;
        bytes[size_class(1000)] = 1800;
        blocks[0] = 1;
        bytes[0] = 1;
        let h = SizeHistogram::from_sums(&blocks, &bytes);
        assert_eq!(h.classes.len(), 2);
        assert_eq!(h.classes[0].min_size, 1);
        assert_eq!(h.classes[0].max_size, 1);
        let c = h.class_of(1000).expect("class of 1000 bytes");
        assert_eq!(
            (c.min_size, c.max_size, c.total_blocks, c.total_bytes),
            (512, 1023, 2, 1800)
        );
        assert_eq!(h.total_blocks(), 3);
        assert_eq!(h.total_bytes(), 1801);
        assert!(h.class_of(5000).is_none());
        let text = h.to_string();
        assert!(text.contains("512 ..= 1023"), "{text}");
    }
}
