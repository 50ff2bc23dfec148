#!/usr/bin/env bash
# real_to_scenario_test.sh AGENTSIM SRC PYTHON3
# A cassette recorded in real mode replays bit for bit in the sim (issue 12),
# end to end, as docs/cassettes.md "From a real recording to a scenario" says:
#   1. the loopback peer (tests/llm_peer.py); `agentsim serve` on the incident
#      app with --llm record:DIR,openai:URL,model=structured,stream, the
#      scenario's price table and budget; one cycle triggered as session s0
#      with environment=staging (what a scenario's session 0 is: the requests
#      carry the session's id and fields, and the cassette key hashes them);
#      the server stopped, then the peer;
#   2. every exchange given its `expect` from the peer's own tables
#      (tests/cassette_gen.py expect: the behaviour the request's model named),
#      never from agentsim's parser;
#   3. a scenario with `llm cassette:DIR` running the same cycle (trigger,
#      same prices, same budget): `agentsim run` passes (the oracle holds every
#      ledger record usage-exact to expect), a second run has the same trace
#      hash (and --check-determinism agrees), and the printed replay command
#      passes with it too;
#   4. the sim's run against the real one: the session's terminal status and
#      every ledger record (all columns but the day and the times) from the
#      sim's --verbose trace (the audit's db-row lines) equal the serve
#      database's (sqlite3); the real ledger's buckets are expect's usage
#      converted (input = prompt - cache reads - cache writes);
#   5. the oracle is live on this recording: one expect's completion count
#      changed in a copy fails the run with usage-exact.
# Prints the wall time of the real cycle and of the sim run, and the sim's
# virtual time. Every request has a timeout, every wait a bounded count; what
# the test starts it stops.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 AGENTSIM SRC PYTHON3" >&2; exit 2; }
agentsim=$1 src=$2 py=$3

. "$src/tests/peer_lib.sh"
lib_init agentsim-real-scn
now_ns() { date +%s%N; }

# 1. The peer, and serve recording one cycle against it.
peer_start "$py" "$src" --max-seconds 100

prices="$src/fixtures/cassettes/prices.json"
: >"$tmp/serve.out" # before the server opens it: sed below must find it (set -e)
"$agentsim" serve --app "$src/fixtures/apps/incident" --db "$tmp/real.db" --listen 127.0.0.1:0 \
  --prices "$prices" --budget 5 \
  --llm "record:$tmp/cas,openai:http://127.0.0.1:$port/v1,model=structured,stream" \
  >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
pids+=("$server")
wait_url serve

ans=$(curl -sS -m 10 -X POST "$url/agent/trigger" -H 'Content-Type: application/json' \
  -d '{"session_id": "s0", "fields": {"environment": "staging"}}')
echo "$ans" | grep -q '"triggered":true' || fail "trigger: $ans"
st_real=""
for _ in $(seq 1 300); do
  st_real=$(curl -sS -m 10 "$url/sessions/s0" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case "$st_real" in new|in_progress) sleep 0.1 ;; *) break ;; esac
