#!/usr/bin/env bash
# merge_test.sh AGENTSIM PYTHON3 -- failure buckets, --shard auto and merge:
# a merge of shards equals one unsharded sweep of the same seeds (JSON:
# runs, failed, digest, buckets, failures; JUnit: every testcase, timing
# aside), whatever the shards' --jobs and however each engine named them;
# buckets do not depend on --jobs; --shard auto per engine and its errors;
# merge's refusals (other scenario, other build, a shard twice, an
# incomplete shard, malformed JSON, ...) and a missing shard.
set -u
A=$1
PY=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
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
# Whatever engine runs this test, its variables must not pick the shard.
ENGINE_VARS="CI_NODE_INDEX CI_NODE_TOTAL AGENTSIM_SHARD_INDEX AGENTSIM_SHARD_TOTAL GITHUB_ACTIONS
  JOB_COMPLETION_INDEX SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX
  SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_STEP"
for v in $ENGINE_VARS; do unset "$v"; done

S=fixtures/scenarios/finalize_vs_escalate.scn
SW=(sweep "$S" --mutant finalize_coerce_resolved --seeds 60)
OTHER=fixtures/scenarios/double_finalize.scn

# same_sweep A.json B.json: the same findings (what only a merge or a shard
# says aside, and the time taken).
same_sweep() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
def norm(p):
    d = json.load(open(p))
    for k in ("command", "files", "shards", "shard", "shard_source"):
        d.pop(k, None)
    for s in d["scenarios"]:
        s.pop("seconds")
    return d
a, b = norm(sys.argv[1]), norm(sys.argv[2])
if a != b:
    for k in a:
        if a[k] != b.get(k):
            print("  differs: %s" % k, file=sys.stderr)
    sys.exit(1)
PYEOF
}
# same_junit A.xml B.xml: every testsuite, property and testcase, times aside.
same_junit() { cmp -s <(sed -E 's/ time="[^"]*"//' "$1") <(sed -E 's/ time="[^"]*"//' "$2"); }

status_is 1 "$A" "${SW[@]}" --jobs 2 --json --junit "$T/all.xml" && cp "$T/out" "$T/all.json" &&
  "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1])); s = d["scenarios"][0]
assert d["runs"] == 60 and d["failed"] > 0, d["failed"]
assert len(s["buckets"]) >= 2 and sum(b["count"] for b in s["buckets"]) == d["failed"]
assert d["build"].startswith("0.1.0+") and len(s["fingerprint"]) == 16
' "$T/all.json" && grep -q '^  buckets: [0-9]* distinct failure signatures, biggest first' "$T/err"
check "a sweep with failures lists its buckets (text, JSON), their counts adding up" $?

status_is 1 "$A" "${SW[@]}" --jobs 1 --json --junit "$T/all1.xml" && cp "$T/out" "$T/all1.json" &&
  same_sweep "$T/all.json" "$T/all1.json" && same_junit "$T/all.xml" "$T/all1.xml"
check "buckets, failures and JUnit do not depend on --jobs (1 and 2)" $?

"$PY" -c '
import json, sys
bs = json.load(open(sys.argv[1]))["scenarios"][0]["buckets"]
keys = [(-b["count"], b["smallest_seed"]) for b in bs]
assert keys == sorted(keys) and all(b["seeds"][0] == b["smallest_seed"] for b in bs)
assert all(b["replay"].endswith("--seed %d --strategy portfolio --spurious 1000 --mutant finalize_coerce_resolved" % b["smallest_seed"]) for b in bs)
' "$T/all.json" && grep -q '<failure type="invariant finalize-inference in finalize (line ' "$T/all.xml" &&
  grep -q '<property name="bucket 1" value="' "$T/all.xml"
check "buckets come biggest first, then by smallest seed, with its replay; JUnit types are signatures" $?

for i in 1 2 3; do
  "$A" "${SW[@]}" --jobs $(( i % 2 + 1 )) --shard $i/3 --json >"$T/s$i.json" 2>/dev/null
done
status_is 1 "$A" merge "$T/s3.json" "$T/s1.json" "$T/s2.json" --json --junit "$T/m.xml" &&
  cp "$T/out" "$T/m.json" && same_sweep "$T/all.json" "$T/m.json" && same_junit "$T/all.xml" "$T/m.xml" &&
  grep -q "^merge: 60 runs, .* failed, 3 of 3 shards" "$T/err" && grep -q "^  buckets: " "$T/err"
