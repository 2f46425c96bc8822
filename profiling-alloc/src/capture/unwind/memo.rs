//! The last walk through a set of rule caches, so that the next walk can
//! stop where the two stacks meet.
//!
//! Unwinding a frame is a function of its registers (`ip`, `sp`, `bp`) and
//! of the stack words its rule reads: the rules come from unwind tables that
//! never change while a module is listed (see `cached_dwarf`). So the walk
//! from a frame to the end of the stack is a function of that frame's
//! registers and of every word read on the way. A walk is kept with, for
//! each frame, its registers and the words read from it outwards. When the
//! next walk reaches a frame whose registers equal one of those, and every
//! word read from there outwards still holds the value read then, the rest
//! of the new walk *is* the rest of the kept one: it is copied, not walked.
//!
//! Allocations made in one loop share all frames but the innermost few, so
//! most walks unwind those few and then compare one or two words per
//! remaining frame, instead of looking up and running a rule for each. The
//! result is the stack the kept walk's rules give, word for word: nothing
//! is assumed about which functions have returned in between, since every
//! word the answer depends on is read again. (The one way a full walk could
//! differ: framehop caches a fallback rule for an address whose DWARF rule
//! failed on a stack read, and a later full walk would use that fallback
//! where the kept walk used the DWARF rule.)
//!
//! The kept walk is stored outermost frame first, so a walk that meets it
//! replaces only the frames inside the meeting point. Only walks that
//! reached the end of the stack are kept; one that stopped on an error, a
//! word it could not read, or more than [`MAX_FRAMES`] frames leaves the
//! kept walk in place. (A walk whose caller asked for fewer frames than the
//! stack has goes on to the end for the memo's sake, up to that limit.)

use super::stack::{read_word, readable, Bounds};
use super::MAX_FRAMES;

/// Stack words a kept walk may have read: two a frame (the return address
/// and a saved frame pointer) for the deepest walk kept.
const MAX_READS: usize = 2 * MAX_FRAMES;

#[cfg(test)]
thread_local! {
    /// Walks of this thread that met a kept one, for tests that must see
    /// it happen.
    pub(super) static MEETINGS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A frame of the kept walk: its registers once unwound to (`ip` is its
/// return address), how many of the kept reads were made from it outwards
/// (the first `reads`), and the lowest and highest address among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    ip: u64,
    sp: u64,
    bp: u64,
    reads: usize,
    lowest: usize,
    highest: usize,
}

/// A frame of the walk in progress, innermost first: its registers and
/// where the reads made from it outwards begin in `Memo::new_reads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NewFrame {
    ip: u64,
    sp: u64,
    bp: u64,
    reads_from: usize,
}

/// The kept walk, and room for the one in progress (about 20 KiB; in a
/// `static`, zero until used).
#[derive(Debug)]
pub(super) struct Memo {
    /// The kept walk's frames, outermost first.
    frames: [Frame; MAX_FRAMES],
    frame_count: usize,
    /// The words it read, `(address, value)`: those read from an outer
    /// frame before those read from an inner one.
    reads: [(usize, u64); MAX_READS],
    read_count: usize,
    /// The walk in progress, innermost first, and its reads in the order
    /// made.
    new_frames: [NewFrame; MAX_FRAMES],
    new_frame_count: usize,
    new_reads: [(usize, u64); MAX_READS],
    new_read_count: usize,
}

impl Memo {
    pub(super) const EMPTY: Memo = Memo {
        frames: [Frame {
            ip: 0,
            sp: 0,
            bp: 0,
            reads: 0,
            lowest: 0,
            highest: 0,
        }; MAX_FRAMES],
        frame_count: 0,
        reads: [(0, 0); MAX_READS],
        read_count: 0,
        new_frames: [NewFrame {
            ip: 0,
            sp: 0,
            bp: 0,
            reads_from: 0,
        }; MAX_FRAMES],
        new_frame_count: 0,
        new_reads: [(0, 0); MAX_READS],
        new_read_count: 0,
    };

    /// Forgets the kept walk.
    #[cfg(test)]
    pub(super) fn forget(&mut self) {
        self.frame_count = 0;
        self.read_count = 0;
    }

