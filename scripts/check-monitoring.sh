#!/usr/bin/env bash
# Checks the monitoring bundle in monitoring/ with the tools that will load
# it in production:
#   - `promtool check rules` and `promtool test rules` on the alerting rules,
#     `promtool check config` on the example Prometheus configuration
#   - examples/service (with its deliberate leak) scraped by a real
#     Prometheus every second, from a copy of monitoring/prometheus/
#     prometheus.yml with the target replaced, the bundle's alerts loaded
#   - /api/v1/rules lists the group profiling-alloc with every alert of
#     alerts.yml, each evaluated without error
#   - every query of every panel of monitoring/grafana/profiling-alloc.json,
#     its variables substituted ($job, $instance, $__rate_interval → 1m,
#     $__interval → 15s), asked of /api/v1/query: a query that errs or
#     returns no data fails, unless each metric it reads is named after
#     "May be empty:" in its panel's description (metrics absent by design:
#     memory levels when none are set, cgroup metrics outside a container,
#     job duration limits without a QoS baseline), which is reported as
#     skipped
# Without prometheus or promtool on PATH (Debian: prometheus) the whole
# check is skipped with a line saying so; curl and python3 are needed.
# Exits non-zero when a check fails.
#
#   scripts/check-monitoring.sh
#   SERVICE_BIN=target/release/examples/service scripts/check-monitoring.sh
#
# SERVICE_BIN names an already built examples/service to run instead of
# building it with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
for tool in prometheus promtool; do
  if ! have "$tool"; then
    echo "$tool is not on PATH (apt-get install prometheus); check-monitoring skipped"
    exit 0
  fi
done
for tool in curl python3; do
  have "$tool" || { echo "$tool is needed and not on PATH"; exit 1; }
done

rules=monitoring/prometheus/alerts.yml
tests=monitoring/prometheus/alerts_test.yml
config=monitoring/prometheus/prometheus.yml
dashboard=monitoring/grafana/profiling-alloc.json
passed=()

echo "== promtool check rules"
promtool check rules "$rules"
passed+=("promtool check rules $rules")

echo "== promtool test rules"
promtool test rules "$tests"
passed+=("promtool test rules $tests")

echo "== promtool check config"
promtool check config "$config"
passed+=("promtool check config $config")

. scripts/service-under-test.sh
prom_port=$((port + 1))
prom="http://127.0.0.1:$prom_port"

if [ -n "${SERVICE_BIN:-}" ]; then
  [ -f "$SERVICE_BIN" ] && [ -x "$SERVICE_BIN" ] || {
    echo "SERVICE_BIN=$SERVICE_BIN is not an executable file"
    exit 1
  }
  service_bin=$SERVICE_BIN
else
  cargo build --release --quiet --features server,tower,tracing --example service
  service_bin=target/release/examples/service
fi
start_service "$service_bin"
echo "== service ($service_bin) on http://$addr/"

echo "== Prometheus scraping the service with the bundle's rules"
# The example configuration with its target replaced and 1 s intervals; the
# rules beside it, as rule_files names them relative to the configuration.
scrape_job=$(sed -n 's/^ *- job_name: *//p' "$config" | head -1 | tr -d '"'"'")
sed -e "s|\"127\.0\.0\.1:6464\"|\"$addr\"|" \
  -e 's/^\( *\)scrape_interval: .*/\1scrape_interval: 1s/' \
  -e 's/^\( *\)evaluation_interval: .*/\1evaluation_interval: 1s/' \
  "$config" >"$work/prometheus.yml"
cp "$rules" "$work/alerts.yml"
grep -qF "\"$addr\"" "$work/prometheus.yml" || {
  echo "$config has no target \"127.0.0.1:6464\" on a line of its own to replace"
  exit 1
}
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
echo "Prometheus on $prom/, scrape job $scrape_job, target $addr"

# Until five scrapes have landed (enough for rate() over 1m), 60 s at most.
query="count_over_time(profiling_alloc_heap_live_bytes{job=\"$scrape_job\",instance=\"$addr\"}[1m]) >= 5"
landed=no
for _ in $(seq 1 60); do
  sleep 1
  answer=$(curl -sf -G "$prom/api/v1/query" --data-urlencode "query=$query" || true)
  case "$answer" in *'"result":[{'*) landed=yes; break ;; esac
done
if [ "$landed" != yes ]; then
  echo "Prometheus has not scraped $addr five times within 60 s; its targets and log:"
  curl -sf "$prom/api/v1/targets" || true
  echo
  tail -20 "$work/prometheus.log"
  exit 1
fi
passed+=("Prometheus scraped the service ($scrape_job, $addr)")

echo "== rules loaded, dashboard queries answered"
python3 - "$prom" "$rules" "$dashboard" "$scrape_job" "$addr" <<'PY'
import json
import re
import sys
import time
import urllib.parse
import urllib.request

prom, rules_file, dashboard_file, scrape_job, addr = sys.argv[1:]
GROUP = "profiling-alloc"


def get(path, **params):
    url = f"{prom}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:  # 400/422: a bad query, with its error
        return json.load(e)


# --- the rules --------------------------------------------------------------
expected = re.findall(r"^\s*- alert:\s*(\S+)", open(rules_file).read(), re.M)
problems = []
for _ in range(30):  # until every rule has been evaluated once, 30 s at most
    groups = get("/api/v1/rules")["data"]["groups"]
    group = next((g for g in groups if g["name"] == GROUP), None)
    if group and all(r.get("health") != "unknown" for r in group["rules"]):
        break
    time.sleep(1)
