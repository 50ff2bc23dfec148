#!/usr/bin/env bash
# metrics_real_test.sh MODE AGENTSIM METRICS_FILL TEST_METRICS PYTHON3 DASHBOARD
# The metrics (metrics.h) against the real components, one MODE per ctest test:
#   promtool     `promtool check metrics` on every exposition the unit tests
#                (TEST_METRICS with AS_METRICS_DUMP_DIR) and the CLI produce;
#   pushgateway  a Pushgateway on a free loopback port: `agentsim metrics
#                --push`, read back GET /metrics and find the values; a push
#                to a wrong path must fail with its HTTP status;
#   prometheus   a Prometheus server scraping that Pushgateway (honor_labels,
#                1 s): two pushes with changed values, at least two scrapes of
#                each, then every expr of DASHBOARD through /api/v1/query:
#                status success and at least one series each.
# Every request has a timeout and every wait a bounded count; what the test
# starts it stops (by pid). A missing binary fails under CI=true, else skips (77).
set -euo pipefail
[ $# -eq 6 ] || { echo "usage: $0 MODE AGENTSIM METRICS_FILL TEST_METRICS PYTHON3 DASHBOARD" >&2; exit 2; }
mode=$1 agentsim=$2 fill=$3 unit=$4 py=$5 dashboard=$6

need() {
  local b
  for b in "$@"; do
    if ! command -v "$b" >/dev/null 2>&1; then
      if [ "${CI:-}" = "true" ]; then
        echo "FAIL: $b not found (scripts/setup-deps.sh installs it)" >&2
        exit 1
      fi
      echo "SKIP: $b not found (scripts/setup-deps.sh installs it)" >&2
      exit 77
    fi
  done
}

tmp=$(mktemp -d /tmp/agentsim-metrics-XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$tmp"/*.log; do
    [ -f "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

# HTTP GET with a bounded time; the body on stdout. Exit 1 on any failure.
http_get() {
  "$py" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        sys.stdout.write(r.read().decode("utf-8"))
except Exception as e:
    sys.stderr.write("GET %s: %s\n" % (sys.argv[1], e))
    sys.exit(1)
EOF
}

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_ready URL NAME PID: up to 20 s for URL to answer.
wait_ready() {
  local i
  for i in $(seq 1 100); do
    kill -0 "$3" 2>/dev/null || fail "$2 exited at start"
    if http_get "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  fail "$2 not ready at $1 after 20 s"
}

# The value of the sample NAME{...LABELS...} (labels given as k=v,k=v,
# all of which must match) in an exposition on stdin; "" when absent.
sample() {
  "$py" -c '
import sys
name, want = sys.argv[1], [w for w in sys.argv[2].split(",") if w]
for line in sys.stdin:
    if line.startswith("#") or not line.strip():
        continue
    head, _, value = line.rstrip("\n").rpartition(" ")
    n, _, labels = head.partition("{")
    if n != name:
        continue
    got = {}
    for part in labels.rstrip("}").split(","):
        if "=" in part:
            k, _, v = part.partition("=")
            got[k] = v.strip("\"")
    if all(got.get(k) == v for k, v in (w.split("=", 1) for w in want)):
        print(value)
        break
' "$1" "${2:-}"
}

# expect_sample FILE NAME LABELS VALUE: numerically equal.
expect_sample() {
  local v
  v=$(sample "$2" "$3" <"$1")
  [ -n "$v" ] || fail "$2{$3} not in $1"
  "$py" -c 'import sys; sys.exit(0 if float(sys.argv[1]) == float(sys.argv[2]) else 1)' "$v" "$4" ||
    fail "$2{$3} is $v in $1, expected $4"
  echo "ok: $2{$3} = $v"
}

start_pushgateway() {
  need prometheus-pushgateway
  local try
  for try in 1 2 3; do
    pg_port=$(free_port)
    prometheus-pushgateway --web.listen-address="127.0.0.1:$pg_port" \
      >"$tmp/pushgateway.log" 2>&1 &
    pg_pid=$!
    pids+=("$pg_pid")
    sleep 0.3
    if kill -0 "$pg_pid" 2>/dev/null; then break; fi
    [ "$try" -lt 3 ] || fail "the Pushgateway would not start"
  done
  pg="http://127.0.0.1:$pg_port"
  wait_ready "$pg/-/ready" pushgateway "$pg_pid"
  echo "pushgateway: $(prometheus-pushgateway --version 2>&1 | head -n 1) on $pg"
}

push() {
  "$agentsim" metrics --db "$tmp/agent.db" --budget 0.50 --push "$pg" --job agentsim_test ||
    fail "agentsim metrics --push $pg failed"
}

case "$mode" in
promtool)
  need promtool
  mkdir "$tmp/dump"
  AS_METRICS_DUMP_DIR="$tmp/dump" "$unit" >"$tmp/unit.log" 2>&1 || fail "$unit failed"
  "$fill" "$tmp/agent.db" 0 || fail "metrics_fill 0"
  "$agentsim" metrics --db "$tmp/agent.db" >"$tmp/dump/cli-empty.prom" || fail "metrics (empty db)"
  "$fill" "$tmp/agent.db" 1 || fail "metrics_fill 1"
  "$agentsim" metrics --db "$tmp/agent.db" >"$tmp/dump/cli-round1.prom" || fail "metrics (round 1)"
  "$fill" "$tmp/agent.db" 2 || fail "metrics_fill 2"
  "$agentsim" metrics --db "$tmp/agent.db" --budget 0.25 --out "$tmp/dump/cli-round2.prom" ||
    fail "metrics --out"
  ls "$tmp/dump" | grep -q '\.tmp\.' && fail "--out left a temporary file"
  n=0
  for f in "$tmp"/dump/*.prom; do
    if ! out=$(promtool check metrics <"$f" 2>&1); then
      fail "promtool check metrics $(basename "$f"): $out"
    fi
    [ -z "$out" ] || fail "promtool check metrics $(basename "$f") warns: $out"
    n=$((n + 1))
  done
  [ "$n" -ge 10 ] || fail "only $n expositions checked"
  expect_sample "$tmp/dump/cli-round2.prom" agent_budget_spend_dollars_total "" 0.23
  echo "ok: promtool check metrics passed on $n expositions ($(promtool --version 2>&1 | head -n 1))"
  ;;

pushgateway)
  need promtool
  start_pushgateway
  "$fill" "$tmp/agent.db" 1 || fail "metrics_fill 1"
  push
  http_get "$pg/metrics" >"$tmp/pg1.txt" || fail "GET $pg/metrics"
  j=job=agentsim_test
  expect_sample "$tmp/pg1.txt" agent_budget_spend_dollars_total "$j" 0.2
  expect_sample "$tmp/pg1.txt" agent_budget_remaining_dollars "$j" 0.18
  expect_sample "$tmp/pg1.txt" agent_cycles_total "$j,outcome=completed" 1
  expect_sample "$tmp/pg1.txt" agent_cycle_duration_seconds_count "$j" 4
  expect_sample "$tmp/pg1.txt" agent_cycle_duration_seconds_bucket "$j,le=600" 2
  expect_sample "$tmp/pg1.txt" agent_phase_duration_seconds_sum "$j,phase=triage" 720
  expect_sample "$tmp/pg1.txt" agent_gate_results_total "$j,gate=app.restart,result=approved" 1
  expect_sample "$tmp/pg1.txt" agent_tokens_total "$j,type=output" 70205
  expect_sample "$tmp/pg1.txt" gen_ai_client_operation_duration_seconds_count \
    "$j,gen_ai_request_model=gpt-4o" 2
  # A second push replaces the group: the new values, not a sum.
  "$fill" "$tmp/agent.db" 2 || fail "metrics_fill 2"
  push
  http_get "$pg/metrics" >"$tmp/pg2.txt" || fail "GET $pg/metrics"
  expect_sample "$tmp/pg2.txt" agent_budget_spend_dollars_total "$j" 0.23
  expect_sample "$tmp/pg2.txt" agent_cycles_total "$j,outcome=completed" 2
  expect_sample "$tmp/pg2.txt" agent_gate_results_total "$j,gate=app.restart,result=approved" 2
  # The Pushgateway's own re-exposition still passes promtool's parser.
  promtool check metrics <"$tmp/pg2.txt" >"$tmp/promtool.log" 2>&1 || true # ignore: lint notes on the gateway's own families; parse errors are checked next
  grep -q "error while linting" "$tmp/promtool.log" && fail "the Pushgateway's exposition does not parse"
  # Errors: an HTTP error status, and nobody listening.
  set +e
  "$agentsim" metrics --db "$tmp/agent.db" --push "$pg/nothing/here" 2>"$tmp/err404.txt"
  ex=$?
  set -e
  [ "$ex" -eq 3 ] || fail "a push to a wrong path exited $ex, expected 3"
  grep -q "HTTP 404" "$tmp/err404.txt" || fail "a wrong path's error does not say HTTP 404: $(cat "$tmp/err404.txt")"
  dead=$(free_port)
  set +e
  "$agentsim" metrics --db "$tmp/agent.db" --push "http://127.0.0.1:$dead" 2>"$tmp/errdead.txt"
  ex=$?
  set -e
  [ "$ex" -eq 3 ] || fail "a push to a closed port exited $ex, expected 3"
  grep -q "127.0.0.1:$dead/metrics/job/agentsim" "$tmp/errdead.txt" || fail "the error names no URL: $(cat "$tmp/errdead.txt")"
  echo "ok: pushed twice to a real Pushgateway and read the values back; errors: $(head -c 200 "$tmp/err404.txt")"
  ;;

prometheus)
  need prometheus
  start_pushgateway
  pr_port=$(free_port)
  cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$pg_port']
EOF
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pr_port" >"$tmp/prometheus.log" 2>&1 &
  pr_pid=$!
  pids+=("$pr_pid")
  pr="http://127.0.0.1:$pr_port"
  wait_ready "$pr/-/ready" prometheus "$pr_pid"
  echo "prometheus: $(prometheus --version 2>&1 | head -n 1) on $pr"
  # query EXPR: the /api/v1/query answer's JSON on stdout.
  query() {
    "$py" - "$pr" "$1" <<'EOF'
import sys, urllib.parse, urllib.request
u = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
try:
    with urllib.request.urlopen(u, timeout=5) as r:
        sys.stdout.write(r.read().decode("utf-8"))
except Exception as e:
    sys.stderr.write("query %s: %s\n" % (sys.argv[2], e))
    sys.exit(1)
EOF
  }
  # scalar EXPR: the first series' value, or "".
  scalar() {
    query "$1" | "$py" -c '
import json, sys
d = json.load(sys.stdin)
r = d.get("data", {}).get("result", [])
print(r[0]["value"][1] if d.get("status") == "success" and r else "")'
  }
  # until EXPR VALUE: wait (at most 30 s) until EXPR's value is at least VALUE.
  until_at_least() {
    local i v
    for i in $(seq 1 60); do
      v=$(scalar "$1" 2>/dev/null || true)
      if [ -n "$v" ] && "$py" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$v" "$2"; then
        echo "ok: $1 = $v"
        return 0
      fi
      sleep 0.5
    done
    fail "$1 did not reach $2 in 30 s (last: '${v:-}')"
  }
  "$fill" "$tmp/agent.db" 1 || fail "metrics_fill 1"
  push
  until_at_least 'count_over_time(agent_budget_spend_dollars_total{job="agentsim_test"}[5m])' 2
  "$fill" "$tmp/agent.db" 2 || fail "metrics_fill 2"
  push
  until_at_least 'agent_budget_spend_dollars_total{job="agentsim_test"}' 0.23
  # Two more scrapes after the new value was first seen.
  c0=$(scalar 'count_over_time(agent_budget_spend_dollars_total{job="agentsim_test"}[5m])')
  [ -n "$c0" ] || fail "no sample count"
  until_at_least 'count_over_time(agent_budget_spend_dollars_total{job="agentsim_test"}[5m])' "$((c0 + 2))"
  until_at_least 'increase(agent_cycles_total{job="agentsim_test",outcome="completed"}[5m])' 0.5
  # Every expression of the dashboard: a success with at least one series.
  "$py" -c '
import json, sys
def walk(x):
    if isinstance(x, dict):
        if isinstance(x.get("expr"), str):
            yield x["expr"]
        for v in x.values():
            yield from walk(v)
    elif isinstance(x, list):
        for v in x:
            yield from walk(v)
for e in walk(json.load(open(sys.argv[1]))):
    print(e)' "$dashboard" >"$tmp/exprs.txt"
  n=$(grep -c . "$tmp/exprs.txt" || true)
  [ "$n" -ge 7 ] || fail "only $n expressions in $dashboard"
  while IFS= read -r e; do
    ans=$(query "$e") || fail "query failed: $e"
    echo "$ans" | "$py" -c '
import json, sys
d = json.load(sys.stdin)
if d.get("status") != "success":
    sys.exit("FAIL: %s: %s %s" % (sys.argv[1], d.get("errorType"), d.get("error")))
r = d["data"]["result"]
if not r:
    sys.exit("FAIL: %s: no series" % sys.argv[1])
print("ok: %d series: %s = %s" % (len(r), sys.argv[1], r[0]["value"][1]))' "$e" || fail "dashboard expr: $e"
  done <"$tmp/exprs.txt"
  echo "ok: all $n dashboard expressions return series on a real Prometheus"
  ;;

*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
