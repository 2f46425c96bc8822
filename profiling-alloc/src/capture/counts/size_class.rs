//! Log2 size classes: which power-of-two range a block size falls in.

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
}
