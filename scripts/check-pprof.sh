#!/usr/bin/env bash
# Opens the showcase's pprof profiles with Go's own pprof, the reference
# reader of the format: `go tool pprof -top` on the heap profile (in-use
# space, its default), again with `-sample_index=alloc_space`, on the
# job-time profile and on the CPU profile. Runs the showcase first unless its files are there.
#
# Needs `go` on PATH (Debian: `apt-get install golang-go`); without it, says
# so and exits 0, so that CI machines without Go pass.
#
#   scripts/check-pprof.sh            # uses target/profiling/*.pb.gz
#   scripts/check-pprof.sh FILE.pb.gz # any heap profile
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "check-pprof: go is not on PATH (apt-get install golang-go); skipped"
  exit 0
fi

dir="${PROFILING_ALLOC_DIR:-target/profiling}"
heap="${1:-$dir/heap.pb.gz}"
jobs="$dir/jobs.pb.gz"
if [ $# -eq 0 ] && [ ! -f "$heap" ]; then
  cargo run --release --quiet --example showcase >/dev/null
fi

# pprof prints its own errors (a malformed profile exits non-zero).
run() {
  echo "== go tool pprof $*"
  go tool pprof "$@"
}
run -top -nodecount=15 "$heap"
run -top -nodecount=15 -sample_index=alloc_space "$heap"
run -top -nodecount=10 -sample_index=alloc_objects -tagfocus='job=parse' "$heap" || true
run -traces -sample_index=alloc_space "$heap" | head -40
if [ $# -eq 0 ]; then
  run -top -nodecount=10 "$jobs"
  # The CPU profile (Linux x86_64 builds write it).
  if [ -f "$dir/cpu.pb.gz" ]; then
    run -top -nodecount=12 "$dir/cpu.pb.gz"
    run -top -nodecount=8 -tagfocus='job=showcase::parse' "$dir/cpu.pb.gz" || true
  fi
fi
