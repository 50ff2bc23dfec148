#!/usr/bin/env bash
# cli_edges_test.sh AGENTSIM METRICS_FILL JSON_CHECK -- the command line's
# edges: the options a printed replay command carries, a SCENARIO path that
# needs shell quoting, a seed above INT64_MAX in JSON, output that cannot be
# written (/dev/full), and metrics/budget databases and outputs that fail.
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
hash_of() { sed -n 's/^trace hash: //p' "$1"; }
unset AGENT_DAILY_BUDGET
DF="$SRC/fixtures/scenarios/double_finalize.scn"

status_is 2 "$A" run selftest:abba --seed 1 --swarm && \
  grep -q "swarm: selftest:abba is a self-test; swarm testing needs a scenario" "$T/err"
check "--swarm on a self-test is refused, naming it" $?

# The replay command a failure prints carries --swarm and --max-cpu, and
# pasted into a shell it replays the run.
status_is 1 "$A" run "$DF" --seed 1 --mutant lock_noop --swarm --max-cpu 5 && h=$(hash_of "$T/out") && \
  r=$(sed -n 's/^replay: //p' "$T/out") && case $r in *" --swarm --max-cpu 5"*) true ;; *) false ;; esac && \
  { eval "$r" >"$T/r.out" 2>&1; [ $? -eq 1 ]; } && [ -n "$h" ] && [ "$(hash_of "$T/r.out")" = "$h" ]
check "a failure's replay command carries --swarm and --max-cpu and replays it" $?

# A SCENARIO path with a quote and a space is quoted for the shell.
cp "$DF" "$T/it's here.scn"
status_is 1 "$A" run "$T/it's here.scn" --seed 1 --mutant lock_noop && h=$(hash_of "$T/out") && \
  r=$(sed -n 's/^replay: //p' "$T/out") && case $r in *"'\\''"*) true ;; *) false ;; esac && \
  { eval "$r" >"$T/r.out" 2>&1; [ $? -eq 1 ]; } && [ "$(hash_of "$T/r.out")" = "$h" ]
check "a quoted SCENARIO path's replay command pastes" $?

# JSON integers stop at INT64_MAX: a bigger seed is printed as a string.
status_is 0 "$A" run selftest:counter --seed 18446744073709551615 --json && \
  [ "$("$J" --get seed <"$T/out")" = 18446744073709551615 ] && \
  tail -n 1 "$T/out" | grep -q '"seed":"18446744073709551615"'
check "a seed above INT64_MAX is a JSON string" $?

# Shards of a seed count they do not divide: the first shards take one more.
status_is 0 "$A" sweep selftest:counter --seeds 5 --shard 1/2 --jobs 1 --json && \
  [ "$("$J" --get runs <"$T/out")" = 3 ] && \
  status_is 0 "$A" sweep selftest:counter --seeds 5 --shard 2/2 --jobs 1 --json && \
  [ "$("$J" --get runs <"$T/out")" = 2 ]
check "--shard 1/2 and 2/2 of 5 seeds run 3 and 2" $?

# A program name over the argument cap: replay commands say agentsim.
long=$(printf 'a%.0s' $(seq 5000))
(exec -a "$long" "$A" run selftest:abba --seed 1 >"$T/out" 2>"$T/err")
[ $? -eq 1 ] && grep -q "^replay: agentsim replay selftest:abba --seed 1" "$T/out"
check "an overlong argv[0] prints replay commands as agentsim" $?

# More errors than a load keeps: the first 64 are shown, and the rest said.
mkdir "$T/many"
{ echo "name: x"; echo "entry: a"; echo "fields:"
  for i in $(seq 30); do echo "  f$i: {type: nope, bogus: 1, other: 2}"; done; } >"$T/many/app.yaml"
status_is 2 "$A" check app "$T/many" && [ "$(grep -c "app.yaml:" "$T/err")" -eq 64 ] && \
  grep -q "check app $T/many: more errors than the 64 shown" "$T/err" && \
  status_is 2 "$A" check app "$T/many" --json && [ "$("$J" --get more_errors <"$T/out")" = true ]