check "merge of 3 shards (--shard I/3) equals one unsharded sweep: JSON and JUnit" $?
status_is 1 "$A" merge "$T/s1.json" "$T/s2.json" "$T/s3.json" && grep -q "^  buckets: " "$T/out" &&
  grep -q "^merge: 60 runs" "$T/out"
check "merge's text report (stdout without --json)" $?

# --shard auto, each engine: the shards it names merge to the same sweep.
auto_shards() { # auto_shards TAG ENGINE-SOURCE: runs shard_env I for I = 1..3
  local tag=$1 src=$2 i ok=0
  for i in 1 2 3; do
    env $(shard_env $i) "$A" "${SW[@]}" --jobs 1 --shard auto --json >"$T/$tag$i.json" 2>"$T/$tag$i.err"
    [ $? -eq 1 ] && grep -q "^sweep: shard $i/3 from $src" "$T/$tag$i.err" &&
      grep -q "\"shard\":\"$i/3\",\"shard_source\":\"$src" "$T/$tag$i.json" || ok=1
  done
  [ $ok -eq 0 ] && status_is 1 "$A" merge "$T/${tag}2.json" "$T/${tag}3.json" "$T/${tag}1.json" --json \
    --junit "$T/$tag.xml" && same_sweep "$T/all.json" "$T/out" && same_junit "$T/all.xml" "$T/$tag.xml"
}
shard_env() { echo "CI_NODE_INDEX=$1 CI_NODE_TOTAL=3"; }
auto_shards gl "GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL)"
check "--shard auto from GitLab CI parallel; the merge equals the unsharded sweep" $?
shard_env() { echo "GITHUB_ACTIONS=true AGENTSIM_SHARD_INDEX=$1 AGENTSIM_SHARD_TOTAL=3"; }
auto_shards gh "a GitHub Actions matrix (AGENTSIM_SHARD_INDEX, AGENTSIM_SHARD_TOTAL)"
check "--shard auto from a GitHub Actions matrix entry; the merge equals the unsharded sweep" $?
shard_env() { echo "JOB_COMPLETION_INDEX=$(($1 - 1)) AGENTSIM_SHARD_TOTAL=3"; }
auto_shards k8s "a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, AGENTSIM_SHARD_TOTAL)"
check "--shard auto from a Kubernetes Indexed Job (0-based); the merge equals the unsharded sweep" $?
shard_env() { echo "SLURM_ARRAY_TASK_ID=$((3 + 2 * $1)) SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_MAX=9 SLURM_ARRAY_TASK_STEP=2 SLURM_ARRAY_TASK_COUNT=3"; }
auto_shards slurm "a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT)"
check "--shard auto from a Slurm job array (--array=5-9:2); the merge equals the unsharded sweep" $?
shard_env() { echo "AGENTSIM_SHARD_INDEX=$1 AGENTSIM_SHARD_TOTAL=3"; }
auto_shards any "the job's environment (AGENTSIM_SHARD_INDEX, AGENTSIM_SHARD_TOTAL)"
check "--shard auto from AGENTSIM_SHARD_INDEX/_TOTAL outside GitHub Actions" $?

