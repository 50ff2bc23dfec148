#!/usr/bin/env bash
# budget_cli_test.sh AGENTSIM METRICS_FILL JSON_CHECK -- `agentsim budget`
# on a database metrics_fill gave the rows budget.c and turn.c leave:
# today's spend 0.17 (three records), one open cycle holding 0.15 of its
# estimate; the limit from --budget, AGENT_DAILY_BUDGET, --app or $5.
set -u
A=$1
F=$2
J=$3
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
n=0
check() {
  n=$((n + 1))
  if [ "$2" -eq 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi
}
status_is() { # status_is WANT CMD...
  local want=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "  $* -> exit $got, want $want"; sed 's/^/  | /' "$T/err" | head -5; return 1; }
}
unset AGENT_DAILY_BUDGET
"$F" "$T/b.db" 1 >/dev/null || { echo "not ok 1 - metrics_fill"; exit 1; }
cat >"$T/want" <<TXT
Agent Budget Status
==============================
Date: $(date -u +%F)
Daily Limit: \$5.00
Today's Spend: \$0.17
Reserved: \$0.15
Remaining: \$4.68
Cycles Affordable: ~31
Spend Events: 3
TXT
status_is 0 "$A" budget --db "$T/b.db" && cmp -s "$T/want" "$T/out"
check "budget prints the seed's status, spend and holds from the ledger" $?
status_is 0 "$A" budget --db "$T/b.db" --json && "$J" <"$T/out" >/dev/null &&
  grep -q '"today_spend_micros":170000,"reserved_micros":150000,"remaining_micros":4680000}' "$T/out"
check "budget --json: one object, exact micro-dollars" $?
AGENT_DAILY_BUDGET=0.40 status_is 0 "$A" budget --db "$T/b.db" --json &&
  grep -q '"remaining_micros":80000' "$T/out" && grep -q '"cycles_affordable":0' "$T/out"
check "AGENT_DAILY_BUDGET sets the limit" $?
AGENT_DAILY_BUDGET=0.40 status_is 0 "$A" budget --db "$T/b.db" --budget 1 --json &&
  grep -q '"daily_limit_micros":1000000' "$T/out"
check "--budget wins over AGENT_DAILY_BUDGET" $?
mkdir -p "$T/app/prompts" && echo "p" >"$T/app/prompts/a.md"
cat >"$T/app/app.yaml" <<'YAML'
name: b
entry: a
budget: {daily_limit: 2.50, cycle_estimate: 0.50}
agents:
  a:
    prompt: prompts/a.md
    tools: [mark_resolved]
    routes: {default: end}
YAML
status_is 0 "$A" budget --db "$T/b.db" --app "$T/app" --json &&
  grep -q '"daily_limit_micros":2500000' "$T/out" && grep -q '"cycles_affordable":4' "$T/out"
check "--app's budget.daily_limit and cycle_estimate apply" $?
AGENT_DAILY_BUDGET=1 status_is 0 "$A" budget --db "$T/b.db" --app "$T/app" --json &&
  grep -q '"daily_limit_micros":1000000' "$T/out"
check "AGENT_DAILY_BUDGET wins over the app's limit" $?
status_is 2 "$A" budget --db "$T/b.db" --budget 1.0000001 && grep -q "at most six decimals" "$T/err"
check "a limit finer than a micro-dollar is bad usage, named" $?
AGENT_DAILY_BUDGET=five status_is 2 "$A" budget --db "$T/b.db" && grep -q "AGENT_DAILY_BUDGET 'five'" "$T/err"
check "a bad AGENT_DAILY_BUDGET is bad usage, named" $?
status_is 2 "$A" budget --db "$T/nope.db" && grep -q "no such database file" "$T/err" && [ ! -e "$T/nope.db" ]
check "a missing database is bad usage, and is not created" $?
status_is 2 "$A" budget && grep -q "expected --db PATH" "$T/err"
check "budget without --db is bad usage" $?
echo "not sqlite" >"$T/junk.db"
status_is 2 "$A" budget --db "$T/junk.db" --json && "$J" <"$T/out" >/dev/null
check "a file that is no database: exit 2, still a JSON last line" $?
sed 's/daily_limit: 2.50/daily_limit: lots/' "$T/app/app.yaml" >"$T/y" && mv "$T/y" "$T/app/app.yaml"
status_is 2 "$A" budget --db "$T/b.db" --app "$T/app" && grep -q "app.yaml:3:.*budget.daily_limit" "$T/err"
check "a bad app budget names FILE:LINE:COL" $?
# (cli_edges_test.sh has metrics' other refusals and failed outputs.)
status_is 2 "$A" metrics --db "$T/b.db" --push "ftp://127.0.0.1:9091" && grep -q "expected the Pushgateway's http://" "$T/err"
check "metrics --push: a URL that is no Pushgateway's is bad usage, named" $?
echo "1..$n"
[ "$fails" -eq 0 ]
