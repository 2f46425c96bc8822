//! The JSON and regex workload on the System allocator (run under heaptrack
//! by `scripts/instructions.sh`).
fn main() {
    mixed_workload::json::main();
}
