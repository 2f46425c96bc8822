#!/usr/bin/env bash
# Instructions per span enter+exit and per request, counted by callgrind
# inside the measured loops of benches/span_overhead.rs only: the registry
# alone against the registry with profiling_alloc::tracing::JobLayer, an
# empty #[profile_job] call beside them, and an axum request in process
# without and with profiling_alloc::tower::JobLayer. Prints only. Needs
# valgrind (Debian: valgrind); skipped without it.
#
#   scripts/span-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind is not on PATH (apt-get install valgrind); skipped"
  exit 0
fi
cargo bench -q --bench span_overhead --features tracing,tower --no-run 2>/dev/null
bench=$(ls -t target/release/deps/span_overhead-* | grep -v '\.d$' | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count() { # part, function, calls
  SPAN_BENCH_PROFILE="$1" valgrind --tool=callgrind --callgrind-out-file="$work/$1.out" \
    --toggle-collect="span_overhead::$2" "$bench" >"$work/$1.log" 2>&1
  local total
  total=$(grep -o 'Collected : [0-9]*' "$work/$1.log" | grep -o '[0-9]*$')
  echo $((total / $3))
}
registry=$(count spans-registry enter_exit 1000000)
layer=$(count spans enter_exit 1000000)
job=$(count job job_call 1000000)
router=$(count router requests 100000)
router_layer=$(count router-layer requests 100000)
echo "instructions (callgrind), per operation"
printf '%-46s %8s\n' "span enter+exit, registry alone" "$registry"
printf '%-46s %8s  (+%s)\n' "span enter+exit, registry + tracing::JobLayer" "$layer" "$((layer - registry))"
printf '%-46s %8s\n' "#[profile_job] fn, empty (whole call)" "$job"
printf '%-46s %8s\n' "axum request in process, no layer" "$router"
printf '%-46s %8s  (+%s, x%s)\n' "axum request in process, tower::JobLayer" "$router_layer" \
  "$((router_layer - router))" "$(awk "BEGIN { printf \"%.2f\", $router_layer / $router }")"