check "check app with more than 64 errors says so (text and JSON)" $?

if [ -w /dev/full ]; then
  "$A" version >/dev/full 2>"$T/err"
  [ $? -eq 3 ] && grep -q "writing the output failed" "$T/err"
  check "version to a full disk exits 3" $?
fi

"$F" "$T/b.db" 1 >/dev/null || { echo "not ok - metrics_fill"; exit 1; }
status_is 2 "$A" budget --db "$T" && grep -q "budget: --db $T: no such database file" "$T/err"
check "budget --db DIRECTORY exits 2" $?
printf 'this is not an SQLite database, just some text that goes on and on\n%.0s' $(seq 64) >"$T/junk.db"
status_is 2 "$A" budget --db "$T/junk.db" && grep -q "budget: --db $T/junk.db" "$T/err"
check "budget on a file that is no database exits 2" $?
status_is 2 "$A" metrics --db "$T/junk.db" && grep -q "metrics: --db $T/junk.db" "$T/err"
check "metrics on a file that is no database exits 2" $?
if [ -w /dev/full ]; then
  "$A" budget --db "$T/b.db" >/dev/full 2>"$T/err"
  [ $? -eq 3 ] && grep -q "budget: writing to stdout failed" "$T/err"
  check "budget to a full disk exits 3" $?
  "$A" metrics --db "$T/b.db" >/dev/full 2>"$T/err"
  [ $? -eq 3 ] && grep -q "writing" "$T/err"
  check "metrics to a full disk exits 3" $?
fi
status_is 2 "$A" metrics --db "$T/b.db" --budget x && grep -q "metrics: --budget 'x': expected dollars" "$T/err"
check "metrics --budget x exits 2, naming it" $?
status_is 2 "$A" metrics --db "$T/missing.db" && grep -q "metrics: --db $T/missing.db: no such database file" "$T/err"
check "metrics on a missing database exits 2" $?
status_is 3 "$A" metrics --db "$T/b.db" --out "$T/nodir/m.prom" && grep -q "metrics: .*nodir" "$T/err" && \
  [ ! -e "$T/nodir" ]
check "metrics --out into a missing directory exits 3" $?
status_is 3 "$A" metrics --db "$T/b.db" --push http://127.0.0.1:1 && [ -s "$T/err" ] && [ ! -s "$T/out" ]
check "metrics --push to a closed port exits 3" $?

# serve and budget run in agentsim-real (the production core), next to agentsim.
mkdir -p "$T/alone" && cp "$A" "$T/alone/agentsim"
status_is 3 "$T/alone/agentsim" budget --db "$T/b.db" && \
  grep -q "budget: cannot run $T/alone/agentsim-real: No such file or directory" "$T/err"
check "budget without agentsim-real beside agentsim exits 3, naming the path" $?
status_is 2 "$T/alone/agentsim" serve --app x && grep -q "serve: expected --db PATH" "$T/err"
check "serve's usage errors come from agentsim itself" $?
R="$(dirname "$A")/agentsim-real"
status_is 2 "$R" run "$DF" --seed 1 && grep -q "agentsim-real runs serve and budget only; for 'run' use agentsim" "$T/err"
check "agentsim-real refuses the sim's commands" $?
status_is 2 "$R" serve --help && grep -q "run agentsim serve --help" "$T/err"
check "agentsim-real sends --help to agentsim" $?
status_is 2 "$R" && grep -q "for '(no command)' use agentsim" "$T/err"
check "agentsim-real without a command is refused" $?
status_is 2 "$R" budget --json && grep -q "budget: expected --db PATH or --url URL" "$T/err" && \
  grep -q '"command":"budget","result":"error","exit":2' "$T/out"
check "agentsim-real's usage errors, in JSON with --json" $?

[ "$fails" -eq 0 ] || { echo "$fails of $n failed"; exit 1; }
echo "all $n passed"