# --shard auto's errors: exit 2, naming the variables.
auto_err() { # auto_err NEEDLE VAR=VALUE...
  local needle=$1
  shift
  env "$@" "$A" sweep selftest:counter --seeds 4 --jobs 1 --shard auto --json >"$T/out" 2>"$T/err"
  [ $? -eq 2 ] && grep -qF -- "$needle" "$T/err" && grep -q '"result":"error","exit":2' "$T/out" ||
    { echo "  $* -> $(cat "$T/err")"; return 1; }
}
auto_err "no shard in the environment; expected one of CI_NODE_INDEX" X=1; check "--shard auto with no engine: exit 2, listing what it looks for" $?
auto_err "CI_NODE_INDEX='x2': expected an unsigned decimal number" CI_NODE_INDEX=x2 CI_NODE_TOTAL=3
check "--shard auto: a malformed index" $?
auto_err "GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL) gives shard 4 of 3" CI_NODE_INDEX=4 CI_NODE_TOTAL=3
check "--shard auto: an index past the total" $?
auto_err "gives shard 0 of 3" AGENTSIM_SHARD_INDEX=0 AGENTSIM_SHARD_TOTAL=3; check "--shard auto: a 1-based index of 0" $?
auto_err "gives shard 1 of 0" CI_NODE_INDEX=1 CI_NODE_TOTAL=0; check "--shard auto: a total of 0" $?
auto_err "is set but AGENTSIM_SHARD_TOTAL is not" JOB_COMPLETION_INDEX=0; check "--shard auto: an Indexed Job without its total" $?
auto_err "is set but CI_NODE_TOTAL is not" CI_NODE_INDEX=1; check "--shard auto: GitLab without CI_NODE_TOTAL" $?
auto_err "AGENTSIM_SHARD_TOTAL='-3'" AGENTSIM_SHARD_INDEX=1 AGENTSIM_SHARD_TOTAL=-3; check "--shard auto: a malformed total" $?
auto_err "is set but SLURM_ARRAY_TASK_MIN is not" SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=4
check "--shard auto: Slurm without SLURM_ARRAY_TASK_MIN" $?
auto_err "is set but SLURM_ARRAY_TASK_COUNT is not" SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=0
check "--shard auto: Slurm without SLURM_ARRAY_TASK_COUNT" $?
auto_err "task 4 is not on the array's range (min 1, step 2)" SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_MIN=1 \
  SLURM_ARRAY_TASK_STEP=2 SLURM_ARRAY_TASK_COUNT=3; check "--shard auto: a Slurm task off the array's step" $?
auto_err "task 0 is not on the array's range (min 1, step 1)" SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_MIN=1 \
  SLURM_ARRAY_TASK_COUNT=3; check "--shard auto: a Slurm task below the array's min" $?
auto_err "task 3 is not on the array's range (min 1, step 0)" SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=1 \
  SLURM_ARRAY_TASK_STEP=0 SLURM_ARRAY_TASK_COUNT=3; check "--shard auto: a Slurm step of 0" $?
auto_err "SLURM_ARRAY_TASK_STEP='two'" SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=1 \
  SLURM_ARRAY_TASK_STEP=two SLURM_ARRAY_TASK_COUNT=3; check "--shard auto: a malformed Slurm step" $?
auto_err "min 1, max 9, step 1 do not make 3 tasks" SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 \
  SLURM_ARRAY_TASK_MAX=9 SLURM_ARRAY_TASK_COUNT=3; check "--shard auto: a Slurm array that is not one stepped range" $?
auto_err "min 5, max 1" SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=5 \
  SLURM_ARRAY_TASK_MAX=1 SLURM_ARRAY_TASK_COUNT=1; check "--shard auto: a Slurm max below its min" $?
auto_err "SLURM_ARRAY_TASK_MAX='9x'" SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 \
  SLURM_ARRAY_TASK_MAX=9x SLURM_ARRAY_TASK_COUNT=3; check "--shard auto: a malformed Slurm max" $?
auto_err "GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL) says shard 1/3 but a Slurm job array" CI_NODE_INDEX=1 \
  CI_NODE_TOTAL=3 SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=3
check "--shard auto: two engines that disagree" $?
env CI_NODE_INDEX=2 CI_NODE_TOTAL=3 AGENTSIM_SHARD_INDEX=2 AGENTSIM_SHARD_TOTAL=3 "$A" sweep selftest:counter \
  --seeds 4 --jobs 1 --shard auto >"$T/out" 2>"$T/err" && grep -q "^sweep: shard 2/3 from GitLab CI" "$T/err"
check "--shard auto: two engines that agree" $?
auto_err "shard 3/5 from GitLab CI (CI_NODE_INDEX, CI_NODE_TOTAL), but only 4 seeds" CI_NODE_INDEX=3 CI_NODE_TOTAL=5
check "--shard auto: more shards than seeds" $?
status_is 2 "$A" sweep selftest:counter --seeds 4 --shard 0/3 && grep -q "expected I/N with 1 <= I <= N (for example 2/4), or auto" "$T/err"
check "--shard names auto in its error" $?

