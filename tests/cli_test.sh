#!/usr/bin/env bash
# cli_test.sh AGENTSIM JSON_CHECK -- the command-line contract of DESIGN.md
# section 9: exit statuses, the JSON last line, replay commands that replay,
# sweeps that do not depend on --jobs, shards, JUnit.
set -u
A=$1
J=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
n=0

check() { # check NAME CONDITION-EXIT-STATUS
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

status_is 0 "$A" --help && grep -q "usage:" "$T/out"; check "--help exits 0 with usage" $?
status_is 0 "$A" list && grep -q "selftest:timer" "$T/out"; check "list names the self-tests" $?
status_is 0 "$A" run selftest:counter --seed 1; check "a passing run exits 0" $?
status_is 1 "$A" run selftest:abba --seed 1; check "a failing run exits 1" $?
grep -q "wait-for graph" "$T/out"; check "a deadlock prints the wait-for graph" $?
replay=$(sed -n 's/^replay: //p' "$T/out")
hash1=$(sed -n 's/^trace hash: //p' "$T/out")
[ -n "$replay" ]; check "a failing run prints its replay command" $?
status_is 1 $replay && [ "$(sed -n 's/^trace hash: //p' "$T/out")" = "$hash1" ]
check "the printed replay command reproduces the trace hash" $?
sched=$(sed -n 's/^schedule: //p' "$T/out")
status_is 1 "$A" replay selftest:abba --schedule "$sched" && [ "$(sed -n 's/^trace hash: //p' "$T/out")" = "$hash1" ]
check "replay by schedule reproduces the trace hash" $?
status_is 1 "$A" run selftest:abba --seed 1
by_sched=$(sed -n 's/^replay by schedule: //p' "$T/out")
[ -n "$sched" ] && [ "${by_sched%" --schedule $sched"}" != "$by_sched" ] && status_is 1 $by_sched && \
  [ "$(sed -n 's/^trace hash: //p' "$T/out")" = "$hash1" ]
check "with no limits, the replay-by-schedule line ends at the schedule, and reproduces the hash" $?

status_is 1 "$A" run selftest:counter --seed 1 --max-steps 20 && grep -q "FAIL (hang)" "$T/out"
hang_hash=$(sed -n 's/^trace hash: //p' "$T/out")
by_sched=$(sed -n 's/^replay by schedule: //p' "$T/out")
status_is 1 $by_sched && [ "$(sed -n 's/^trace hash: //p' "$T/out")" = "$hang_hash" ]
check "replay by schedule carries the limits that shaped the run" $?
sed -n 's/^schedule: //p' "$T/out" >"$T/sched.txt"
grep "^schedule: " "$T/out" >"$T/sched-line.txt"
status_is 1 "$A" replay selftest:counter --schedule "@$T/sched.txt" --max-steps 20 && \
  [ "$(sed -n 's/^trace hash: //p' "$T/out")" = "$hang_hash" ] && \
  status_is 1 "$A" replay selftest:counter --schedule "@$T/sched-line.txt" --max-steps 20
check "--schedule @FILE reads the string or run's schedule line" $?
status_is 2 "$A" replay selftest:counter --schedule "@$T/missing" && grep -q "cannot open" "$T/err"
check "--schedule @FILE that cannot be read exits 2" $?
status_is 2 "$A" run selftest:nope --seed 1 --json && [ "$("$J" --get result <"$T/out")" = error ] && \
  [ "$("$J" --get exit <"$T/out")" = 2 ] && "$J" --get error <"$T/out" | grep -q "unknown self-test"
check "--json errors still end stdout with a JSON object" $?
status_is 2 "$A" run selftest:abba --json && [ "$("$J" --get result <"$T/out")" = error ]
check "--json usage errors end with a JSON object" $?
status_is 0 "$A" run selftest:counter --seed 2 --check-determinism --json && \
  [ "$("$J" --get determinism <"$T/out")" = ok ]
check "--check-determinism reports in the JSON" $?
status_is 2 "$A" run selftest:abba --seed 1 --strategy pct:d=2,d=3; check "a repeated PCT setting is refused" $?

status_is 1 "$A" run selftest:atomicity --seed 1 --json && \
  "$J" scenario seed strategy result steps virtual_ms trace_hash schedule violations <"$T/out"
check "run --json ends with the contract's JSON object" $?
[ "$("$J" --get result <"$T/out")" = fail ]; check "JSON result is fail for a failing run" $?
status_is 0 "$A" run selftest:timer --seed 3 --strategy pct:d=2 --json && \
  [ "$("$J" --get result <"$T/out")" = pass ] && [ "$("$J" --get strategy <"$T/out")" = "pct:d=2" ]
check "JSON for a passing PCT run" $?
status_is 0 "$A" run selftest:counter --seed 9 --check-determinism && grep -q "determinism: ok" "$T/out"
check "--check-determinism" $?
for st in pos portfolio pct:d=2; do
  status_is 1 "$A" run selftest:atomicity --seed 3 --strategy $st && h=$(sed -n 's/^trace hash: //p' "$T/out") && \
    r=$(sed -n 's/^replay: //p' "$T/out") && echo "$r" | grep -q -- "--strategy $st" && \
    status_is 1 $r && [ "$(sed -n 's/^trace hash: //p' "$T/out")" = "$h" ]
  check "a $st run's replay command names $st and reproduces the hash" $?
done
status_is 1 "$A" run selftest:atomicity --seed 3 --strategy portfolio && \
  grep -q "strategy=portfolio portfolio_pick=pct:d=3 pct_d=3 pct_k=[0-9]* pct_k_from=max-decisions-of-4-random+4-pct:d=1-runs pct_change_points=[0-9]*,[0-9]* " "$T/out"
check "a portfolio run prints its pick, PCT's k, where k came from and the change points" $?
status_is 0 "$A" run selftest:counter --seed 3 --strategy pos --check-determinism && grep -q "determinism: ok" "$T/out"
check "--check-determinism under POS" $?
status_is 0 "$A" replay selftest:counter --seed 4 --verbose && grep -q "\[0 main\] spawn" "$T/out"
check "replay --verbose prints the interleaving" $?

status_is 2 "$A" run selftest:nope --seed 1 && grep -q "unknown self-test" "$T/err"; check "unknown scenario exits 2" $?
status_is 2 "$A" run nosuch.scn --seed 1 && grep -q "nosuch.scn: cannot open.*selftest:NAME" "$T/err"
check "missing scenario file exits 2" $?
status_is 2 "$A" run selftest:abba --seed x; check "bad seed exits 2" $?
status_is 2 "$A" bogus; check "unknown command exits 2" $?
status_is 2 "$A" replay selftest:abba --schedule "v3:zz" && grep -q "character 4" "$T/err"
check "a malformed schedule exits 2 naming the position" $?
bad=$(printf '%s' "$sched" | sed 's/:\([0-9a-z]*\)::$/:9\1::/')
status_is 2 "$A" replay selftest:abba --schedule "$bad" && grep -q "diverged" "$T/err"
check "a schedule that cannot be followed exits 2 (diverged)" $?
status_is 2 "$A" run selftest:abba --seed 1 --mutant lock_noop; check "an unknown mutant exits 2" $?

status_is 1 "$A" sweep selftest:abba selftest:counter --seeds 60 --jobs 1; grep "FAIL seed" "$T/out" >"$T/j1"
status_is 1 "$A" sweep selftest:abba selftest:counter --seeds 60 --jobs 3; grep "FAIL seed" "$T/out" >"$T/j3"
[ -s "$T/j1" ] && cmp -s "$T/j1" "$T/j3"; check "sweep finds the same failures with 1 and 3 jobs" $?
grep -q "replay: .* replay selftest:abba --seed" "$T/out"; check "sweep prints replay commands" $?
# More failures than a sweep keeps (1000), arriving out of order from 3 workers:
# it keeps, and names, the smallest seeds either way.
status_is 1 "$A" sweep selftest:signal_fifo --seeds 1600 --jobs 1 --strategy random
grep -E "FAIL seed|more failing" "$T/out" >"$T/k1"
status_is 1 "$A" sweep selftest:signal_fifo --seeds 1600 --jobs 3 --strategy random
grep -E "FAIL seed|more failing" "$T/out" >"$T/k3"
grep -q "more failing" "$T/k1" && cmp -s "$T/k1" "$T/k3"
check "past the failures it keeps, a sweep names the same smallest seeds with 1 and 3 jobs" $?
status_is 0 "$A" sweep selftest:counter selftest:timer --seeds 200 --jobs 2; check "sweep of correct programs exits 0" $?
status_is 1 "$A" sweep selftest:abba --seeds 50 --shard 1/2 --json && r1=$("$J" --get runs <"$T/out")
status_is 1 "$A" sweep selftest:abba --seeds 50 --shard 2/2 --json && r2=$("$J" --get runs <"$T/out")
[ "$((r1 + r2))" -eq 50 ] && [ "$r1" -eq 25 ]; check "two shards cover the seeds once" $?
status_is 1 "$A" sweep selftest:ordering --seeds 40 --junit "$T/j.xml" --strategy pct:d=1 && \
  [ "$(grep -c '<testcase ' "$T/j.xml")" -eq 40 ] && grep -q '<failure type="assertion ' "$T/j.xml" && \
  [ ! -e "$T/j.xml.tmp" ]
check "--junit writes one testcase per seed with failures" $?
status_is 1 "$A" sweep selftest:abba --seeds 20 --json && "$J" runs failed result scenarios <"$T/out"
check "sweep --json ends with a JSON object" $?
[ "$("$J" --get strategy <"$T/out")" = portfolio ]; check "a sweep's default strategy is the portfolio" $?
status_is 0 "$A" selftest --seeds 200 && grep -q " 0 unexpected" "$T/out"; check "selftest finds every planted bug" $?
"$A" bench --quick --json >"$T/out" 2>"$T/err"
st=$?
{ [ $st -eq 0 ] || [ $st -eq 1 ]; } && "$J" switch selftests bars_met <"$T/out"
check "bench --quick --json reports (speed bars are not judged here)" $?

# Coverage issue: the remaining command-line paths.
status_is 0 "$A" version && grep -q "^agentsim [0-9]" "$T/out"; check "version prints the version" $?
status_is 0 "$A" list --json && "$J" scenarios <"$T/out"; check "list --json ends with a JSON object" $?
status_is 0 "$A" run selftest:ordering --seed 2 --strategy pct:d=1,k=40 --max-steps 500 \
  --max-time 1h --switch ucontext --json &&
  "$J" --get replay <"$T/out" | grep -q -- "--strategy pct:d=1,k=40 --max-steps 500 --max-time 3600000000000ns --switch ucontext"
check "the replay command carries the strategy, the limits and the switch" $?
status_is 2 "$A" sweep selftest:counter --seeds 2 --seed-start 18446744073709551615 &&
  grep -q "overflows" "$T/err"
check "sweep refuses a seed range past 2^64" $?
status_is 2 "$A" sweep selftest:counter --seeds 3 --jobs 1 --junit "$T/no/such/dir/j.xml" &&
  grep -q "cannot write" "$T/err"
check "--junit into a missing directory exits 2" $?
mkdir "$T/taken"
status_is 3 "$A" sweep selftest:counter --seeds 3 --jobs 1 --junit "$T/taken" &&
  grep -q "write failed" "$T/err" && [ ! -e "$T/taken.tmp" ]
check "--junit that cannot replace its target exits 3 and leaves no temporary" $?
status_is 1 "$A" selftest --seeds 1 --jobs 1 --json && [ "$("$J" --get result <"$T/out")" = fail ] &&
  grep -q "UNEXPECTED" "$T/err"
check "selftest --json reports planted bugs it did not find" $?

# check app DIR: the bundled apps load; a broken one exits 2 with every error
# as FILE:LINE:COL: message; --json ends stdout with the object; the
# examples of docs/apps.md are what the tool does.
for app in incident code_review; do
  status_is 0 "$A" check app "$SRC/fixtures/apps/$app" && grep -q "^app $app (.*): [0-9]* agents, " "$T/out"
  check "check app $app exits 0 with its summary" $?
done
status_is 0 "$A" check app "$SRC/fixtures/apps/incident" --json && [ "$("$J" --get ok <"$T/out")" = true ] && \
  [ "$("$J" --get agents <"$T/out")" = 4 ] && [ "$("$J" --get app <"$T/out")" = "$SRC/fixtures/apps/incident" ] && \
  grep -q "^app incident" "$T/err"
check "check app --json: ok, the counts, the DIR as given; the text on stderr" $?
(cd "$SRC" && "$A" check app tests/data/apps/broken) >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 5 ] && \
  ! grep -qv "^tests/data/apps/broken/app.yaml:[0-9]*:[0-9]*: " "$T/err"
