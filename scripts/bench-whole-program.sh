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
# divided by System's time in the same round (and, beside it, the ratio of
# the medians).
#
# glibc's heap trimming makes the mixed workload's time chaotic in the
# heap's layout: one 24-byte block more at a thread's start moves System's
# own time by up to 30 % (page faults by 2.5x). So the mixed workload runs
# twice: with glibc's mmap and trim thresholds fixed (GLIBC_TUNABLES; what
# the profiler itself costs), and with glibc's defaults, each round at
# another layout (the workload's `shift` argument = the round's number).
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

# run_set NAME "BUILD..." ARGS [SHIFT]: the first build is the baseline;
# with SHIFT=shift, the round's number is appended to the arguments.
run_set() {
  local name=$1 builds=$2 args=$3 shift=${4:-}
  local baseline=${builds%% *}
  local key
  key=$(printf '%s' "$name" | tr -c 'a-z0-9' '_')
  for build in $builds; do : > "$out/$key.$build.ms"; done
  for ((i = 0; i < rounds; i++)); do
    local order=$builds
    # Alternate the order, so drift over a round hits every build alike.
    if ((i % 2 == 1)); then order=$(echo "$builds" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    local round_args=$args
    if [[ $shift == shift ]]; then round_args="$args $i"; fi
    for build in $order; do
      # shellcheck disable=SC2086
      "$out/$build" $round_args | awk '/^elapsed_ms/ { print $2 }' >> "$out/$key.$build.ms"
    done
  done
  echo "$name (median of $rounds paired rounds)"
  for build in $builds; do
    local ms base ratio
    ms=$(median < "$out/$key.$build.ms")
    base=$(median < "$out/$key.$baseline.ms")
    ratio=$(paste "$out/$key.$build.ms" "$out/$key.$baseline.ms" |
      awk '{ printf "%.4f\n", $1 / $2 }' | median)
    printf "  %-16s %8s ms  %sx paired, %sx of medians\n" "$build" "$ms" "$ratio" \
      "$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.4f", a / b }')"
  done
}

run_set "profiled-app, $documents documents" "app-system app-profiling" "$documents"
mixed="mixed-system mixed-counting mixed-poisson"
(
  export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=1073741824
  run_set "mixed workload, glibc thresholds fixed, 1 thread, $ops ops" "$mixed" "1 $ops"
  run_set "mixed workload, glibc thresholds fixed, 2 threads, $ops ops each" "$mixed" "2 $ops"
)
run_set "mixed workload, glibc defaults, a layout per round, 1 thread, $ops ops" "$mixed" "1 $ops" shift
run_set "mixed workload, glibc defaults, a layout per round, 2 threads, $ops ops each" "$mixed" "2 $ops" shift