# merge's refusals: exit 2, naming the files.
edit() { # edit IN OUT PYTHON-STATEMENT (on d, the JSON)
  "$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
$3
json.dump(d, open(sys.argv[2], 'w'))" "$1" "$2"
}
"$A" sweep "$OTHER" --mutant finalize_coerce_resolved --seeds 60 --jobs 1 --shard 2/3 --json >"$T/o2.json" 2>/dev/null
status_is 2 "$A" merge "$T/s1.json" "$T/o2.json" "$T/s3.json" &&
  grep -q "$T/s1.json and $T/o2.json are not shards of one sweep: scenarios\[0\] is $S (fingerprint" "$T/err"
check "merge refuses a shard of another scenario, naming both files" $?
cp "$S" "$T/same.scn"
"$A" sweep "$T/same.scn" --mutant finalize_coerce_resolved --seeds 60 --jobs 1 --shard 2/3 --json >"$T/p2.json" 2>/dev/null
status_is 2 "$A" merge "$T/s1.json" "$T/p2.json" "$T/s3.json" && grep -q "scenarios\[0\] is $S" "$T/err"
check "merge refuses a shard that names the scenario otherwise" $?
edit "$T/s2.json" "$T/b2.json" 'd["build"] = "0.1.0+0123456789abcdef"'
status_is 2 "$A" merge "$T/s1.json" "$T/b2.json" "$T/s3.json" --json &&
  grep -q "$T/s1.json and $T/b2.json are not shards of one sweep: their build is \"0.1.0+.*\" in one and \"0.1.0+0123456789abcdef\" in the other (run every shard with one agentsim binary)" "$T/err" &&
  grep -q '"result":"error","exit":2' "$T/out"
