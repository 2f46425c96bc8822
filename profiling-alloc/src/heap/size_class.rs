//! Log2 size classes: which power-of-two range a block size falls in, and the
//! public [`SizeHistogram`] a reader builds from the per-thread tallies.

use serde::{Deserialize, Serialize};

/// Number of size classes: class `k` holds sizes in `[2^k, 2^(k+1))`, so 64
/// classes cover every `usize` on a 64-bit target.
pub(crate) const SIZE_CLASSES: usize = 64;

/// The size class of a block of `size` bytes: `floor(log2(size))`, with sizes
/// 0 and 1 both in class 0.
///
/// Hot path: a `leading_zeros` and a subtraction; the result is always below
/// [`SIZE_CLASSES`], so indexing with it cannot panic.
#[inline(always)]
pub(crate) const fn size_class(size: usize) -> usize {
    // `size | 1` maps 0 to 1 so that the subtraction cannot underflow.
    (usize::BITS - 1 - (size | 1).leading_zeros()) as usize
}

/// The smallest block size in `class`: `2^class`, so 1 for class 0. (Class
/// 0 would also hold size 0, but no block is empty: `GlobalAlloc` is never
/// asked for 0 bytes.)
pub(crate) const fn class_min_size(class: usize) -> u64 {
    1u64 << (class % SIZE_CLASSES)
}

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
/// program since start-up (read with [`size_histogram`](crate::size_histogram)).
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
        let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_class_is_floor_log2() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1), 0);
        assert_eq!(size_class(2), 1);
        assert_eq!(size_class(3), 1);
        assert_eq!(size_class(4), 2);
        assert_eq!(size_class(1000), 9);
        assert_eq!(size_class(1024), 10);
        assert_eq!(size_class(usize::MAX), 63);
        for k in 1..63 {
            assert_eq!(size_class(1 << k), k);
            assert_eq!(size_class((1 << k) - 1), k - 1);
        }
    }

    #[test]
    fn a_class_starts_at_its_smallest_size() {
        for class in 0..SIZE_CLASSES {
            let min = class_min_size(class);
            assert_eq!(size_class(min as usize), class);
            if min > 1 {
                assert_eq!(size_class(min as usize - 1), class - 1);
            }
        }
        assert_eq!(class_min_size(0), 1);
        assert_eq!(class_min_size(63), 1 << 63);
    }

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
