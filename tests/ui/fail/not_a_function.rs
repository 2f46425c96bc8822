use profiling_alloc::profile_job;

#[profile_job]
struct Ingest {
    rows: usize,
}

fn main() {
    let ingest = Ingest { rows: 1 };
    assert_eq!(ingest.rows, 1);
}