check "merge refuses results of another build" $?
"$A" sweep "$S" --mutant finalize_no_lock --seeds 60 --jobs 1 --shard 2/3 --json >"$T/x2.json" 2>/dev/null
status_is 2 "$A" merge "$T/s1.json" "$T/x2.json" && grep -q "the options is" "$T/err"
check "merge refuses a shard with other options (the mutant)" $?
"$A" sweep "$S" --mutant finalize_coerce_resolved --seeds 61 --jobs 1 --shard 2/3 --json >"$T/r2.json" 2>/dev/null
status_is 2 "$A" merge "$T/s1.json" "$T/r2.json" && grep -q "the seeds is 60 in one and 61 in the other" "$T/err"
check "merge refuses a shard of another seed range" $?
status_is 2 "$A" merge "$T/s1.json" "$T/s2.json" "$T/s1.json" && grep -q "$T/s1.json and $T/s1.json are both shard 1/3" "$T/err"
check "merge refuses a shard given twice" $?
"$A" "${SW[@]}" --jobs 1 --shard 2/4 --json >"$T/q2.json" 2>/dev/null
status_is 2 "$A" merge "$T/s1.json" "$T/q2.json" && grep -q "$T/q2.json is shard 2/4 but $T/s1.json is one of 3 shards" "$T/err"
check "merge refuses shards of another count (overlapping seeds)" $?
status_is 2 "$A" merge "$T/all.json" "$T/s1.json" && grep -q "is shard 1/3 but $T/all.json is one of 1 shard (unsharded)" "$T/err"
check "merge refuses an unsharded sweep with a shard" $?
status_is 1 "$A" merge "$T/all.json" --json && same_sweep "$T/all.json" "$T/out"
check "merge of one unsharded sweep is that sweep" $?
head -c 300 "$T/s2.json" >"$T/cut.json"
status_is 2 "$A" merge "$T/s1.json" "$T/cut.json" && grep -q "$T/cut.json:1:300: malformed JSON: " "$T/err"
check "merge refuses malformed JSON with FILE:LINE:COL" $?
printf '{"command": "sweep",\n  "format": 1,\n  "build": 2,, }\n' >"$T/bad.json"
status_is 2 "$A" merge "$T/bad.json" && grep -q "$T/bad.json:3:14: malformed JSON: " "$T/err"
check "merge's malformed-JSON position is the line and column" $?
status_is 2 "$A" merge "$T/none.json" && grep -q "$T/none.json: cannot read it: " "$T/err"
check "merge refuses a file that is not there" $?
"$A" run "$S" --seed 1 --json >"$T/run.json" 2>/dev/null
status_is 2 "$A" merge "$T/run.json" && grep -q "not the JSON of 'agentsim sweep --json' (\"command\" is missing)" "$T/err"
check "merge refuses run's JSON" $?
echo '[1]' >"$T/arr.json"
status_is 2 "$A" merge "$T/arr.json" && grep -q "$T/arr.json: not the JSON of 'agentsim sweep --json'" "$T/err"
check "merge refuses JSON that is not an object" $?
refused() { # refused NEEDLE PYTHON-EDIT: a damaged s2 is refused with NEEDLE
  edit "$T/s2.json" "$T/e2.json" "$2"
  status_is 2 "$A" merge "$T/s1.json" "$T/e2.json" "$T/s3.json" && grep -qF -- "$1" "$T/err" ||
    { echo "  edit: $2"; sed 's/^/  | /' "$T/err"; return 1; }
}
refused "shard 2/3 ran 19 of its 20 seeds of $S (an incomplete sweep" 'd["scenarios"][0]["runs"] = 19'
check "merge refuses an incomplete shard" $?
refused '"format": expected 1' 'd["format"] = 2'; check "merge refuses another format" $?
refused '"command" is merge' 'd["command"] = "merge"'; check "merge refuses a merge's JSON as a shard" $?
refused '"shard": expected "I/N"' 'd["shard"] = "2of3"'; check "merge refuses a malformed shard" $?
refused '"shard": expected "I/N"' 'd["shard"] = "4/3"'; check "merge refuses a shard past its count" $?
refused '"shard": expected "I/N"' 'd["shard"] = 2'; check "merge refuses a shard that is not a string" $?
refused '"scenarios": expected an array of 1 to 64' 'd["scenarios"] = []'; check "merge refuses no scenarios" $?
refused '1 scenarios in one, 2 in the other' 'd["scenarios"].append(d["scenarios"][0])'; check "merge refuses another number of scenarios" $?
refused '"seeds": expected a positive count' 'd["seeds"] = 0'; check "merge refuses zero seeds" $?
refused '"seed_start": expected a non-negative integer' 'd["seed_start"] = -1'; check "merge refuses a negative seed start" $?
refused '"build": expected a string' 'del d["build"]'; check "merge refuses a result without a build" $?
refused '"strategy": expected a string' 'd["strategy"] = None'; check "merge refuses a result without a strategy" $?
refused '"options": expected an object' 'd["options"] = 1'; check "merge refuses options that are not an object" $?
refused 'scenarios[0]."digest": expected 16 hex digits' 'd["scenarios"][0]["digest"] = "xyz"'; check "merge refuses a malformed digest" $?
refused 'scenarios[0]: expected "seconds": a number' 'd["scenarios"][0]["seconds"] = "1"'; check "merge refuses a malformed time" $?
refused 'scenarios[0]: expected "buckets" and "failures" arrays' 'del d["scenarios"][0]["failures"]'; check "merge refuses a scenario without failures" $?
refused 'scenarios[0]."fingerprint": expected a string' 'del d["scenarios"][0]["fingerprint"]'; check "merge refuses a scenario without a fingerprint" $?
refused 'scenarios[0]."replay_suffix": expected a string' 'del d["scenarios"][0]["replay_suffix"]'; check "merge refuses a scenario without its replay command" $?
refused 'its buckets hold' 'd["scenarios"][0]["failed"] += 1'; check "merge refuses failures its buckets do not hold" $?
refused 'scenarios[0].buckets[0]: expected "seeds": an array of "count" seeds' 'd["scenarios"][0]["buckets"][0]["count"] += 1'
check "merge refuses a bucket whose count is not its seeds" $?
refused 'scenarios[0].buckets[0]: seed 0 is not one of shard 2/3' 'd["scenarios"][0]["buckets"][0]["seeds"][0] = 0'
check "merge refuses a seed of another shard" $?
refused 'seed 61 is not one of shard 2/3' 'd["scenarios"][0]["buckets"][0]["seeds"][0] = 61'; check "merge refuses a seed past the range" $?
refused 'expected "seeds": non-negative integers' 'd["scenarios"][0]["buckets"][0]["seeds"][0] = -1'; check "merge refuses a negative seed" $?
refused 'buckets[0]: expected a failing outcome' 'd["scenarios"][0]["buckets"][0]["outcome"] = "pass"'; check "merge refuses a bucket of passing runs" $?
refused 'buckets[0]."signature": expected a string' 'del d["scenarios"][0]["buckets"][0]["signature"]'; check "merge refuses a bucket without a signature" $?
refused 'failures[0]: expected a failing "outcome"' 'd["scenarios"][0]["failures"][0]["outcome"] = "nope"'; check "merge refuses a failure of no outcome" $?
refused 'failures[0]."trace_hash": expected 16 hex digits' 'd["scenarios"][0]["failures"][0]["trace_hash"] = "12"'; check "merge refuses a short trace hash" $?
refused 'is in no bucket of any file' 'd["scenarios"][0]["failures"][0]["seed"] = 1000'; check "merge refuses a failure no bucket holds" $?
refused 'is in two buckets' 'b = d["scenarios"][0]["buckets"]; s = b[1]["seeds"].pop(); b[0]["seeds"].append(s); b[0]["seeds"].append(s); b[0]["count"] += 2; b[1]["count"] -= 1; d["scenarios"][0]["failed"] += 1'
check "merge refuses a seed in two buckets" $?
refused 'scenarios[0]."runs": expected a non-negative integer' 'd["scenarios"][0]["runs"] = None'; check "merge refuses runs that are not a number" $?
refused 'scenarios[0]."digest": expected 16 hex digits' 'd["scenarios"][0]["digest"] = "zzzzzzzzzzzzzzzz"'; check "merge refuses a digest of 16 non-hex characters" $?
bad_shards=0
for sh in "/3" "x/3" "2/x" "0/3" "2/0" "123456789012345678901234/3" "4/3000000"; do
  refused '"shard": expected "I/N"' "d['shard'] = '$sh'" || bad_shards=1