check "check app of a broken app exits 2, every error as FILE:LINE:COL: message" $?
docs=0
awk '/^\$ build\/agentsim check app tests\/data\/apps\/broken$/ { f = 1; next } f && /^```/ { exit } f' \
  "$SRC/docs/apps.md" >"$T/want"
[ -s "$T/want" ] && cmp -s "$T/want" "$T/err" || { echo "  docs/apps.md's broken-app output differs:"; diff "$T/want" "$T/err" | head -5; docs=1; }
check "docs/apps.md shows what check app prints for the broken app" $docs
(cd "$SRC" && "$A" check app tests/data/apps/broken --json) >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && [ "$("$J" --get ok <"$T/out")" = false ] && "$J" app ok errors <"$T/out" && \
  tail -1 "$T/out" | grep -q '"errors":\[{"file":"tests/data/apps/broken/app.yaml","line":4,"column":1,"message":"unknown key'
check "check app --json of a broken app: ok false, the errors with file, line, column" $?
status_is 2 "$A" check app "$T/no-such-app" && grep -q "$T/no-such-app/app.yaml: cannot read" "$T/err"
check "check app of a directory without app.yaml exits 2 naming the file" $?
status_is 2 "$A" check app --json && [ "$("$J" --get result <"$T/out")" = error ]
check "check app without DIR is bad usage" $?
mkdir -p "$T/docapp/prompts"
awk '/^## An annotated example/ { a = 1 } a && /^```yaml$/ { f = 1; next } f && /^```/ { exit } f' \
  "$SRC/docs/apps.md" >"$T/docapp/app.yaml"
