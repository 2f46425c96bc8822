#!/usr/bin/env bash
# The hot path's cost in instructions, which shared machines do not make
# noisy, and `Sampling::Every` against heaptrack in wall time.
#
# 1. examples/mixed-workload (mixed sizes, realloc-heavy: see its lib.rs),
#    1 thread, under valgrind's callgrind, counting only the instructions
#    inside `mixed_workload::run_thread` (start-up and exit left out):
#    System, divan's AllocProfiler, ProfilingAllocator counting only, and
#    with Poisson sampling at 512 KiB (the default). Prints each one's
#    instructions, its ratio to System, its extra instructions per
#    allocator call (calls counted by callgrind in the System run), the
#    same for its own code only (the inner allocator and memcpy left out:
#    their counts move with the heap's layout), glibc's memcpy, and the
#    ratio with System's memcpy in place of the variant's (a profiler that
#    allocates one block more moves every later block, and which reallocs
#    grow in place: memcpy moves by up to 3 % of the total from build to
#    build, and from one `shift` of the workload to the next).
# 2. The JSON and regex workload (examples/mixed-workload/src/json.rs, about
#    1.1 million allocations): on System under heaptrack (which writes its
#    data file), and with Sampling::Every writing its JSON report; whole
#    processes, paired rounds, the median of each and of their ratio.
#
# Each part is skipped, with a line saying so, when its tool is missing.
#
#   scripts/instructions.sh [ops=1000000] [rounds=5] [layouts=1]
#
# `layouts`: how many heap layouts to sum part 1 over (the workload's
# `shift` argument 0, 1, ...; every variant runs at each).
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-1000000}
rounds=${2:-5}
layouts=${3:-1}
target=${CARGO_TARGET_DIR:-target}
out=$target/instructions
mkdir -p "$out"

cargo build --release -q -p mixed-workload --bins --examples
bin=$target/release

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

if command -v valgrind >/dev/null 2>&1; then
  echo "== instructions inside the workload (callgrind), 1 thread, $ops operations, $layouts heap layout(s)"
  declare -A collected own copied
  calls=0
  for ((shift = 0; shift < layouts; shift++)); do
    for build in system divan counting poisson; do
      exe=$bin/mixed-$build
      [[ $build == divan ]] && exe=$bin/examples/mixed-divan
      run=$out/$build-$shift
      valgrind --tool=callgrind --callgrind-out-file="$run.callgrind" \
        --toggle-collect='mixed_workload::run_thread*' "$exe" 1 "$ops" "$shift" \
        >/dev/null 2>"$run.log"
      n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$run.log")
      # The allocators' own instructions: the global allocator's entries
      # with what is inlined into them, and the profilers' own functions;
      # without the inner allocator and glibc's memcpy, whose counts move
      # with the heap's layout (a realloc that can grow in place copies
      # nothing).
      o=$(callgrind_annotate --auto=no --threshold=100 "$run.callgrind" 2>/dev/null |
        awk '/:__rustc::__r|profiling_alloc::|framehop::|gimli::|divan::/ { gsub(",", "", $1); s += $1 }
             END { printf "%.0f", s }')
      # glibc's memcpy, with everything it calls: what realloc copies.
      m=$(callgrind_annotate --auto=no --inclusive=yes "$run.callgrind" 2>/dev/null |
        awk '/:__memcpy_[a-z0-9_]* / { gsub(",", "", $1); s += $1 } END { printf "%.0f", s }')
      collected[$build]=$((${collected[$build]:-0} + n))
      own[$build]=$((${own[$build]:-0} + o))
      copied[$build]=$((${copied[$build]:-0} + m))
    done
    # Allocator calls: the calls into the global allocator's four entries.
    c=$(awk '/^c?fn=\(/ {
               id = $1; sub(/^c?fn=/, "", id)
               if (NF > 1) name[id] = $2
               if ($0 ~ /^cfn=/) f = (name[id] ~ /__rust_(alloc|dealloc|realloc|alloc_zeroed)$/)
               else f = 0
             }
             /^calls=/ && f { split($1, c, "="); n += c[2] }
             END { print n }' "$out/system-$shift.callgrind")
    calls=$((calls + c))
  done
  system=${collected[system]}
  printf '%-10s %15s %8s %16s %22s %14s %16s\n' variant instructions ratio "extra per call" "own extra per call" "memcpy" "ratio, System's memcpy"
  for build in system divan counting poisson; do
    awk -v b="$build" -v n="${collected[$build]}" -v s="$system" -v c="$calls" -v o="${own[$build]}" -v so="${own[system]}" \
      -v m="${copied[$build]}" -v sm="${copied[system]}" 'BEGIN {
      printf "%-10s %15.0f %8.4f %16.1f %22.1f %14.0f %16.4f\n", b, n, n / s, (c > 0 ? (n - s) / c : 0), (c > 0 ? (o - so) / c : 0), m, (n - m + sm) / s }'
  done
  echo "allocator calls: $calls (own: the allocator entries and the profilers' code, without the inner allocator and memcpy;"
  echo "memcpy: glibc's copies, which move with the heap's layout: a realloc that grows in place copies nothing;"
  echo "the last column puts System's memcpy in place of each variant's, so that it does not depend on the layout)"
else
  echo "valgrind is not installed: instruction counts skipped (apt-get install valgrind)"
fi

if command -v heaptrack >/dev/null 2>&1; then
  echo "== Sampling::Every writing its report against heaptrack on System, wall time, $rounds rounds"
  : >"$out/heaptrack.s"
  : >"$out/every.s"
  : >"$out/ratio"
  for ((i = 0; i < rounds; i++)); do
    start=$(date +%s%N)
    heaptrack -o "$out/heaptrack-data" "$bin/json-system" >/dev/null 2>&1
    mid=$(date +%s%N)
    REPORT="$out/json-every.report.json" "$bin/json-every" >/dev/null
    end=$(date +%s%N)
    rm -f "$out"/heaptrack-data*
    h=$(((mid - start) / 1000000))
    e=$(((end - mid) / 1000000))
    echo "$h" >>"$out/heaptrack.s"
    echo "$e" >>"$out/every.s"
    awk -v e="$e" -v h="$h" 'BEGIN { printf "%.4f\n", e / h }' >>"$out/ratio"
  done
  printf 'heaptrack (System): median %s ms\n' "$(median <"$out/heaptrack.s")"
  printf 'Every, with report: median %s ms\n' "$(median <"$out/every.s")"
  printf 'Every / heaptrack:  median ratio %s (below 1: faster)\n' "$(median <"$out/ratio")"
else
  echo "heaptrack is not installed: the comparison with it skipped (apt-get install heaptrack)"
fi
