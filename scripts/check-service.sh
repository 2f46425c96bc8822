#!/usr/bin/env bash
# Checks the live endpoint with the tools that will read it in production:
# runs examples/service (with its deliberate leak) and then
#   - `promtool check metrics` on /metrics            (Debian: prometheus)
#   - a real Prometheus scraping it for a few intervals and answering a
#     query for a job's call counter                  (Debian: prometheus)
#   - `go tool pprof -top` on /debug/pprof/heap, on a 3-second delta of
#     /debug/pprof/allocs and on a 3-second CPU profile
#     (/debug/pprof/profile)                          (Debian: golang-go)
#   - a screenshot of / by headless Chromium into target/profiling/
#                                                     (Debian: chromium)
# Each tool that is not on PATH is skipped with a line saying so; curl is
# needed. Exits non-zero when a present tool finds a fault.
#
#   scripts/check-service.sh
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
. scripts/service-under-test.sh

cargo build --release --quiet --features server,tower,tracing --example service
start_service target/release/examples/service
echo "== service on http://$addr/"
sleep 3 # jobs run, callsites are sampled

echo "== jobs from the router's requests and the handlers' spans in /metrics"
metrics=$(curl -sf "http://$addr/metrics")
for job in 'GET /items/{id}' 'service::item' 'service::handle_request' 'POST /sessions'; do
  echo "$metrics" | grep -F "profiling_alloc_job_calls_total{job=\"$job\"}" || {
    echo "no calls of the job $job in /metrics"
    exit 1
  }
done

echo "== promtool check metrics"
if have promtool; then
  curl -sf "http://$addr/metrics" | promtool check metrics
  echo "promtool: no problems"
else
  echo "promtool is not on PATH (apt-get install prometheus); skipped"
fi

echo "== Prometheus scraping the service"
if have prometheus; then
  prom_port=$((port + 1))
  cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: service
    static_configs:
      - targets: ["$addr"]
EOF
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
  pids+=($!)
  # Prometheus keeps its own `job` label (the scrape job); ours arrives as
  # `exported_job` (see the scrape configuration in the `server` module's docs).
  # Asked every second until a scrape has landed (30 s at most).
  query='profiling_alloc_job_calls_total{exported_job="service::handle_request"}'
  answer=""
  for _ in $(seq 1 30); do
    sleep 1
    answer=$(curl -sf -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$query" || true)
    case "$answer" in *'"result":[{'*) break ;; esac
  done
  echo "$answer"
  echo "$answer" | grep -q '"status":"success"'
  echo "$answer" | grep -q '"result":\[{' || { echo "Prometheus has no sample for $query"; exit 1; }
  curl -sf "http://127.0.0.1:$prom_port/api/v1/targets" | grep -o '"health":"[a-z]*"' | head -1
else
  echo "prometheus is not on PATH (apt-get install prometheus); skipped"
fi

echo "== go tool pprof"
if have go; then
  go tool pprof -top -nodecount=12 "http://$addr/debug/pprof/heap"
  go tool pprof -top -nodecount=12 -seconds=3 "http://$addr/debug/pprof/allocs"
  go tool pprof -top -nodecount=12 -seconds=3 "http://$addr/debug/pprof/profile"
else
  echo "go is not on PATH (apt-get install golang-go); skipped"
fi

echo "== the index page in headless Chromium"
if have chromium; then
  mkdir -p target/profiling
  chromium --headless --no-sandbox --disable-gpu --window-size=1200,1400 \
    --screenshot="$PWD/target/profiling/endpoint-index.png" "http://$addr/" >/dev/null 2>&1
  echo "wrote target/profiling/endpoint-index.png"
  curl -sf "http://$addr/flamegraph/cpu.svg?seconds=3" -o target/profiling/endpoint-cpu.svg
  chromium --headless --no-sandbox --disable-gpu --window-size=1200,900 \
    --screenshot="$PWD/target/profiling/endpoint-cpu.png" "file://$PWD/target/profiling/endpoint-cpu.svg" >/dev/null 2>&1
  echo "wrote target/profiling/endpoint-cpu.png (the CPU flamegraph of 3 s)"
else
  echo "chromium is not on PATH (apt-get install chromium); skipped"
fi

echo "== leaks: both growing caches named (an observation every 2 s)"
named=no
leaks=""
# /leaks is rate limited (an analysis route): asked every 7 s, 9 times.
for _ in $(seq 1 9); do
  leaks=$(curl -s "http://$addr/leaks" || true)
  if echo "$leaks" | grep -q '"function": "service::cache_page"' &&
    echo "$leaks" | grep -q '"function": "service::open_session"'; then
    named=yes
    break
  fi
  sleep 7
done
echo "$leaks" | grep -E '"(snapshots|callsites_tested|heap_growing|not_a_suspect_because|growth_bytes_per_hour|severity)"' | head -12
if [ "$named" != yes ]; then
  echo "/leaks did not name both growing caches (service::cache_page, service::open_session) within 60 s"
  exit 1
fi
echo "both caches named"
