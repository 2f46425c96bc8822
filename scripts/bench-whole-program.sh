#!/usr/bin/env bash
# Whole-program overhead: builds examples/profiled-app once with the System
# allocator and once with `--features profiling`, runs the two binaries
# alternately, and prints the median time of each and their ratio.
#
#   scripts/bench-whole-program.sh [runs=9] [documents=20000]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
documents=${2:-20000}
out=target/whole-program
mkdir -p "$out"

cargo build --release -q -p profiled-app
cp target/release/profiled-app "$out/system"
cargo build --release -q -p profiled-app --features profiling
cp target/release/profiled-app "$out/profiling"

: > "$out/system.ms"
: > "$out/profiling.ms"
for ((i = 0; i < runs; i++)); do
  # Alternate which build goes first, so drift hits both alike.
  if ((i % 2 == 0)); then order="system profiling"; else order="profiling system"; fi
  for build in $order; do
    "$out/$build" "$documents" | awk '/^elapsed_ms/ { print $2 }' >> "$out/$build.ms"
  done
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
system=$(median "$out/system.ms")
profiling=$(median "$out/profiling.ms")
echo "whole program (profiled-app, $documents documents, median of $runs runs each)"
echo "  System:             ${system} ms"
echo "  ProfilingAllocator: ${profiling} ms"
awk -v s="$system" -v p="$profiling" 'BEGIN { printf "  ratio:              %.3fx\n", p / s }'