    /// Starts recording a walk of the calling thread's stack, `bounds`,
    /// from a frame whose stack pointer is `sp`: words from `sp` to the top
    /// may be read.
    ///
    /// # Safety
    ///
    /// `bounds` must be the calling thread's stack (`stack::bounds`), and
    /// `sp` at or above the thread's stack pointer and below the top of
    /// that stack, for as long as the recording is used: the words between
    /// are then mapped memory of this thread.
    pub(super) unsafe fn record(&mut self, sp: usize, bounds: Bounds) -> Recording<'_> {
        self.new_frame_count = 0;
        self.new_read_count = 0;
        let cursor = self.frame_count;
        Recording {
            memo: self,
            sp,
            bounds,
            logging: false,
            spoiled: false,
            cursor,
            changed_at: usize::MAX,
            met: None,
        }
    }
}

/// A walk being recorded and compared with the kept one.
pub(super) struct Recording<'a> {
    memo: &'a mut Memo,
    /// The walk's stack pointer and the thread's stack: what may be read.
    sp: usize,
    bounds: Bounds,
    /// Reads are logged from the first kept frame on.
    logging: bool,
    /// The walk cannot be kept: a read failed or a buffer is full.
    spoiled: bool,
    /// Kept frames not yet found inside this walk's frame: the candidate
    /// meeting point is the one before it.
    cursor: usize,
    /// The first kept read found changed: frames that read it outwards
    /// cannot be the meeting point.
    changed_at: usize,
    /// The kept frame this walk met, once it has.
    met: Option<usize>,
}

