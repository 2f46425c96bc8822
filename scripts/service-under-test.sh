# Sourced by scripts/check-service.sh and scripts/check-monitoring.sh: a
# free loopback address, a work directory removed at exit with every process
# started, and `start_service BIN`, which runs examples/service (with its
# deliberate leak) on that address and waits until it answers.

# Below Linux's ephemeral ports (32768 up), which outgoing connections take.
port=$((20000 + RANDOM % 12000))
addr="127.0.0.1:$port"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts BIN on $addr (its app on a free port) for 120 s, observing leaks
# every 2 s; exits 1 with its output if it does not answer within 20 s.
start_service() {
  PROFILING_ALLOC_ADDR="$addr" SERVICE_ADDR="127.0.0.1:0" "$1" --leak --seconds 120 --leak-interval 2 \
    >"$work/service.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if curl -sf "http://$addr/jobs" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "the service did not answer on http://$addr/ within 20 s; its output:"
  cat "$work/service.log"
  exit 1
}