done
case "$st_real" in new|in_progress|"") fail "s0 still running ($st_real)" ;; esac
kill -TERM "$server"
rc=0
wait "$server" || rc=$?
[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM: $(cat "$tmp/serve.err")"
kill "$peer"
wait "$peer" 2>/dev/null || true
n=$(ls "$tmp/cas" | grep -c '^x-.*\.json$' || true)
reqs=$(grep -c '"path": "/v1/chat/completions"' "$tmp/peer.log" || true)
[ "$n" -gt 0 ] || fail "nothing recorded"
[ "$n" -eq "$reqs" ] || fail "$n exchanges recorded for $reqs requests the peer logged"

# The real run's figures, from its own database: the cycle's reservation
# opened and closed (wall clock), the session's status, the ledger.
"$py" - "$tmp/real.db" >"$tmp/real.txt" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
(st,) = db.execute("select status from sessions where id = 's0'").fetchone()
print("status", st)
o, c = db.execute("select opened_ns, closed_ns from budget_reservations "
                  "where op_id = 's0:cycle-1' and state != 'open'").fetchone()
print("wall_ms %.1f" % ((c - o) / 1e6))
cols = ["seq", "op_id", "leaf", "session_id", "agent", "name", "input_tokens",
        "cache_read_tokens", "cache_write_tokens", "output_tokens", "usage_estimated",
        "price_version", "cost_micros"]
for row in db.execute("select %s from cost_records order by day, seq" % ", ".join(cols)):
    print("ledger " + " ".join("%s=%s" % (k, v) for k, v in zip(cols, row)))
EOF
[ "$(sed -n 's/^status //p' "$tmp/real.txt")" = "$st_real" ] || fail "the API and the database disagree: $(cat "$tmp/real.txt")"
grep '^ledger ' "$tmp/real.txt" | sed 's/^ledger //' >"$tmp/real.ledger"
[ "$(wc -l <"$tmp/real.ledger")" -eq "$n" ] || fail "$n exchanges but ledger: $(cat "$tmp/real.ledger")"
real_ms=$(sed -n 's/^wall_ms //p' "$tmp/real.txt")

# 2. expect, from the peer's tables (never from agentsim's parser).
"$py" "$src/tests/cassette_gen.py" expect "$tmp/cas" >/dev/null
"$py" - "$src/tests" "$tmp/cas" "$tmp/real.ledger" <<'EOF' || fail "expect and the real ledger disagree"
import glob, json, sys
sys.path.insert(0, sys.argv[1])
import cassette_gen
# The real provider's reading (the ledger) must be what the peer knows it
# sent: each agent's exchange's expect, converted by the spec's edge
# (input = prompt - cache reads - cache writes).
names = ("intake", "triage", "investigate")
want = {}
for f in glob.glob(sys.argv[2] + "/x-*.json"):
    x = json.load(open(f))
    e = x["expect"]
    assert e["error"] is None and e["usage"], (f, e)
    u = e["usage"]
    want[names[cassette_gen.agent_of(x)]] = (
        u["prompt"] - u["cache_read"] - u["cache_write"], u["cache_read"], u["cache_write"],
        u["completion"])
got = {}
for line in open(sys.argv[3]):
    r = dict(kv.split("=", 1) for kv in line.split())
    got[r["agent"]] = tuple(int(r[k]) for k in ("input_tokens", "cache_read_tokens",
                                                "cache_write_tokens", "output_tokens"))
assert got == want, (got, want)
EOF

# 3. The scenario: the same cycle, through the cassette.
cat >"$tmp/real.scn" <<EOF
# The cycle recorded by agentsim serve (tests/real_to_scenario_test.sh).
scenario real_cycle
describe "a cycle recorded in real mode, replayed in the sim"
sessions 1
app $src/fixtures/apps/incident
llm cassette:cas
fields environment=staging
limits time=1h
budget limit=5
prices $prices
actor agent
    trigger s=0
    scrape
    flush
EOF
jfield() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])[sys.argv[1]])' "$1"; }
t0=$(now_ns)
"$agentsim" run "$tmp/real.scn" --seed 7 --json >"$tmp/run1.json" 2>"$tmp/run1.err" ||
  fail "the scenario does not pass: $(cat "$tmp/run1.err")"
t1=$(now_ns)
[ "$(jfield result <"$tmp/run1.json")" = pass ] || fail "run 1: $(cat "$tmp/run1.json")"
hash1=$(jfield trace_hash <"$tmp/run1.json")
virtual_ns=$(jfield virtual_ns <"$tmp/run1.json")
# Again, a separate process: the same hash; and --check-determinism inside it
# (the seed twice more, and from the schedule, every event compared).
"$agentsim" run "$tmp/real.scn" --seed 7 --json --check-determinism >"$tmp/run2.json" \
  2>"$tmp/run2.err" || fail "run 2: $(cat "$tmp/run2.err")"
