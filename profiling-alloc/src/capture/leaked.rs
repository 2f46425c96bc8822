//! Tables that live for the rest of the program, allocated zeroed: the stack
//! table's entries and the callsites' counters. Created once, at the first
//! sample, untracked; never freed, never moved, so their elements can be
//! read without a lock.

use std::sync::atomic::AtomicPtr;

/// A type for which all-zero bytes are a valid value, and which is safe to
/// share between threads (atomics, and structs of them).
///
/// # Safety
///
/// All-zero bytes must be a valid, initialised value of the type, and the
/// type must be `Sync`.
pub(crate) unsafe trait Zeroable: Sync {}

// SAFETY: a zeroed `AtomicPtr` is a null pointer, and atomics are `Sync`.
unsafe impl<T> Zeroable for AtomicPtr<T> {}

/// A table of `len` zeroed values that lives for the rest of the program, or
/// `None` if the memory is not available. The caller must be untracked (the
/// table is the profiler's own memory).
///
/// Allocated with a small alignment and aligned by hand: `alloc_zeroed` with
/// an alignment of 16 or less is `calloc`, whose large blocks are fresh zero
/// pages, so only the pages actually used become resident (a 128-byte
/// alignment would take `posix_memalign` and a memset of the whole table).
pub(crate) fn leak_zeroed<T: Zeroable>(len: usize) -> Option<&'static [T]> {
    let align = std::mem::align_of::<T>();
    let bytes = std::mem::size_of::<T>()
        .checked_mul(len)?
        .checked_add(align)?;
    let layout = std::alloc::Layout::from_size_align(bytes, 16).ok()?;
    // SAFETY: the layout has a non-zero size (at least `align` bytes).
    let raw = unsafe { std::alloc::alloc_zeroed(layout) };
    if raw.is_null() {
        return None;
    }
    let offset = raw.align_offset(align);
    if offset >= align {
        // Cannot happen for a `u8` pointer, but the room added above is
        // `align` bytes: never step past it.
        return None;
    }
    let table = raw.wrapping_add(offset).cast::<T>();
    // SAFETY: `raw` is a fresh, never-freed, zeroed allocation of
    // `len * size + align` bytes, so the first `align`-aligned address in it
    // is followed by room for `len` values; all-zero bytes are a valid `T`
    // (`Zeroable`), and the table is only ever shared (`T: Sync`).
    Some(unsafe { std::slice::from_raw_parts(table, len) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn tables_are_zeroed_and_aligned() {
        let pointers: &[AtomicPtr<u8>] = leak_zeroed(1000).expect("memory");
        assert_eq!(pointers.len(), 1000);
        assert!(pointers.iter().all(|p| p.load(Relaxed).is_null()));
        assert_eq!(
            pointers.as_ptr() as usize % std::mem::align_of::<AtomicPtr<u8>>(),
            0
        );
        assert!(
            leak_zeroed::<AtomicPtr<u8>>(usize::MAX).is_none(),
            "too big"
        );
    }
}
