#!/usr/bin/env bash
# serve_load.sh AGENTSIM SOURCE_DIR SECONDS -- wrk on loopback against a running
# `agentsim serve` with the stub LLM (docs/serve.md, "Load"):
#   1. POST /agent/trigger (fast stub, generous limit), then GET /agent/budget
#      and GET /sessions/{id}, SECONDS each: requests/s and p99 per endpoint;
#      after the drain, zero lost writes: every 202 has its session and its
#      reservation, and no reservation is left open (counted in the database);
#   2. a small limit ($0.50) and the slow incident stub: triggers past the
#      budget answer 429 budget_exhausted, spend never passes the limit
#      (agentsim budget --db), and POST /sessions/{id}/retry on a session
#      whose run holds its lock answers 429 with Retry-After: 1.
# Prints one JSON line per run and a summary; no speed bar (bars live in
# agentsim bench). Exit 0 when every check holds; 77 without wrk (CI: fail).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 AGENTSIM SOURCE_DIR SECONDS" >&2; exit 2; }
agentsim=$1 src=$2 secs=$3
if ! command -v wrk >/dev/null 2>&1; then
  [ "${CI:-}" = "true" ] && { echo "FAIL: wrk not found" >&2; exit 1; }
  echo "SKIP: wrk not found (scripts/setup-deps.sh installs it)" >&2; exit 77
fi
tmp=$(mktemp -d /tmp/agentsim-load-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$tmp"/*.log >&2 || true; exit 1; }
lua=$src/tests/serve/count.lua

start() { # NAME SCRIPT LIMIT
  : >"$tmp/$1.out" # before the server opens it: sed below must find it (set -e)
  AGENT_DAILY_BUDGET=$3 "$agentsim" serve --app "$src/fixtures/apps/incident" --db "$tmp/$1.db" \
    --llm "stub:$2" --prices "$src/fixtures/prices/default.json" --listen 127.0.0.1:0 \
    --grace 30s --queue 256 >"$tmp/$1.out" 2>"$tmp/$1.log" &
  pid=$!
  local i
  for i in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$tmp/$1.out")
    [ -n "$url" ] && return 0
    sleep 0.05
  done
  fail "$1: the server did not start"
}
stop() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" -eq 0 ] || fail "the drain exited $rc"
}
run() { # NAME METHOD PATH [BODY]
  WRK_METHOD=$2 WRK_PATH=$3 WRK_BODY=${4:-} timeout $((secs + 30)) \
    wrk -t2 -c16 -d"${secs}s" --timeout 10s -s "$lua" "$url" >"$tmp/$1.wrk" 2>&1 \
    || fail "wrk $1: $(cat "$tmp/$1.wrk")"
  local line
  line=$(grep '^{' "$tmp/$1.wrk" | tail -1)
  echo "{\"run\":\"$1\",${line#\{}"
  echo "$line" >"$tmp/$1.json"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
db() { python3 - "$@" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute(sys.argv[2]).fetchone()[0])
PY
}

# 1. throughput, and no lost write
start fast "$src/tests/data/serve_fast.stub" 100000
run trigger POST /agent/trigger '{}'
run budget GET /agent/budget
sid=$(curl -s -m 5 "$url/sessions/recent?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["id"])')
run session GET "/sessions/$sid"
# Every accepted cycle runs to its end before the drain: a drain cancels what is still queued
# (released, not lost: test_http_api checks that), and this run counts resolved cycles.
idle=""
for i in $(seq 1200); do
  curl -s -m 5 "$url/agent/status" | grep -q '"status":"idle"' && { idle=1; break; }
  sleep 0.1
done
[ -n "$idle" ] || fail "the accepted cycles did not finish within 120 s"
stop
accepted=$(field "$tmp/trigger.json" 202)
[ "$accepted" -gt 0 ] || fail "no trigger was accepted"
sessions=$(db "$tmp/fast.db" "SELECT COUNT(*) FROM sessions")
resv=$(db "$tmp/fast.db" "SELECT COUNT(*) FROM budget_reservations WHERE outcome <> 'idle'")
open=$(db "$tmp/fast.db" "SELECT COUNT(*) FROM budget_reservations WHERE state = 'open'")
lost=$(db "$tmp/fast.db" "SELECT COUNT(*) FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM budget_reservations r WHERE r.session_id = s.id)")
ended=$(db "$tmp/fast.db" "SELECT COUNT(*) FROM sessions WHERE status = 'resolved'")
echo "{\"run\":\"writes\",\"accepted\":$accepted,\"sessions\":$sessions,\"reservations\":$resv,\"open\":$open,\"without_reservation\":$lost,\"resolved\":$ended}"
# A 503 (queue full) writes nothing; every 202 has a cycle that ran. wrk may stop before reading
# the last answers of its 16 connections: up to 16 more cycles than it counted.
[ "$resv" -ge "$accepted" ] && [ "$resv" -le $((accepted + 16)) ] \
  || fail "$accepted triggers accepted, $resv cycles ran"
[ "$ended" -eq "$resv" ] || fail "$resv cycles ran, $ended sessions resolved"
[ "$open" -eq 0 ] || fail "$open reservations left open after the drain"

# 2. the budget and busy sessions under load
start slow "$src/fixtures/scripts/incident.stub" 0.50
curl -s -m 5 -X POST -d '{"session_id":"hot"}' "$url/agent/trigger" >/dev/null
for i in $(seq 100); do
  curl -s -m 5 "$url/sessions/hot" | grep -q '"status":"in_progress"' && break
  sleep 0.05
done
run busy POST /sessions/hot/retry '{}'
run exhausted POST /agent/trigger '{}'
stop
busy=$(field "$tmp/busy.json" 429_retry_after)
[ "$busy" -gt 0 ] || fail "no 429 with Retry-After: 1 on the busy session"
refused=$(field "$tmp/exhausted.json" 429)
[ "$refused" -gt 0 ] || fail "no trigger was refused for the budget"
spent=$(AGENT_DAILY_BUDGET=0.50 "$agentsim" budget --db "$tmp/slow.db" --json | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["today_spend_micros"])')
open=$(db "$tmp/slow.db" "SELECT COUNT(*) FROM budget_reservations WHERE state = 'open'")
echo "{\"run\":\"budget\",\"spent_micros\":$spent,\"limit_micros\":500000,\"refused\":$refused,\"busy_429\":$busy,\"open\":$open}"
[ "$spent" -le 500000 ] || fail "spent $spent micro-dollars over a 500000 limit"
[ "$open" -eq 0 ] || fail "$open reservations left open"
echo "serve load: all checks passed"
