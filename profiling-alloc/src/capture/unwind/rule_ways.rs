//! Which of a walker's framehop rule caches a frame's rule is looked up in:
//! the caches as ways of a two-way set-associative cache.
//!
//! One framehop cache keeps one rule per `address % 509`: two hot return
//! addresses 509·k bytes apart evict each other on every walk, and each
//! eviction costs an FDE search and a CFI program (a thousand instructions
//! or more) where a hit costs a few dozen. Which addresses collide depends
//! on where the linker put the code. Spreading frames over four caches by
//! `(a / 509) % 4` (one direct-mapped cache of 2,036 entries) still left
//! builds of the same program whose JSON workload walked at 1.6 times the
//! cost of others: two hot addresses 2,036·k bytes apart.
//!
//! So the four caches are two pairs, and each pair is two ways: an address
//! may have its rule in either cache of its pair, at its entry. The ways
//! keep, per cache and entry, the address whose rule that cache was last
//! given to find there (the tag) and which of the two ways an entry used
//! last; a frame whose address is tagged in neither way replaces the one
//! used less recently. Two hot
//! addresses that collide then share the pair's entry instead of evicting
//! each other; only three at once do. The tags are hints: framehop checks
//! the address of the rule it finds, so a wrong tag costs a miss, never a
//! wrong rule.

use framehop::x86_64::CacheX86_64;
use framehop::{FrameAddress, MustNotAllocateDuringUnwind};

/// framehop's rule cache, which never allocates while unwinding.
pub(super) type Cache = CacheX86_64<MustNotAllocateDuringUnwind>;

/// Entries in one framehop rule cache (direct-mapped: the rule of address
/// `a` lives in entry `a % 509`).
const ENTRIES: usize = 509;
/// Caches in one set of ways: `WAYS / 2` pairs of two.
const WAYS: usize = 4;
const PAIRS: usize = WAYS / 2;

/// One walker's rule caches (about 40 KiB each, built on first use), with
/// the tags that choose among them.
pub(super) struct Ways {
    caches: [Option<Box<Cache>>; WAYS],
    /// Per pair and entry, the tags of its two ways.
    sets: [[Set; ENTRIES]; PAIRS],
}

/// The two ways of one entry of a pair.
#[derive(Clone, Copy)]
struct Set {
    /// The lookup address whose rule each way was last given to find at
    /// this entry (0: none).
    tags: (u64, u64),
    /// Whether the first way was used last (so that a first miss fills
    /// the first way: the one `build_first` builds).
    first_last: bool,
}

impl Ways {
    /// No cache built, no tag.
    pub(super) const EMPTY: Ways = Ways {
        caches: [const { None }; WAYS],
        sets: [[Set {
            tags: (0, 0),
            first_last: false,
        }; ENTRIES]; PAIRS],
    };

    /// The cache to unwind the frame at `address` with: the way of its pair
    /// that holds its rule, else the one used less recently at its entry.
    /// Built (allocating) on first use when `build` is true; otherwise, when
    /// that way is not built, the first cache, if it is (any cache gives the
    /// same rules: a way only makes hits likelier); `None` when neither is.
    #[inline]
    pub(super) fn way(&mut self, address: FrameAddress, build: bool) -> Option<&mut Cache> {
        let at = address.address_for_lookup();
        let entry = (at % ENTRIES as u64) as usize;
        let pair = (at / ENTRIES as u64) as usize % PAIRS;
        let built = |ways: &Ways, index: usize| ways.caches.get(index).is_some_and(Option::is_some);
        let set = *self.sets.get(pair)?.get(entry)?;
        let second = if set.tags.0 == at {
            false
        } else if set.tags.1 == at {
            true
        } else {
            // Neither holds it: it replaces the one used less recently.
            set.first_last
        };
        let mut index = 2 * pair + usize::from(second);
        if !build && !built(self, index) {
            // Walks that must not allocate take the other way of the pair,
            // or the first cache, as they are.
            index = [2 * pair + usize::from(!second), 0]
                .into_iter()
                .find(|&index| built(self, index))?;
        }
        if let (Some(set), Some(side)) = (
            self.sets.get_mut(pair).and_then(|sets| sets.get_mut(entry)),
            index.checked_sub(2 * pair).filter(|&side| side < 2),
        ) {
            if side == 0 {
                set.tags.0 = at;
            } else {
                set.tags.1 = at;
            }
            set.first_last = side == 0;
        }
        let cache = self.caches.get_mut(index)?;
        if build && cache.is_none() {
            *cache = Some(Box::new(Cache::new_in()));
        }
        cache.as_deref_mut()
    }

