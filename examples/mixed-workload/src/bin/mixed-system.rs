//! The mixed workload on the System allocator: the baseline.
fn main() {
    mixed_workload::main();
}