done; check "merge refuses malformed shards" $bad_shards
refused 'buckets[0]."outcome": expected a string' 'del d["scenarios"][0]["buckets"][0]["outcome"]'; check "merge refuses a bucket without an outcome" $?
refused 'buckets[0]: expected "seeds": an array' 'd["scenarios"][0]["buckets"][0]["seeds"] = 3'; check "merge refuses seeds that are not an array" $?
refused 'expected "seeds": non-negative integers' 'd["scenarios"][0]["buckets"][0]["seeds"][0] = {}'; check "merge refuses a seed that is an object" $?
refused 'expected "seeds": non-negative integers' 'd["scenarios"][0]["buckets"][0]["seeds"][0] = "1x"'; check "merge refuses a seed of bad digits" $?
refused 'failures[0]."outcome": expected a string' 'del d["scenarios"][0]["failures"][0]["outcome"]'; check "merge refuses a failure without an outcome" $?
refused 'failures[0]."trace_hash": expected a string' 'del d["scenarios"][0]["failures"][0]["trace_hash"]'; check "merge refuses a failure without a trace hash" $?
refused 'failures[0]."steps": expected a non-negative integer' 'd["scenarios"][0]["failures"][0]["steps"] = 1.5'; check "merge refuses fractional steps" $?
refused 'failures[0]."message": expected a string' 'd["scenarios"][0]["failures"][0]["message"] = 7'; check "merge refuses a message that is not a string" $?
refused 'scenarios[0]."name": expected a string' 'del d["scenarios"][0]["name"]'; check "merge refuses a scenario without its program's name" $?
refused 'scenarios[0]: expected "buckets" and "failures" arrays' 'd["scenarios"][0]["buckets"] = {}'; check "merge refuses buckets that are not an array" $?
refused "(fingerprint 0000000000000000) in the other" 'd["scenarios"][0]["fingerprint"] = "0000000000000000"'; check "merge refuses a scenario file that changed (its fingerprint)" $?
refused '"command" is missing' 'd["command"] = 1'; check "merge refuses a command that is not a string" $?
refused '"format": expected 1' 'd["format"] = "1"'; check "merge refuses a format that is not a number" $?
refused '"scenarios": expected an array of 1 to 64' 'd["scenarios"] = {}'; check "merge refuses scenarios that are not an array" $?
refused '"scenarios": expected an array of 1 to 64' 'd["scenarios"] = d["scenarios"] * 65'; check "merge refuses more than 64 scenarios" $?
refused 'the seed_start is 0 in one and 3 in the other' 'd["seed_start"] = 3'; check "merge refuses another seed start" $?
refused 'the strategy is "portfolio" in one and "pos" in the other' 'd["strategy"] = "pos"'; check "merge refuses another strategy" $?
truncate -s 1100M "$T/huge.json"
status_is 2 "$A" merge "$T/huge.json" && grep -q "huge.json: 1153433600 bytes, more than a sweep's result" "$T/err"
check "merge refuses a file past 1 GiB without reading it" $?
rm -f "$T/huge.json"
status_is 2 "$A" merge "$T/s1.json" "$T/s2.json" "$T/s3.json" --junit "$T/no/dir/m.xml" &&
  grep -q "merge: --junit $T/no/dir/m.xml: cannot write" "$T/err"