    /// Builds the first cache now, for walks that must not allocate; the
    /// others are built by the sampled path's walks as they need them.
    #[cfg(feature = "cpu")]
    pub(super) fn build_first(&mut self) {
        if let Some(first) = self.caches.first_mut() {
            first.get_or_insert_with(|| Box::new(Cache::new_in()));
        }
    }

    /// Which cache (its index) the frame returning to `address` is unwound
    /// with, for tests: [`way`](Self::way), building as it does when `build`
    /// and updating the tags as a walk does.
    #[cfg(test)]
    fn index_of(&mut self, address: u64, build: bool) -> Option<usize> {
        let frame = FrameAddress::from_return_address(address)?;
        let chosen: *const Cache = self.way(frame, build)?;
        self.caches.iter().position(|cache| {
            cache
                .as_deref()
                .is_some_and(|cache| std::ptr::eq(cache, chosen))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A return address whose lookup address (one less) is `at`.
    fn returning_to(at: u64) -> u64 {
        at + 1
    }

    #[test]
    fn two_colliding_addresses_keep_their_own_way() {
        // 2,036 bytes apart: the same pair, the same entry.
        let mut ways = Box::new(Ways::EMPTY);
        let (a, b) = (returning_to(0x40_0000), returning_to(0x40_0000 + 2036));
        let first_a = ways.index_of(a, true);
        let first_b = ways.index_of(b, true);
        assert!(first_a.is_some() && first_b.is_some());
        assert_ne!(first_a, first_b, "the second took the other way");
        for _ in 0..10 {
            assert_eq!(ways.index_of(a, true), first_a);
            assert_eq!(ways.index_of(b, true), first_b);
        }
    }

    #[test]
    fn a_third_replaces_the_one_used_less_recently() {
        let mut ways = Box::new(Ways::EMPTY);
        let at = |k: u64| returning_to(0x40_0000 + 2036 * k);
        let (a, b, c) = (at(0), at(1), at(2));
        let way_a = ways.index_of(a, true);
        let way_b = ways.index_of(b, true);
        assert_ne!(way_a, way_b);
        // `a` used again: `b` is the one used less recently, `c` takes its
        // place, and `a` keeps its own.
        assert_eq!(ways.index_of(a, true), way_a);
        assert_eq!(ways.index_of(c, true), way_b);
        assert_eq!(ways.index_of(a, true), way_a);
        // `b` is gone from both ways: it takes `c`'s, used less recently.
        assert_eq!(ways.index_of(b, true), way_b);
    }

    #[test]
    fn addresses_apart_in_the_pair_index_use_the_other_pair() {
        let mut ways = Box::new(Ways::EMPTY);
        let a = ways.index_of(returning_to(0x40_0000), true);
        let b = ways.index_of(returning_to(0x40_0000 + 509), true);
        assert!(a.is_some() && b.is_some());
        assert_ne!(a.map(|a| a / 2), b.map(|b| b / 2), "{a:?} and {b:?}");
    }

    #[test]
    fn walks_that_must_not_allocate_build_nothing() {
        let mut ways = Box::new(Ways::EMPTY);
        let (pair_0, pair_1) = (returning_to(0x40_0000), returning_to(0x40_0000 + 509));
        assert_eq!(ways.index_of(pair_0, false), None, "nothing built yet");
        // A first miss fills the first way of its pair: cache 0 for pair 0.
        assert_eq!(ways.index_of(pair_0, true), Some(0));
        // Pair 1's caches are not built: the first cache, as it is.
        assert_eq!(ways.index_of(pair_1, false), Some(0));
        assert_eq!(
            ways.caches.iter().filter(|cache| cache.is_some()).count(),
            1
        );
        // Its tags were not taken: a walk that may build still misses into
        // pair 1, at its first way.
        assert_eq!(ways.index_of(pair_1, true), Some(2));
    }
}
