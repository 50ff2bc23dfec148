#!/usr/bin/env bash
# timeline_test.sh MODE AGENTSIM [ARTIFACTS] -- run and replay --timeline and
# --trace-json (docs/timeline.md).
#
#   browser  the page of a failing mutant run opens in headless Chromium with
#            no console message at all (the page logs none: any is an error),
#            and its DOM after the script ran has every task's lane, the
#            failing step marked and the session table; a screenshot is kept
#            as ARTIFACTS/timeline.png. Skips (77) only when chromium is
#            missing and cannot be installed (scripts/setup-deps.sh lists it).
#   trace    tests/trace_json_check.py (its own planted-defect selftest
#            first) passes the traces of a failing run, a passing one, a run
#            with power losses, and a replay by schedule; the replay's
#            events equal the run's.
#   cli      bad paths: checked before the run (exit 3 naming the path, no
#            run), a write that fails after it (exit 3, nothing left behind),
#            a file replaced whole, --json naming the files, usage errors.
set -u
MODE=$1
A=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
ART=${3:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
CHECK="$SRC/tests/trace_json_check.py"
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
FE="$SRC/fixtures/scenarios/finalize_vs_escalate.scn"
MUT=finalize_coerce_resolved
cd "$T" || exit 3

case $MODE in
browser)
  CH=$(command -v chromium || command -v chromium-browser || true)
  if [ -z "$CH" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "# chromium is missing: installing it (Debian's package; scripts/setup-deps.sh)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >"$T/apt.log" 2>&1 ||
      { apt-get update -qq >>"$T/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >>"$T/apt.log" 2>&1; }
    CH=$(command -v chromium || true)
  fi
  if [ -z "$CH" ]; then
    echo "SKIP: chromium is not installed and could not be (run scripts/setup-deps.sh)"
    exit 77
  fi
  status_is 1 "$A" run "$FE" --seed 1 --mutant $MUT --timeline t.html && [ -s t.html ] &&
    grep -q "^timeline: t.html (" "$T/out"
  check "a failing mutant run writes its timeline and names it" $?
  tasks=$(sed -n 's/^result: .*decisions, \([0-9]*\) tasks).*/\1/p' "$T/out")
  step=$(sed -n "s/.*\[step \([0-9]*\), task.*/\1/p" "$T/out" | head -1)
  [ -n "$tasks" ] && [ "$tasks" -ge 2 ] && [ -n "$step" ]
  check "the run says how many tasks ($tasks) and the failing step ($step)" $?
  [ -s t.html ] && ! grep -q -e 'https\?://' -e '<link' -e ' src=' t.html
  check "the page asks for nothing from the network" $?
  flags=(--headless --disable-gpu --no-sandbox --enable-logging=stderr --v=0
         --user-data-dir="$T/profile" --virtual-time-budget=5000 --window-size=1400,900)
  timeout 60 "$CH" "${flags[@]}" --dump-dom "file://$T/t.html" >dom.html 2>dom.err
  check "headless Chromium loads the page (within 60 s)" $?
  grep -q 'data-ready="1"' dom.html
  check "the page's script ran to its end" $?
  [ -s dom.html ] && ! grep -e ':CONSOLE' -e 'Uncaught' dom.err
  check "no console message, no uncaught error" $?
  ok=0
  [ -n "$tasks" ] || ok=1
  for ((i = 0; i < ${tasks:-0}; i++)); do
    grep -q "class=\"lane[^\"]*\" data-task=\"$i\"" dom.html || { echo "  no lane for task $i"; ok=1; }
  done
  check "every task's lane is there (.lane[data-task=N], N < $tasks)" $ok
  grep -q "<div id=\"fail-step\"[^>]*data-step=\"$step\"[^>]*>FAIL (invariant) at step $step: finalize-inference" dom.html
  check "#fail-step marks the failing step $step" $?
  grep -q 'class="row cur fail" data-i="[0-9]*" id="fail-row"' dom.html
  check "the failing event's row is the current one, highlighted" $?
  grep -q '<table id="session-table">' dom.html &&
    grep -q '<tr data-session="s0"><td>s0</td><td>in_progress → resolved (uncommitted)</td><td>3 → 4</td>' dom.html &&
    grep -q '<tr data-session="s1"><td>s1</td>' dom.html
  check "#session-table shows each session's status and version at the failing step" $?
  # Stepping: the page opened at an event (#event=N) before any session row
  # was committed, and at the event that committed s0's first row.
  first=$("$PY" -c '
import json, re, sys
page = open(sys.argv[1]).read()
data = json.loads(re.search(r"<script id=\"run-data\" type=\"application/json\">(.*?)</script>", page, re.S).group(1))
print(next(s[0] for s in data["sessions"] if s[1] == "s0" and s[4] == 0) + 1)' t.html)
  timeout 60 "$CH" "${flags[@]}" --dump-dom "file://$T/t.html#event=1" >dom1.html 2>dom1.err &&
    grep -q 'class="row cur" data-i="0"' dom1.html && grep -q '<td colspan="4">none committed yet</td>' dom1.html &&
    ! grep -q 'data-session=' dom1.html &&
    timeout 60 "$CH" "${flags[@]}" --dump-dom "file://$T/t.html#event=$first" >dom2.html 2>dom2.err &&
    grep -q "class=\"row cur\" data-i=\"$((first - 1))\"" dom2.html &&
    grep -q '<tr data-session="s0" class="changed"><td>s0</td><td>new</td><td>1</td>' dom2.html &&
    ! grep -e ':CONSOLE' -e 'Uncaught' dom1.err dom2.err
  check "stepped to event 1 no session is committed; at event $first s0 is new, version 1" $?
  out=${ART:-$T}
  mkdir -p "$out" && rm -f "$out/timeline.png"
  timeout 60 "$CH" "${flags[@]}" --screenshot="$out/timeline.png" "file://$T/t.html" >/dev/null 2>shot.err
  [ -s "$out/timeline.png" ] && [ "$(head -c 8 "$out/timeline.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    [ "$(stat -c %s "$out/timeline.png")" -gt 10000 ]
  check "a screenshot, a PNG, kept as $out/timeline.png" $?
  ;;
trace)
  status_is 1 "$A" run "$FE" --seed 1 --mutant $MUT --trace-json fail.json && grep -q "^trace json: fail.json" "$T/out"
  check "a failing run writes its trace and names it" $?
  "$PY" "$CHECK" --selftest fail.json
  check "the structural check refuses every planted defect" $?
  "$PY" "$CHECK" fail.json --expect-fail --tasks 5
  check "the failing run's trace passes the structural check, its failure marked" $?
  # lock_noop: two tasks hold one session's lock; the first hold still ends.
  status_is 1 "$A" run "$SRC/fixtures/scenarios/code_review.scn" --seed 0 --mutant lock_noop \
    --trace-json two.json && "$PY" "$CHECK" two.json --expect-fail &&
    grep -q "session lock taken while another task holds it" two.json
  check "a lock held by two tasks is drawn balanced, the second take marked" $?
  "$PY" - fail.json <<'EOF'
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
cats = {e.get("cat") for e in ev}
need = {"lock", "wait", "io", "op", "session-lock", "session", "flow", "task", "fail"}
missing = need - cats
assert not missing, "no %s events" % sorted(missing)
names = {e["name"] for e in ev if e["ph"] == "s"}
assert names == {"handoff", "wake"} or names >= {"handoff"}, names
assert any(e["ph"] == "M" and e["name"] == "thread_name" and e["args"]["name"] == "1 runner.0" for e in ev)
ts = [e["ts"] for e in ev if e["ph"] == "B"]
assert ts == sorted(ts), "the lanes begin out of order"
EOF
  check "it holds lock holds, waits, I/O, operations, session locks, flows" $?
  status_is 0 "$A" run "$SRC/fixtures/scenarios/crash_restart.scn" --seed 3 --trace-json crash.json &&
    "$PY" "$CHECK" crash.json && "$PY" -c '
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
assert any(e["ph"] == "i" and e["cat"] == "crash" and e["s"] == "g" for e in ev), "no power-loss instant"
assert not any(e["name"].startswith("FAIL: ") for e in ev), "a passing run marked failed"' crash.json
  check "a passing run with power losses: global crash instants, no FAIL" $?
  status_is 1 "$A" run selftest:abba --seed 2 --trace-json st.json --spurious 200000 &&
    "$PY" "$CHECK" st.json --expect-fail
  check "a self-test's trace (the sim's own events only) passes, its deadlock marked" $?
  status_is 1 "$A" run "$FE" --seed 1 --mutant $MUT --trace-json a.json >/dev/null &&
    printf '%s\n' "$(sed -n 's/^schedule: //p' "$T/out")" >sched.txt &&
    status_is 1 "$A" replay "$FE" --schedule @sched.txt --mutant $MUT --trace-json b.json --timeline b.html &&
    "$PY" "$CHECK" b.json --expect-fail && "$PY" -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
drawn = lambda d: [e for e in d["traceEvents"] if e["name"] != "process_name"]
assert drawn(a) == drawn(b), "the replay drew another run"
assert b["otherData"]["command"] == "replay" and b["otherData"]["seed"] is None' a.json b.json && [ -s b.html ]
  check "a replay by schedule draws the same trace (and writes its page)" $?
  ;;
cli)
  status_is 3 "$A" run "$FE" --seed 1 --timeline "$T/no/such/dir/t.html" &&
    grep -q "run: --timeline $T/no/such/dir/t.html: cannot write in $T/no/such/dir: No such file or directory" "$T/err" &&
    ! grep -q "^result:" "$T/out"
  check "a directory that is not there: exit 3 before the run, naming the path" $?
  mkdir d && status_is 3 "$A" replay "$FE" --seed 1 --trace-json d &&
    grep -q "replay: --trace-json d: is a directory" "$T/err"
  check "a path that is a directory: exit 3, naming it" $?
  : >plain && status_is 3 "$A" run "$FE" --seed 1 --timeline plain/t.html &&
    grep -q "run: --timeline plain/t.html: plain is not a directory" "$T/err"
  check "a path under a file: exit 3, naming it" $?
  if [ "$(id -u)" -eq 0 ] && [ -d /proc/self ]; then
    # root passes the check; /proc takes no new file: the write fails after the run.
    status_is 3 "$A" run "$FE" --seed 1 --timeline /proc/t.html &&
      grep -q "run: --timeline /proc/t.html: cannot create /proc/t.html.tmp" "$T/err" &&
      grep -q "^result: pass" "$T/out"
    check "a write that fails after the run: exit 3, naming the path" $?
  else
    chmod 0555 d && status_is 3 "$A" run "$FE" --seed 1 --timeline d/t.html &&
      grep -q "run: --timeline d/t.html: cannot write in d: Permission denied" "$T/err"
    check "a directory without write permission: exit 3, naming it" $?
    chmod 0755 d
  fi
  echo old >t.html && status_is 0 "$A" run "$FE" --seed 1 --timeline t.html --trace-json t.json &&
    head -c 15 t.html | grep -q '<!DOCTYPE html>' && grep -q '</html>' t.html &&
    [ -z "$(ls | grep '\.tmp\.')" ]
  check "an existing file is replaced whole, no temporary left" $?
  status_is 0 "$A" run "$FE" --seed 1 --timeline j.html --trace-json j.json --json &&
    tail -1 "$T/out" | "$PY" -c '
import json, sys
j = json.loads(sys.stdin.read())
assert j["timeline"] == "j.html" and j["trace_json"] == "j.json", j' &&
    grep -q "^timeline: j.html" "$T/err" && [ -s j.html ] && [ -s j.json ]
  check "--json: the last line names the files; the text goes to stderr" $?
  status_is 2 "$A" run "$FE" --seed 1 --timeline "" && grep -q -- "--timeline: expected a file name" "$T/err"
  check "an empty --timeline is bad usage" $?
  status_is 2 "$A" sweep "$FE" --seeds 2 --timeline t.html
  check "sweep takes no --timeline" $?
  "$A" help run >help.txt 2>&1 && grep -q -- "--timeline FILE.html" help.txt && grep -q -- "--trace-json FILE" help.txt &&
    "$A" help replay 2>&1 | grep -q -- "--timeline FILE.html"
  check "help run and help replay list both options" $?
  ;;
*)
  echo "timeline_test.sh: unknown mode $MODE" >&2
  exit 2
  ;;
esac
echo "$n checks, $fails failed"
[ "$fails" -eq 0 ]