check "merge's JUnit that cannot be written: exit 2" $?
for i in 1 2 3; do "$A" sweep selftest:counter --seeds 9 --jobs 1 --shard $i/3 --json >"$T/c$i.json" 2>/dev/null; done
status_is 0 "$A" merge "$T/c1.json" "$T/c2.json" "$T/c3.json" --json && grep -q '"result":"pass"' "$T/out" &&
  ! grep -q "buckets:" "$T/err"
check "merge of passing shards: exit 0, result pass, no buckets" $?
edit "$T/c2.json" "$T/h2.json" 'd["scenarios"][0]["harness_errors"] = 1; d["scenarios"][0]["seconds"] = 0'
status_is 3 "$A" merge "$T/c1.json" "$T/h2.json" "$T/c3.json" --json &&
  grep -q "merge: 1 seeds ended in a harness error" "$T/err" && grep -q '"result":"error"' "$T/out"
check "merge of a shard with a harness error: exit 3" $?
"$A" sweep selftest:counter --seeds 20 --jobs 1 --shard 20/20 --json >"$T/t20.json" 2>/dev/null
status_is 2 "$A" merge "$T/t20.json" && grep -q "19 of 20 shards missing (1, 2, 3, .*, 16 and 3 more of 20)" "$T/err"
check "merge names at most 16 missing shards" $?
edit "$T/s2.json" "$T/big.json" 'd["seeds"] = "18446744073709551615"; d["scenarios"][0]["failures"][0]["seed"] = "18446744073709551615"'
status_is 2 "$A" merge "$T/big.json" && grep -q "ran 20 of its" "$T/err"
check "merge reads a seed past INT64_MAX written as digits" $?

# A missing shard: the report covers the others, names it, and exits 2.
status_is 2 "$A" merge "$T/s3.json" "$T/s1.json" --json --junit "$T/miss.xml" &&
  grep -q "merge: 1 of 3 shards missing (2 of 3): the report covers the other 2; exit 2" "$T/err" &&
  "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["shards"] == {"total": 3, "merged": 2, "missing": [2]}, d["shards"]
assert d["runs"] == 40 and d["result"] == "error"
' "$T/out" && [ "$(grep -c '<testcase ' "$T/miss.xml")" -eq 40 ] && ! grep -q 'name="seed 1"' "$T/miss.xml"
check "merge with a shard missing: reports it, JUnit has the other shards' seeds, exit 2" $?

# The overflow bucket (past 256 signatures) merges as one.
for i in 1 2 3; do
  edit "$T/s$i.json" "$T/v$i.json" 'b = d["scenarios"][0]["buckets"][-1]; b["signature"] = "other: more than 256 distinct signatures, not told apart"; b["overflow"] = True; b["outcome"] = None'
done
status_is 1 "$A" merge "$T/v1.json" "$T/v2.json" "$T/v3.json" --json --junit "$T/v.xml" &&
  "$PY" -c '
import json, sys
b = json.load(open(sys.argv[1]))["scenarios"][0]["buckets"][-1]
assert b["overflow"] is True and b["outcome"] is None and b["signature"].startswith("other: more than 256")
' "$T/out" && grep -q '<failure type="other: more than 256 distinct signatures, not told apart"' "$T/v.xml"
check "merge keeps the overflow bucket (past 256 signatures) as one, last" $?

status_is 2 "$A" merge --json && grep -q "merge: expected RESULT.json files" "$T/err"
check "merge without files: exit 2" $?
status_is 0 "$A" help merge && grep -q "agentsim merge RESULT.json... \[--junit FILE\] \[--json\]" "$T/out"
check "help merge shows its synopsis" $?
status_is 0 "$A" help sweep && grep -q -- "--shard I/N|auto" "$T/out"
check "help sweep shows --shard auto" $?

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
