//! Capturing and interning stacks while many threads allocate, free each
//! other's blocks, and a reader resolves callsites concurrently: no deadlock,
//! and in `Every` mode the callsites account for every block.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use common::{Block, Rng};
use profiling_alloc::{callsites, set_sampling, ProfilingAllocator, Sampling};

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

const THREADS: usize = 4;
const OPS: usize = 20_000;

/// A block in transit between threads.
type Raw = (usize, usize, usize);

/// Allocates, reallocs and frees; every other block goes to the next thread
/// to free. Returns how many blocks it allocated (reallocs included).
#[inline(never)]
fn churn(seed: u64, give: mpsc::Sender<Raw>, take: &mpsc::Receiver<Raw>) -> u64 {
    let mut rng = Rng::new(seed);
    let mut allocated = 0;
    for i in 0..OPS {
        let mut block = Block::new(1 + rng.below(3000) as usize, 8, i % 3 == 0);
        allocated += 1;
        if i % 4 == 0 {
            block.resize(block.size() * 2 + 1);
            allocated += 1;
        }
        if i % 2 == 0 {
            // The receiver may be gone at the end; then free here.
            if let Err(mpsc::SendError(raw)) = give.send(block.into_raw()) {
                // SAFETY: `raw` came from `into_raw` just above.
                unsafe { Block::from_raw(raw) }.free();
            }
        } else {
            block.free();
        }
        while let Ok(raw) = take.try_recv() {
            // SAFETY: another thread's block, sent once through the channel.
            unsafe { Block::from_raw(raw) }.free();
        }
    }
    allocated
}

fn run(mode: Sampling) -> u64 {
    set_sampling(mode);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                reads += usize::from(!callsites().is_empty());
            }
            reads
        })
    };
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel()).unzip();
    let mut receivers: Vec<_> = receivers.into_iter().map(Some).collect();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let give = senders[(t + 1) % THREADS].clone();
            let take = receivers[t].take().expect("receiver");
            thread::spawn(move || {
                let allocated = churn(t as u64 + 1, give, &take);
                // Blocks still in the channel are freed by `run` once every
                // sender is gone.
                (allocated, take)
            })
        })
        .collect();
    drop(senders);
    let mut allocated = 0;
    let mut leftovers = Vec::new();
    for worker in workers {
        let (count, take) = worker.join().expect("worker");
        allocated += count;
        leftovers.push(take);
    }
    for take in leftovers {
        for raw in take.try_iter() {
            // SAFETY: a block sent once and never received.
            unsafe { Block::from_raw(raw) }.free();
        }
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader");
    set_sampling(Sampling::Off);
    allocated
}

/// Callsites of the workload's own blocks: `Block::new`/`Block::resize`
/// called from `churn` (not, say, the channel's allocations).
fn is_churn_block(site: &profiling_alloc::Callsite) -> bool {
    matches!(site.frames.as_slice(), [block, caller, ..]
        if block.function.contains("Block::") && caller.function.ends_with("::churn"))
}

fn churn_blocks() -> f64 {
    callsites()
        .iter()
        .filter(|site| is_churn_block(site))
        .map(|site| site.total_blocks)
        .sum()
}

#[test]
fn main() {
    // Every block sampled, from four threads at once, with a reader.
    let before = churn_blocks();
    let allocated = run(Sampling::Every);
    assert_eq!(
        churn_blocks() - before,
        allocated as f64,
        "every allocation has its callsite"
    );
    assert_eq!(profiling_alloc::callsites::dropped_samples(), 0);

    // Poisson sampling at a small rate (many samples), same load.
    run(Sampling::Poisson { mean_bytes: 4096 });
    let live: f64 = callsites()
        .iter()
        .filter(|site| is_churn_block(site))
        .map(|site| site.live_blocks)
        .sum();
    // Every block was freed (some by another thread): nothing stays live.
    assert_eq!(live, 0.0);
}