impl Recording<'_> {
    /// Reads the stack word at `address` for the unwinder: only words
    /// between the walk's stack pointer and the top of the stack.
    pub(super) fn read(&mut self, address: u64) -> Result<u64, ()> {
        let at = usize::try_from(address).map_err(drop)?;
        if !readable(at, self.sp, self.bounds) {
            // A refused read changes where the walk goes from here: a walk
            // that went through one is not kept. (Before the first kept
            // frame, it only decides that frame's registers, which a
            // meeting compares.)
            self.spoiled |= self.logging;
            return Err(());
        }
        // SAFETY: `at..at + 8` lies between the walk's start frame's stack
        // pointer, at or above this thread's (`record`'s contract), and the
        // top of this thread's stack (`readable`): mapped memory of this
        // thread.
        let value = unsafe { read_word(at) } as u64;
        if self.logging {
            let memo = &mut *self.memo;
            match memo.new_reads.get_mut(memo.new_read_count) {
                Some(entry) => {
                    *entry = (at, value);
                    memo.new_read_count += 1;
                }
                None => self.spoiled = true,
            }
        }
        Ok(value)
    }

    /// Records a kept frame, once unwound to (`ip` is its return address).
    /// True when the kept walk went through a frame with these registers and
    /// nothing it read from there outwards has changed: the rest of this
    /// walk is then [`rest`](Self::rest), and it has ended (and is kept
    /// in place of the last).
    pub(super) fn on_frame(&mut self, ip: u64, sp: u64, bp: u64) -> bool {
        self.logging = true;
        let memo = &mut *self.memo;
        let reads_from = memo.new_read_count;
        match memo.new_frames.get_mut(memo.new_frame_count) {
            Some(slot) => {
                *slot = NewFrame {
                    ip,
                    sp,
                    bp,
                    reads_from,
                };
                memo.new_frame_count += 1;
            }
            None => self.spoiled = true,
        }
        let Some(meeting) = self.meeting(ip, sp, bp) else {
            return false;
        };
        self.met = Some(meeting);
        #[cfg(test)]
        MEETINGS.with(|met| met.set(met.get() + 1));
        if !self.spoiled {
            // The frames inside the meeting point are this walk's; the
            // meeting frame itself is already kept.
            let inner = self.memo.new_frame_count.saturating_sub(1);
            self.keep(meeting + 1, inner);
        }
        true
    }

    /// Whether this walk can still be kept: no read was refused and it has
    /// not outgrown the memo.
    pub(super) fn keepable(&self) -> bool {
        !self.spoiled
    }

    /// The return addresses outside the meeting frame, innermost first
    /// (none before [`on_frame`](Self::on_frame) returned true).
    pub(super) fn rest(&self) -> impl Iterator<Item = u64> + '_ {
        let frames = self
            .met
            .and_then(|met| self.memo.frames.get(..met))
            .unwrap_or_default();
        frames.iter().rev().map(|frame| frame.ip)
    }

    /// The walk reached the end of the stack: keep it for the next walk.
    pub(super) fn finish(mut self) {
        if !self.spoiled && self.met.is_none() {
            let all = self.memo.new_frame_count;
            self.keep(0, all);
        }
    }

    /// The kept frame with these registers, if it is the candidate and every
    /// word read from it outwards still holds.
    fn meeting(&mut self, ip: u64, sp: u64, bp: u64) -> Option<usize> {
        let frames = self.memo.frames.get(..self.memo.frame_count)?;
        while self.cursor > 0 && frames.get(self.cursor - 1).is_some_and(|f| f.sp < sp) {
            self.cursor -= 1;
        }
        let index = self.cursor.checked_sub(1)?;
        let candidate = frames.get(index)?;
        if (candidate.ip, candidate.sp, candidate.bp) != (ip, sp, bp)
            || candidate.reads > self.changed_at
        {
            return None;
        }
        // Every kept read was an aligned word when made, so the two ends
        // decide whether all of them are readable from this walk.
        let (_, top) = self.bounds;
        let in_stack = candidate.reads == 0
            || (candidate.lowest >= self.sp
                && candidate
                    .highest
                    .checked_add(8)
                    .is_some_and(|end| end <= top));
        let reads = self.memo.reads.get(..candidate.reads)?;
        if !in_stack {
            // Frames outside the first word this walk may not read can
            // still be met.
            let (sp, bounds) = (self.sp, self.bounds);
            self.changed_at = reads
                .iter()
                .position(|&(at, _)| !readable(at, sp, bounds))
                .unwrap_or(0);
            return None;
        }
        // SAFETY: each `at` is an aligned word between this walk's start
        // frame's stack pointer, at or above this thread's (`record`'s
        // contract), and the top of this thread's stack (checked above
        // through the lowest and highest of them; each was aligned when
        // read): mapped memory of this thread.
        let changed = reads
            .iter()
            .position(|&(at, value)| unsafe { read_word(at) } as u64 != value);
        if let Some(changed) = changed {
            self.changed_at = changed;
            return None;
        }
        Some(index)
    }

    /// Keeps this walk: the kept frames before `base` (outermost first),
    /// then the first `count` frames of the walk in progress, outermost of
    /// them first, with their reads. Leaves the kept walk as it was when
    /// they do not fit.
    fn keep(&mut self, base: usize, count: usize) {
        let memo = &mut *self.memo;
        let base_reads = match base.checked_sub(1) {
            Some(outer) => memo
                .frames
                .get(outer)
                .map(|f| (f.reads, f.lowest, f.highest)),
            None => Some((0, usize::MAX, 0)),
        };
        let Some((mut read_count, mut lowest, mut highest)) = base_reads else {
            return;
        };
        let new_reads = memo
            .new_reads
            .get(..memo.new_read_count)
            .unwrap_or_default();
        let new_frames = memo.new_frames.get(..count).unwrap_or_default();
        let added: usize = new_frames.first().map_or(0, |innermost| {
            memo.new_read_count.saturating_sub(innermost.reads_from)
        });
        if base + count > MAX_FRAMES || read_count + added > MAX_READS {
            return;
        }
        // From the outermost new frame inwards: each adds the reads made
        // from it to the next one out (the last walked, to the end or the
        // meeting frame).
        // The frame outside them, if this walk reached it (the meeting
        // frame), else the end of the stack.
        let walked = memo
            .new_frames
            .get(..memo.new_frame_count)
            .unwrap_or_default();
        let mut end = walked
            .get(count)
            .map_or(memo.new_read_count, |outer| outer.reads_from);
        for (slot, frame) in memo
            .frames
            .iter_mut()
            .skip(base)
            .zip(new_frames.iter().rev())
        {
            let made = new_reads.get(frame.reads_from..end).unwrap_or_default();
            for (room, &(at, value)) in memo.reads.iter_mut().skip(read_count).zip(made) {
                *room = (at, value);
                lowest = lowest.min(at);
                highest = highest.max(at);
            }
            read_count += made.len();
            end = frame.reads_from;
            *slot = Frame {
                ip: frame.ip,
                sp: frame.sp,
                bp: frame.bp,
                reads: read_count,
                lowest,
                highest,
            };
        }
        memo.frame_count = base + count;
        memo.read_count = read_count;
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A pretend stack: the words live in this array, which lies in the
    /// test thread's stack like the frames of a real walk.
    struct Stack {
        words: [u64; 32],
    }

    impl Stack {
        fn at(&self, index: usize) -> u64 {
            std::ptr::from_ref(&self.words[index]) as u64
        }
        fn bounds(&self) -> Bounds {
            let low = self.at(0) as usize;
            (low, low + 32 * 8)
        }
    }

    /// A frame: `(ip, index of its stack pointer in the words)`.
    type At = (u64, usize);

    /// Walks `frames` (innermost first), reading `reads[i]` on the way from
    /// frame `i` to the next; returns the return addresses of the stack and
    /// whether it was the kept walk's rest that ended it.
    fn walk(memo: &mut Memo, stack: &Stack, frames: &[At], reads: &[&[usize]]) -> (Vec<u64>, bool) {
        let (low, _) = stack.bounds();
        // SAFETY: the pretend stack is in a caller's frame: above this
        // thread's stack pointer, mapped while the recording is used.
        let mut recording = unsafe { memo.record(low, stack.bounds()) };
        let mut ips = Vec::new();
        for (i, &(ip, sp)) in frames.iter().enumerate() {
            ips.push(ip);
            if recording.on_frame(ip, stack.at(sp), 0) {
                ips.extend(recording.rest());
                return (ips, true);
            }
            for &word in reads.get(i).copied().unwrap_or_default() {
                assert_eq!(recording.read(stack.at(word)), Ok(stack.words[word]));
            }
        }
        recording.finish();
        (ips, false)
    }

    const OUTER: [At; 4] = [(102, 8), (103, 12), (104, 16), (105, 20)];

    /// The words read on the way out of the frame at 0 and of `OUTER`'s,
    /// in turn (the outermost reads nothing).
    const READS: &[&[usize]] = &[&[2], &[9, 11], &[13], &[17]];

    /// Keeps the walk most tests start from: the frame at 0, `OUTER`'s,
    /// and `READS`.
    fn keep_first(memo: &mut Memo, stack: &Stack) {
        assert!(!walk(memo, stack, &frames(&[(100, 0)]), READS).1);
    }

    fn frames(inner: &[At]) -> Vec<At> {
        inner.iter().chain(&OUTER).copied().collect()
    }

    #[test]
    fn a_walk_that_meets_the_kept_one_takes_its_rest() {
        let stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        let reads: &[&[usize]] = &[&[2], &[6], &[9, 11], &[13], &[17]];
        let first = walk(&mut memo, &stack, &frames(&[(100, 0), (101, 4)]), reads);
        assert_eq!(first, (vec![100, 101, 102, 103, 104, 105], false));
        // Another inner frame, then the kept walk's third frame.
        let second = walk(&mut memo, &stack, &frames(&[(200, 2)]), &[&[5], &[9, 11]]);
        assert_eq!(second, (vec![200, 102, 103, 104, 105], true));
        // The same again meets at once, through the walk kept last.
        let third = walk(&mut memo, &stack, &frames(&[(200, 2)]), &[]);
        assert_eq!(third, (vec![200, 102, 103, 104, 105], true));
    }

    #[test]
    fn a_changed_word_moves_the_meeting_point_outwards() {
        let mut stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        keep_first(&mut memo, &stack);
        // A word read from the second kept frame outwards changed (the
        // frame at 12 returned, and another call wrote its return address):
        // the walk must not meet before the frame that read it.
        stack.words[13] = 8;
        let (ips, met) = walk(&mut memo, &stack, &frames(&[(100, 0)]), READS);
        assert_eq!(ips, vec![100, 102, 103, 104, 105]);
        assert!(met, "met at the frame outside the change");
        // The walk kept is the new one: the changed word now matches.
        let again = walk(&mut memo, &stack, &frames(&[(100, 0)]), &[]);
        assert_eq!(again, (vec![100, 102, 103, 104, 105], true));
    }

    #[test]
    fn registers_must_match_exactly() {
        let stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        keep_first(&mut memo, &stack);
        // The same stack pointers, other return addresses: walked, not
        // copied, until the frames are the same again.
        let other: Vec<At> = [(150, 0), (999, 8)]
            .into_iter()
            .chain(OUTER[1..].iter().copied())
            .collect();
        let (ips, met) = walk(&mut memo, &stack, &other, READS);
        assert_eq!(ips, vec![150, 999, 103, 104, 105]);
        assert!(met, "met again at the frame outside the difference");
        // SAFETY: as in `walk`.
        let mut recording = unsafe { memo.record(stack.bounds().0, stack.bounds()) };
        assert!(
            !recording.on_frame(100, stack.at(0), 1),
            "another frame pointer"
        );
    }

    #[test]
    fn a_walk_that_cannot_read_is_not_kept() {
        let stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        keep_first(&mut memo, &stack);
        let (low, top) = stack.bounds();
        // SAFETY: as in `walk`.
        let mut recording = unsafe { memo.record(low, stack.bounds()) };
        assert!(!recording.on_frame(300, stack.at(1), 0));
        assert_eq!(recording.read(top as u64), Err(()), "past the top");
        recording.finish();
        // The walk kept before is still the one met.
        let (ips, met) = walk(&mut memo, &stack, &frames(&[(100, 0)]), &[]);
        assert_eq!(ips, vec![100, 102, 103, 104, 105]);
        assert!(met);
    }

    #[test]
    fn the_last_step_of_a_walk_is_checked_too() {
        let mut stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        // A deeper walk first, so that room past the next one's frames holds
        // stale entries.
        walk(
            &mut memo,
            &stack,
            &frames(&[(100, 0), (101, 4)]),
            &[&[2, 3], &[6], &[9]],
        );
        // Two frames; the step out of the outer one reads word 25, then the
        // stack ends.
        let shallow = [(300, 1), (301, 3)];
        let reads: &[&[usize]] = &[&[2], &[25]];
        assert_eq!(
            walk(&mut memo, &stack, &shallow, reads),
            (vec![300, 301], false)
        );
        assert_eq!(
            walk(&mut memo, &stack, &shallow, &[]),
            (vec![300, 301], true)
        );
        // Word 25 changed: a full walk would go on from the outer frame, so
        // neither frame may be met.
        stack.words[25] = 8;
        let (ips, met) = walk(&mut memo, &stack, &shallow, reads);
        assert_eq!(ips, vec![300, 301]);
        assert!(!met, "met although the last step's word changed");
    }

    #[test]
    fn a_walk_that_may_not_read_inner_words_meets_further_out() {
        let stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        keep_first(&mut memo, &stack);
        // A walk allowed to read only from word 10 up: the kept reads of
        // words 2, 9 and 11 are not its to check.
        let (_, top) = stack.bounds();
        let from = stack.at(10) as usize;
        // SAFETY: as in `walk`, from further up the same pretend stack.
        let mut recording = unsafe { memo.record(from, (from, top)) };
        assert!(!recording.on_frame(100, stack.at(0), 0));
        assert!(!recording.on_frame(102, stack.at(8), 0));
        assert!(recording.on_frame(103, stack.at(12), 0), "met above them");
        assert_eq!(recording.rest().collect::<Vec<_>>(), vec![104, 105]);
    }

    #[test]
    fn nothing_is_met_before_a_walk_is_kept() {
        let stack = Stack { words: [7; 32] };
        let mut memo = Memo::EMPTY;
        let (ips, met) = walk(&mut memo, &stack, &frames(&[(100, 0)]), &[]);
        assert_eq!(ips.len(), 5);
        assert!(!met);
    }
}