for p in intake triage remediate; do echo "The $p prompt." >"$T/docapp/prompts/$p.md"; done
status_is 0 "$A" check app "$T/docapp"; check "docs/apps.md's annotated example is a valid app" $?

# Help is generated from the tables and fits a terminal.
wide=0
for t in "" run sweep replay mutants selftest bench list check help version scenarios checks mutants; do
  "$A" help $t >"$T/h" 2>&1 || wide=1
  awk 'length > 80 || / $/ { bad = 1 } END { exit bad }' "$T/h" || { echo "  help $t: a line past 80 columns or with a trailing space"; wide=1; }
done
check "help and every help page fit 80 columns" $wide
status_is 0 "$A" help run && grep -q "^agentsim run -- " "$T/out" && grep -q -- "--check-determinism" "$T/out" && \
  ! grep -q -- "--junit" "$T/out"
check "help COMMAND shows that command and only its options" $?
status_is 0 "$A" run --help && grep -q "^agentsim run -- " "$T/out"; check "COMMAND --help is help COMMAND" $?
status_is 0 "$A" help checks && grep -q "^  lost-write " "$T/out" && grep -q "^  lock-exclusive " "$T/out"
check "help checks lists the oracle's checks" $?
status_is 0 "$A" help mutants && grep -q "^  lock_wait_if " "$T/out" && grep -q "^  save_no_version_check " "$T/out"
check "help mutants lists the planted bugs" $?
status_is 0 "$A" help scenarios && grep -qF "  checkpoint [s=S] [retry=N] [thread=NAME]" "$T/out"
check "help scenarios prints the operation reference" $?
status_is 2 "$A" help nosuch && grep -q "topics: scenarios, checks, mutants" "$T/err"
check "help of an unknown topic exits 2 naming the topics" $?
(cd "$SRC" && status_is 0 "$A" list) && grep -q "fixtures/scenarios/stale_storm.scn" "$T/out"
check "list names the bundled scenarios (from the project root)" $?

