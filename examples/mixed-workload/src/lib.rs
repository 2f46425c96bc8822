//! A mixed, realloc-heavy allocation workload, run whole-process by
//! `scripts/bench-whole-program.sh` under three global allocators (one
//! binary each in `src/bin/`): System, `ProfilingAllocator` counting only,
//! and `ProfilingAllocator` with Poisson sampling at 512 KiB.
//!
//! Each thread makes `ops` objects, each replacing the oldest of a rolling
//! window of 1,000 live ones. Sizes: 90 % 8–256 B, 9.9 % 1–64 KiB, 0.1 %
//! 1 MiB. Kinds: 30 % `Vec::with_capacity`, 20 % `String::with_capacity`,
//! 20 % `Box<[u8]>::new_uninit_slice`, 10 % `vec![0; n]`, 20 % a `Vec`
//! grown by 32-byte appends, every 4th of those then `shrink_to_fit`.
//!
//! Usage: `mixed-<allocator> [threads=1] [ops=5000000] [shift=0]`; prints
//! `elapsed_ms N` and a checksum (so nothing is optimised away).
//!
//! `shift`: how many 24-byte blocks each thread allocates first and keeps.
//! glibc's heap trimming makes this workload's time chaotic in the heap's
//! layout (measured: one such block moves System's own time by up to 30 %
//! and its page faults by 2.5x), so the benchmark pairs builds at the same
//! shift and varies the shift from round to round.

pub mod json;

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Instant;

const WINDOW: usize = 1000;

/// One live object of the window.
#[allow(dead_code)] // held only to be dropped later
enum Object {
    Empty,
    Bytes(Vec<u8>),
    Text(String),
    Uninit(Box<[MaybeUninit<u8>]>),
}

/// A small, fast generator (xorshift64), seeded per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A size: 90 % 8–256 B, 9.9 % 1–64 KiB, 0.1 % 1 MiB.
    fn size(&mut self) -> usize {
        let pick = self.next() % 1000;
        let r = self.next() as usize;
        match pick {
            0 => 1 << 20,
            1..=99 => 1024 + r % (63 * 1024),
            _ => 8 + r % 249,
        }
    }
}

/// One object of a drawn kind and size; returns it and a byte of it.
fn make(rng: &mut Rng, grown: &mut u64) -> (Object, u8) {
    let size = rng.size();
    let kind = rng.next() % 10;
    match kind {
        0..=2 => {
            let mut v: Vec<u8> = Vec::with_capacity(size);
            v.push(kind as u8);
            let first = v[0];
            (Object::Bytes(v), first)
        }
        3..=4 => {
            let mut s = String::with_capacity(size);
            s.push('x');
            (Object::Text(s), b'x')
        }
        5..=6 => {
            let mut b = Box::<[u8]>::new_uninit_slice(size);
            b[0].write(7);
            (Object::Uninit(b), 7)
        }
        7 => {
            let v = vec![0u8; size];
            let first = v[size / 2];
            (Object::Bytes(v), first)
        }
        _ => {
            let chunk = [kind as u8; 32];
            let mut v: Vec<u8> = Vec::new();
            while v.len() < size {
                v.extend_from_slice(&chunk);
            }
            *grown += 1;
            if grown.is_multiple_of(4) {
                v.shrink_to_fit();
            }
            let first = v[0];
            (Object::Bytes(v), first)
        }
    }
}

/// One thread's share: `ops` objects through the window; returns a checksum.
/// Never inlined: `scripts/instructions.sh` counts instructions inside it only
/// (`valgrind --tool=callgrind --toggle-collect=mixed_workload::run_thread`).
#[inline(never)]
pub fn run_thread(seed: u64, ops: u64, shift: usize) -> u64 {
    // Small blocks kept for the whole run: they move everything after them.
    let _shift: Vec<Box<[u8; 24]>> = (0..shift).map(|_| Box::new([0u8; 24])).collect();
    let mut rng = Rng(seed | 1);
    let mut window: Vec<Object> = (0..WINDOW).map(|_| Object::Empty).collect();
    let (mut sum, mut grown) = (0u64, 0u64);
    for i in 0..ops {
        let (object, byte) = make(&mut rng, &mut grown);
        sum = sum.wrapping_add(u64::from(byte));
        // Drops the oldest object.
        window[(i % WINDOW as u64) as usize] = black_box(object);
    }
    sum
}

/// Runs the workload as the command line says and prints the elapsed time.
pub fn main() {
    let mut args = std::env::args().skip(1);
    let threads: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let ops: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let shift: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let start = Instant::now();
    let sum: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    run_thread(0x9e37_79b9 ^ ((t + 1) * 0x1234_5678_9abc), ops, shift)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    println!("elapsed_ms {}", start.elapsed().as_millis());
    println!("checksum {sum}");
}