hash2=$(jfield trace_hash <"$tmp/run2.json")
[ "$hash1" = "$hash2" ] || fail "the trace hash differs: $hash1, then $hash2"
grep -q "^determinism: ok (run 1 $hash1, run 2 $hash1, from schedule $hash1)" "$tmp/run2.err" ||
  fail "not deterministic: $(grep determinism "$tmp/run2.err")"
replay=$(jfield replay <"$tmp/run1.json")
case "$replay" in *" replay "*"--seed 7"*) ;; *) fail "no replay command: $replay" ;; esac
# The printed command, its words as printed (the paths have no spaces).
read -r -a words <<<"$replay"
"${words[@]}" --json >"$tmp/replay.json" 2>"$tmp/replay.err" || fail "$replay: $(cat "$tmp/replay.err")"
[ "$(jfield result <"$tmp/replay.json")" = pass ] || fail "replay: $(cat "$tmp/replay.json")"
[ "$(jfield trace_hash <"$tmp/replay.json")" = "$hash1" ] || fail "the replay's trace hash differs"

# 4. The sim's status and ledger, from its trace: the audit's db-row lines
# (each row as a statement wrote it), kept once their transaction's
# db-committed follows and dropped at a db-rollback; the run passed, so the
# oracle found the database holding exactly what was committed.
"$agentsim" run "$tmp/real.scn" --seed 7 --verbose >"$tmp/trace.txt" 2>&1 ||
  fail "the verbose run: $(tail -5 "$tmp/trace.txt")"
"$py" - "$tmp/trace.txt" "$tmp/sim.ledger" >"$tmp/sim.status" <<'EOF'
import re, sys
pending, status, ledger = {}, None, []
for line in open(sys.argv[1]):
    m = re.search(r"\] (db-row|db-committed|db-rollback) c(\d+)(.*)$", line)
    if not m:
        continue
    kind, conn, rest = m.groups()
    if kind == "db-row":
        pending.setdefault(conn, []).append(rest.strip())
        continue
    rows = pending.pop(conn, [])
    if kind == "db-rollback":
        continue
    for r in rows:
        w = r.split(" ")
        if w[:3] in (["insert", "sessions", "s0"], ["update", "sessions", "s0"]):
            status = w[3].split("=", 1)[1]
        elif w[:2] == ["insert", "cost_records"]:
            ledger.append(" ".join(w[3:]))
assert not any(pending.values()), pending
open(sys.argv[2], "w").write("".join(x + "\n" for x in ledger))
print(status)
EOF
st_sim=$(cat "$tmp/sim.status")
[ "$st_sim" = "$st_real" ] || fail "the sim's s0 ended $st_sim, the real one $st_real"
diff "$tmp/real.ledger" "$tmp/sim.ledger" >&2 || fail "the sim's ledger differs from the real one"

# 5. The oracle sees a wrong expect on this recording.
cp -r "$tmp/cas" "$tmp/bad"
"$py" - "$tmp/bad" <<'EOF'
import glob, json, sys
f = sorted(glob.glob(sys.argv[1] + "/x-*.json"))[0]
x = json.load(open(f))
x["expect"]["usage"]["completion"] += 1
json.dump(x, open(f, "w"), indent=2)
EOF
sed 's/^llm cassette:cas$/llm cassette:bad/' "$tmp/real.scn" >"$tmp/bad.scn"
rc=0
"$agentsim" run "$tmp/bad.scn" --seed 7 >"$tmp/bad.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a wrong expect passed"
grep -q "usage-exact" "$tmp/bad.out" || fail "a wrong expect, but no usage-exact: $(cat "$tmp/bad.out")"

sim_ms=$(( (t1 - t0) / 1000000 ))
printf 'real: s0 %s, %d ledger records, cycle %s ms wall\n' "$st_real" "$n" "$real_ms"
printf 'sim:  s0 %s, the same ledger, %d ms wall, virtual %d.%06d s, trace %s (twice, and replayed)\n' \
  "$st_sim" "$sim_ms" $((virtual_ns / 1000000000)) $(( (virtual_ns / 1000) % 1000000 )) "$hash1"
echo "PASS"