if group is None:
    problems.append(f"/api/v1/rules has no group {GROUP} (groups: {[g['name'] for g in groups]})")
else:
    loaded = [r["name"] for r in group["rules"]]
    for name in expected:
        if name not in loaded:
            problems.append(f"the alert {name} of {rules_file} is not loaded")
    for rule in group["rules"]:
        if rule.get("health") != "ok":
            problems.append(f"the rule {rule['name']} is {rule.get('health')}: {rule.get('lastError', '')}")
# ProfilingAllocEndpointDown names the scrape job: the configuration's.
if f'up{{job="{scrape_job}"}}' not in open(rules_file).read():
    problems.append(f'{rules_file} does not select up{{job="{scrape_job}"}}, the scrape job of the configuration')
if problems:
    print("rules: FAILED")
    for p in problems:
        print(f"  {p}")
    sys.exit(1)
print(f"rules: group {GROUP} loaded with its {len(expected)} alerts, each evaluated without error")
active = [a for a in get("/api/v1/alerts")["data"]["alerts"]]
for a in active:
    labels = a["labels"]
    where = " ".join(labels[k] for k in ("instance", "exported_job") if k in labels)
    print(f"  {a['state']}: {labels.get('alertname')} {where}")

# --- the dashboard ----------------------------------------------------------
dashboard = json.load(open(dashboard_file))
variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
datasource_vars = {n for n, v in variables.items() if v.get("type") == "datasource"}


def regex_escape(value):
    # As Grafana's Prometheus data source escapes a multi-value variable.
    return re.sub(r"([\\$^*{}\[\]'+?.()|])", r"\\\\\1", value)


values = {
    "job": scrape_job,
    "instance": regex_escape(addr),
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
}
VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(expr):
    unknown = []

    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            unknown.append(name)
            return m.group(0)
        return values[name]

    return VAR.sub(one, expr), unknown


METRIC = re.compile(r"\b(up|process_[a-z_]+|profiling_alloc_[a-z0-9_]+)\b")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def metrics_of(text):
    return set(METRIC.findall(STRING.sub('""', text)))


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


# The query variables' label_values(selector, label) must find the target.
for name, v in variables.items():
    if v.get("type") != "query":
        continue
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
    if not m:
        problems.append(f"variable ${name}: not a label_values(selector, label) query: {q}")
        continue
    selector, _ = substitute(m.group(1))
    series = get("/api/v1/series", **{"match[]": selector}).get("data") or []
    found = sorted({s.get(m.group(2)) for s in series if m.group(2) in s})
    if not found:
        problems.append(f"variable ${name}: {q} finds no {m.group(2)}")
    else:
        print(f"variable ${name}: {', '.join(found)}")

with_data, skipped, failed = [], [], []
for panel in all_panels(dashboard.get("panels", [])):
    targets = [t for t in panel.get("targets", []) if not t.get("hide")]
    if panel.get("type") == "row" or not targets:
        continue
    title = panel.get("title", f"panel {panel.get('id')}")
    description = panel.get("description", "")
    m = re.search(r"may be empty:(.*)", description, re.I | re.S)
    optional = metrics_of(m.group(1)) if m else set()
    faults, skips = [], []
    for t in targets:
        for ds in (panel.get("datasource"), t.get("datasource")):
            uid = (ds or {}).get("uid", "") if isinstance(ds, dict) else (ds or "")
            if uid and uid.strip("${}") not in datasource_vars:
                faults.append(f"{t.get('refId')}: data source {uid!r} is not a data source variable")
        expr = t.get("expr", "")
        query, unknown = substitute(expr)
        if unknown:
            faults.append(f"{t.get('refId')}: unknown variable(s) {unknown}: {expr}")
            continue
        answer = get("/api/v1/query", query=query)
        if answer.get("status") != "success":
            faults.append(f"{t.get('refId')}: {answer.get('error')}: {query}")
            continue
        result = answer["data"]["result"]
        if answer["data"]["resultType"] in ("scalar", "string"):
            result = [{"value": result}]
        if any(r["value"][1] != "NaN" for r in result):
            continue
        used = metrics_of(expr)
        if used and used <= optional:
            skips.append(f"{t.get('refId')}: {', '.join(sorted(used))}")
        else:
            why = "only NaN" if result else "no data"
            missing = sorted(used - optional)
            faults.append(f"{t.get('refId')}: {why} ({', '.join(missing)}): {query}")
    if faults:
        failed.append((title, faults, skips))
    elif skips and len(skips) == len(targets):
        skipped.append((title, skips))
    else:
        with_data.append((title, skips))

print(f"dashboard: {len(with_data)} panels with data, {len(skipped)} skipped, {len(failed)} failed")
for title, skips in with_data:
    note = f" (may be empty, empty here: {'; '.join(skips)})" if skips else ""
    print(f"  ok       {title}{note}")
for title, skips in skipped:
    print(f"  skipped  {title} (may be empty, empty here: {'; '.join(skips)})")
for title, faults, skips in failed:
    print(f"  FAILED   {title}")
    for f in faults:
        print(f"             {f}")
    for s in skips:
        print(f"             {s}: no data, allowed (may be empty)")
for p in problems:
    print(f"  FAILED   {p}")
sys.exit(1 if failed or problems else 0)
PY
passed+=("rules loaded and evaluated; every dashboard query answered (or skipped by design)")

echo "== passed"
for line in "${passed[@]}"; do echo "  $line"; done
