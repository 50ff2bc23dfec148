#!/usr/bin/env bash
# serve_real_test.sh AGENTSIM SRC PYTHON3
# `agentsim serve` with real providers (issue 12): the loopback peer
# (tests/llm_peer.py, speaking the OpenAI and Ollama wire formats, checking
# the API key) instead of the stub:
#   1. the app's llm: section is the default provider; its api_key_env unset
#      is a clear refusal naming the variable (exit 2);
#   2. with the key set, a cycle runs against the peer and is billed;
#   3. --llm record:DIR,ollama:URL,stream (the model from the app when the
#      provider matches, else model=) records every exchange; the key is in
#      no cassette file, no database page, no log line and no answer;
#   4. with the peer stopped, --llm cassette:DIR replays the recording into a
#      fresh database: the same session ends the same way, with the same
#      ledger (every record's usage and cost) as the recorded run;
#   5. an HTTP spec with no model (and no app section) is refused (exit 2).
# Every request has a timeout, every wait a bounded count; what the test
# starts it stops.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 AGENTSIM SRC PYTHON3" >&2; exit 2; }
agentsim=$1 src=$2 py=$3
key="sk-test-$$-NEVER-LOGGED"

. "$src/tests/peer_lib.sh"
lib_init agentsim-serve-real

# The peer.
peer_start "$py" "$src" --key "$key" --max-seconds 170

# An app whose llm: section names the peer (the incident app, copied).
cp -r "$src/fixtures/apps/incident" "$tmp/app"
cat >>"$tmp/app/app.yaml" <<EOF

llm:
  provider: openai
  base_url: http://127.0.0.1:$port/v1
  model: structured
  api_key_env: AS_SERVE_REAL_KEY
  timeout: 20s
EOF
"$agentsim" check app "$tmp/app" >/dev/null || fail "the app with an llm: section does not load"

server=""
url=""
# start NAME DB ARGS...: serve in the background; sets server and url.
start() {
  local name=$1 db=$2
  shift 2
  : >"$tmp/$name.out" # before the server opens it: sed below must find it (set -e)
  "$agentsim" serve --app "$tmp/app" --db "$db" --listen 127.0.0.1:0 \
    --prices "$src/fixtures/cassettes/prices.json" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  server=$!
  pids+=("$server")
  wait_url "$name"
}
stop() {
  kill -TERM "$server"
  local rc=0
  wait "$server" || rc=$?
  [ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM"
}
# cycle ID: trigger session ID and wait until it is no longer running.
cycle() {
  local id=$1 ans st
  ans=$(curl -sS -m 10 -X POST "$url/agent/trigger" -H 'Content-Type: application/json' \
    -d "{\"session_id\": \"$id\", \"fields\": {\"environment\": \"staging\"}}")
  echo "$ans" | grep -q '"triggered":true' || fail "trigger $id: $ans"
  for _ in $(seq 1 200); do
    st=$(curl -sS -m 10 "$url/sessions/$id" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    case "$st" in new|in_progress) sleep 0.1 ;; *) echo "$st"; return 0 ;; esac
  done
  fail "session $id still running"
}
# ledger DB: every record's name, usage and cost, one line each (times left out).
ledger() {
  "$py" - "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
cols = [r[1] for r in db.execute("pragma table_info(cost_records)")]
keep = [c for c in cols if not any(t in c for t in ("time", "_ns", "duration", "day", "seq"))]
for row in db.execute("select %s from cost_records order by seq" % ", ".join(keep)):
    print(" ".join(str(v) for v in row))
EOF
}

# 1. The app's provider without its key variable.
unset AS_SERVE_REAL_KEY || true
rc=0
"$agentsim" serve --app "$tmp/app" --db "$tmp/none.db" --listen 127.0.0.1:0 \
  >"$tmp/nokey.out" 2>"$tmp/nokey.err" || rc=$?
[ "$rc" -eq 2 ] || fail "serve without the key variable: exit $rc, not 2"
grep -q "AS_SERVE_REAL_KEY is not set" "$tmp/nokey.err" || fail "no message naming the variable: $(cat "$tmp/nokey.err")"

# 2. The app's provider with the key: a cycle against the peer, billed.
export AS_SERVE_REAL_KEY=$key
start app "$tmp/app.db"
st=$(cycle a1)
[ "$st" = "needs_review" ] || [ "$st" = "resolved" ] || fail "a1 ended $st"
spend=$(curl -sS -m 10 "$url/agent/budget" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["today_spend_micros"])')
[ "$spend" -gt 0 ] || fail "the cycle cost nothing"
stop
echo "app provider: a1 $st, $spend micro-dollars"

# 3. Recording through Ollama's format (a stream), the model given.
start record "$tmp/rec.db" --llm "record:$tmp/cas,ollama:http://127.0.0.1:$port,model=structured,stream,key_env=AS_SERVE_REAL_KEY"
st_rec=$(cycle r1)
stop
n=$(ls "$tmp/cas" | grep -c '^x-.*\.json$' || true)
[ "$n" -gt 0 ] || fail "nothing recorded"
grep -q '"kind": *"ollama"\|"provider": *"ollama"' "$tmp/cas/cassette.json" || fail "meta: $(cat "$tmp/cas/cassette.json")"
# The key reached the peer (it answers 401 otherwise) and nothing else.
grep -rlF "$key" "$tmp/cas" "$tmp"/rec.db* "$tmp"/*.out "$tmp"/*.err "$tmp/app" 2>/dev/null &&
  fail "the API key is written somewhere"
echo "recorded: r1 $st_rec, $n exchanges"

# 4. The peer gone, the recording replayed into a fresh database.
kill "$peer"
wait "$peer" 2>/dev/null || true
start replay "$tmp/play.db" --llm "cassette:$tmp/cas"
st_play=$(cycle r1)
stop
[ "$st_play" = "$st_rec" ] || fail "replayed r1 ended $st_play, recorded $st_rec"
ledger "$tmp/rec.db" >"$tmp/rec.ledger"
ledger "$tmp/play.db" >"$tmp/play.ledger"
[ -s "$tmp/rec.ledger" ] || fail "the recorded run has no ledger"
diff "$tmp/rec.ledger" "$tmp/play.ledger" >&2 || fail "the replay's ledger differs from the recording's"
echo "replayed: r1 $st_play, $(wc -l <"$tmp/play.ledger") ledger records equal"

# 5. An HTTP spec without a model, and no app section to take it from.
rc=0
"$agentsim" serve --app "$src/fixtures/apps/incident" --db "$tmp/nomodel.db" --listen 127.0.0.1:0 \
  --prices "$src/fixtures/prices/default.json" --llm "openai:http://127.0.0.1:1/v1" >"$tmp/nomodel.out" 2>"$tmp/nomodel.err" || rc=$?
[ "$rc" -eq 2 ] || fail "serve with no model: exit $rc, not 2"
grep -q "no model" "$tmp/nomodel.err" || fail "no 'no model' message: $(cat "$tmp/nomodel.err")"
echo "PASS"
