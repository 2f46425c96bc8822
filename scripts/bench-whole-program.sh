#!/usr/bin/env bash
# Whole-program overhead, as whole processes, each against System in the
# same run:
#
# 1. examples/profiled-app (a word index with jobs), built once with the
#    System allocator and once with `--features profiling` (the allocator's
#    defaults: counting, Poisson sampling at 512 KiB, jobs recorded);
# 2. examples/mixed-workload (mixed sizes, realloc-heavy: see its lib.rs),
#    one binary per allocator: System, counting only, Poisson 512 KiB; on 1
#    and on 2 threads.
#
# Runs are paired: each round runs every build once, in an order that
# alternates, and a build's ratio is the median over rounds of its time
# divided by System's time in the same round.
#
#   scripts/bench-whole-program.sh [rounds=9] [documents=20000] [ops=2000000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}
documents=${2:-20000}
ops=${3:-2000000}
target=${CARGO_TARGET_DIR:-target}
out=$target/whole-program
mkdir -p "$out"

cargo build --release -q -p profiled-app
cp "$target/release/profiled-app" "$out/app-system"
cargo build --release -q -p profiled-app --features profiling
cp "$target/release/profiled-app" "$out/app-profiling"
cargo build --release -q -p mixed-workload
for build in system counting poisson; do
  cp "$target/release/mixed-$build" "$out/mixed-$build"
done

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# run_set NAME "BUILD..." ARGS: the first build is the baseline.
run_set() {
  local name=$1 builds=$2 args=$3
  local baseline=${builds%% *}
  local key
  key=$(printf '%s' "$name" | tr -c 'a-z0-9' '_')
  for build in $builds; do : > "$out/$key.$build.ms"; done
  for ((i = 0; i < rounds; i++)); do
    local order=$builds
    # Alternate the order, so drift over a round hits every build alike.
    if ((i % 2 == 1)); then order=$(echo "$builds" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for build in $order; do
      # shellcheck disable=SC2086
      "$out/$build" $args | awk '/^elapsed_ms/ { print $2 }' >> "$out/$key.$build.ms"
    done
  done
  echo "$name (median of $rounds paired rounds)"
  for build in $builds; do
    local ms ratio
    ms=$(median < "$out/$key.$build.ms")
    ratio=$(paste "$out/$key.$build.ms" "$out/$key.$baseline.ms" |
      awk '{ printf "%.4f\n", $1 / $2 }' | median)
    printf "  %-16s %8s ms  %sx\n" "$build" "$ms" "$ratio"
  done
}

run_set "profiled-app, $documents documents" "app-system app-profiling" "$documents"
run_set "mixed workload, 1 thread, $ops ops" "mixed-system mixed-counting mixed-poisson" "1 $ops"
run_set "mixed workload, 2 threads, $ops ops each" "mixed-system mixed-counting mixed-poisson" "2 $ops"