# Usage errors name what was expected.
status_is 2 "$A" && grep -q "no command given" "$T/err"; check "no command exits 2" $?
status_is 2 "$A" run selftest:abba --seed 1 --strategy pct:d= && grep -q "expected a number after '='$" "$T/err"
check "a PCT setting without its number exits 2" $?
status_is 2 "$A" run selftest:abba --seed 1 --strategy pct:d=2k=3 && grep -q "expected ',' between settings" "$T/err"
check "PCT settings without a comma exit 2" $?
status_is 2 "$A" run selftest:abba --seed 1 --strategy pos:d=2 && grep -q "'pos:d=2': pos takes no settings" "$T/err"
check "POS with PCT's settings exits 2 saying it takes none" $?
status_is 2 "$A" run selftest:abba --seed 1 --strategy walk && \
  grep -q "expected random, pct, pct:d=K, pct:d=K,k=N, pos or portfolio" "$T/err"
check "an unknown strategy exits 2 naming every strategy" $?
status_is 2 "$A" list extra && grep -q "list: unexpected argument 'extra'" "$T/err"
check "a command that takes no scenario refuses one" $?
status_is 2 "$A" sweep selftest:abba --seeds 3 --jobs 0 && grep -q "expected a count from 1 to" "$T/err"
check "--jobs 0 exits 2" $?
head -c 300000000 /dev/zero | tr '\0' 1 >"$T/huge"
status_is 2 "$A" replay selftest:abba --schedule "@$T/huge" && grep -q "longer than" "$T/err"
check "--schedule @FILE past the schedule cap exits 2" $?
rm -f "$T/huge"

