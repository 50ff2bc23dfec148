#!/usr/bin/env bash
# scenario_test.sh AGENTSIM JSON_CHECK SOURCE_DIR [full|quick] -- the bundled
# scenarios through the tool: they pass unmutated, every mutant is killed,
# bad files are refused with their position, runs replay to the same hash.
# quick (for the instrumented builds) runs fewer seeds; every portfolio kill
# in the release table comes within 5 seeds (load_not_snapshot's, the last,
# at its fifth: `agentsim mutants --seeds 1000`), and seeds mean the same in every
# build, so 6 seeds kill every mutant there too.
set -u
A=$1
J=$2
S=$3
case ${4:-full} in
full) sweep=150 pct=60 mseeds=200 jobs=2 ;;
quick) sweep=25 pct=10 mseeds=6 jobs=2 ;; # the ASan kill table over 25 scenarios took 13.5 min at 10 seeds
*) echo "scenario_test.sh: scale is full or quick, not '$4'" >&2; exit 2 ;;
esac
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$S" || exit 1
fails=0
n=0
check() {
  n=$((n + 1))
  if [ "$2" -eq 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi
}

nscn=$(ls fixtures/scenarios/*.scn | wc -l)
"$A" sweep fixtures/scenarios/*.scn --seeds $sweep --jobs $jobs --json >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 0 ] && [ "$("$J" --get failed <"$T/out")" = 0 ] && [ "$("$J" --get runs <"$T/out")" = $((sweep * nscn)) ] && \
  [ "$("$J" --get strategy <"$T/out")" = portfolio ]
check "the unmutated runtime passes $sweep seeds of every bundled scenario (the portfolio)" $?
"$A" sweep fixtures/scenarios/*.scn --seeds $pct --strategy pct --jobs $jobs >"$T/out" 2>&1
check "and $pct under PCT" $?

"$A" mutants --seeds $mseeds --jobs $jobs --json >"$T/out" 2>"$T/err"
st=$?
[ $st -eq 0 ] && [ "$("$J" --get result <"$T/out")" = pass ]
check "the portfolio kills every mutant within $mseeds seeds (mutants exits 0)" $?
grep -q '"pos":{"seeds_to_kill":' "$T/out" && grep -q '"portfolio":{"seeds_to_kill":' "$T/out" && \
  grep -q '"pct":{"seeds_to_kill":' "$T/out" && grep -q '"random":{"seeds_to_kill":' "$T/out"
check "the kill table has seeds to kill under random, pct, pos and the portfolio" $?
killed=$(grep -o '"killed":true' "$T/out" | wc -l)
nmut=$("$A" help mutants | grep -c '^  [a-z]')
[ "$nmut" -ge 27 ] && [ "$killed" -eq "$nmut" ] && [ "$("$J" --get survived <"$T/out")" = 0 ]
check "the kill table lists every mutant ($nmut, 27 or more) killed" $?
grep -q '"check":"finalize-inference"' "$T/out" && grep -q '"check":"gc-exact"' "$T/out" && \
  grep -q '"check":"lock-exclusive"' "$T/out" && grep -q '"kill_rate":' "$T/out"
check "the kill table names the oracle check that caught each mutant, and its kill rate" $?
replay=$(grep -o '"replay":"[^"]*"' "$T/out" | head -1 | sed 's/"replay":"//; s/"$//')
[ -n "$replay" ] && $replay >"$T/r" 2>&1
[ $? -eq 1 ] && grep -q "FAIL (invariant)" "$T/r"; check "a kill's replay command fails the same way" $?

"$A" run tests/data/broken.scn --seed 1 >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q "tests/data/broken.scn:4:13: expected a session number" "$T/err"
check "a malformed scenario exits 2 naming file, line and column" $?
"$A" run fixtures/scenarios/nope.scn --seed 1 >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q "nope.scn: cannot open" "$T/err"; check "a missing scenario file exits 2" $?
"$A" run selftest:abba --seed 1 --mutant lock_noop >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q "need a scenario" "$T/err"; check "mutants need a scenario" $?
"$A" run fixtures/scenarios/double_finalize.scn --seed 1 --mutant nope >"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q "known: lock_noop" "$T/err"; check "an unknown mutant lists the known ones" $?

"$A" run fixtures/scenarios/crash_restart.scn --seed 7 --check-determinism --json >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && [ "$("$J" --get determinism <"$T/out")" = ok ]
check "a scenario run replays to the same hash, by seed and by schedule" $?
h1=$("$A" run fixtures/scenarios/gc_vs_retry.scn --seed 3 --strategy pct --json 2>/dev/null | "$J" --get trace_hash)
h2=$("$A" run fixtures/scenarios/gc_vs_retry.scn --seed 3 --strategy pct --json 2>/dev/null | "$J" --get trace_hash)
[ -n "$h1" ] && [ "$h1" = "$h2" ]; check "same seed, same trace hash" $?

# A SCENARIO is echoed back as given: a path stays a path, in replay commands,
# the JSON and the JUnit report.
"$A" sweep ./fixtures/scenarios/double_finalize.scn --seeds 30 --jobs 2 --mutant finalize_no_lock \
  --json --junit "$T/j.xml" >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && "$J" --get scenarios <"$T/out" | grep -q '"scenario":"./fixtures/scenarios/double_finalize.scn"' && \
  grep -q 'replay ./fixtures/scenarios/double_finalize.scn --seed' "$T/err" && \
  grep -q 'testsuite name="./fixtures/scenarios/double_finalize.scn"' "$T/j.xml"
check "sweep echoes the scenario path as given (JSON, replay lines, JUnit)" $?
cp fixtures/scenarios/stale_storm.scn "$T/a<b&c\"d>.scn"
"$A" sweep "$T/a<b&c\"d>.scn" --seeds 3 --jobs 1 --mutant save_no_version_check --junit "$T/x.xml" \
  >"$T/xo" 2>&1
[ $? -eq 1 ] && grep -q 'a&lt;b&amp;c&quot;d&gt;.scn' "$T/x.xml" && ! grep -q 'a<b' "$T/x.xml"
check "JUnit escapes the markup characters of a scenario's path" $?
r=$(sed -n 's/^    replay: //p' "$T/xo" | head -1)
[ -n "$r" ] && eval "$r" >"$T/r" 2>&1; [ $? -eq 1 ] && grep -q "FAIL (invariant)" "$T/r"
check "a replay command for an awkward path is quoted for the shell" $?
r=$(sed -n 's/^    replay: //p' "$T/err" | head -1)
[ -n "$r" ] && $r >"$T/r" 2>&1; [ $? -eq 1 ] && grep -q "lock-scope" "$T/r"
check "a sweep's printed replay command runs and fails the same way" $?

"$A" bench --quick --json >"$T/out" 2>"$T/err"
st=$?
{ [ $st -eq 0 ] || [ $st -eq 1 ]; } && "$J" lock_noop_hunt scenarios <"$T/out" && \
  grep -q '"sim":{"runs":20,"detections":[1-9]' "$T/out" && grep -q '"real_threads":{"runs":20' "$T/out"
r=$?
[ $r -eq 0 ] || { echo "  bench exited $st:"; tail -5 "$T/err" | sed 's/^/  | /'; }
check "bench hunts lock_noop with real threads and with the sim, and reports scenarios" $r

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