# Spurious wakeups: on in sweeps (the replay command carries the rate), off
# in run, and a replay by schedule needs no rate.
status_is 1 "$A" sweep selftest:cond_if --seeds 20 --jobs 1 --strategy random && \
  grep -q "replay: .* replay selftest:cond_if --seed 7 --strategy random --spurious 1000$" "$T/out"
check "sweep turns spurious wakeups on and its replay commands say so" $?
status_is 1 "$A" replay selftest:cond_if --seed 7 --spurious 1000 && grep -q "1 spurious wakeups" "$T/out"
check "the printed replay command fails the same way" $?
sp_sched=$(sed -n 's/^schedule: //p' "$T/out")
status_is 1 "$A" replay selftest:cond_if --schedule "$sp_sched" && grep -q "spurious=listed(1)" "$T/out"
check "the schedule carries the wakeup" $?
status_is 0 "$A" run selftest:cond_if --seed 7 && grep -q "spurious=off" "$T/out"
check "run leaves spurious wakeups off" $?
status_is 0 "$A" sweep selftest:cond_if --seeds 20 --jobs 1 --spurious off; check "sweep --spurious off" $?
status_is 2 "$A" run selftest:cond_if --seed 7 --spurious 1000001 && grep -q "expected a rate from 0 to 1000000" "$T/err"
check "--spurious past a million exits 2" $?
status_is 2 "$A" replay selftest:cond_if --schedule "$sp_sched" --spurious 5 && grep -q "a schedule lists its wakeups" "$T/err"
check "--spurious with --schedule exits 2" $?

# A scenario's limits line is its budget on the command line too (the
# options still override it).
printf 'scenario tight\nlimits steps=50\nactor a\n    repeat=20 note s=0\n' >"$T/tight.scn"
status_is 1 "$A" run "$T/tight.scn" --seed 1 && grep -q "step budget of 50 exceeded" "$T/out"
check "run honours the scenario's step budget" $?
status_is 0 "$A" run "$T/tight.scn" --seed 1 --max-steps 100000
check "--max-steps overrides the scenario's budget" $?

# Old and foreign schedules are refused with a reason, not misreplayed.
status_is 2 "$A" replay selftest:abba --schedule v1:2d826501f134ef03:349d3867793e4c9d:aa840103f8f2859c:011212201 && \
  grep -q "version 1 is not this build's" "$T/err"
check "a version-1 schedule exits 2 saying so" $?
status_is 2 "$A" replay selftest:counter --schedule "$sched" && grep -q "recorded for another program" "$T/err"
check "a schedule recorded for another program exits 2" $?

# The README's examples are what the tool prints: run each "$ build/agentsim"
# line from the project root and find every line of its block that is not cut
# with "..." in the output.
readme=0
nex=0
while IFS= read -r cmdline; do
  nex=$((nex + 1))
  awk -v c="$cmdline" 'f && /^```/ { exit } f { print } $0 == c { f = 1 }' "$SRC/README.md" | grep -v '\.\.\.' >"$T/want"
  args=${cmdline#\$ build/agentsim }
  (cd "$SRC" && "$A" $args) 2>&1 | sed "s|$A|build/agentsim|g" >"$T/got"
  while IFS= read -r line; do
    grep -qxF -- "$line" "$T/got" || { echo "  README: '$cmdline' does not print: $line"; readme=1; }
  done <"$T/want"
done < <(grep '^\$ build/agentsim ' "$SRC/README.md")
[ "$nex" -ge 2 ]; check "the README has its examples" $?
check "the README's examples print what the README says" $readme

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
