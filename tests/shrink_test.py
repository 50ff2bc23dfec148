#!/usr/bin/env python3
"""shrink_test.py AGENTSIM SHRINK_VERIFY SRCDIR full|quick|bench

Every mutant's first portfolio kill (`agentsim mutants --json`; quick: a
fixed few), shrunk with `agentsim shrink --emit-scenario`:
  - the failure is kept: exit 1, the same check as the kill's;
  - nothing grows: decisions, preemptions, faults, wakeups, ops, actors and
    sessions after <= before;
  - the emitted scenario replays with the printed schedule to that check;
  - every remaining decision, fault and wakeup is needed, checked by
    shrink_verify with the sim's lenient replay, not the shrinker -- unless
    the report says the budget ran out (then it must say NOT minimal);
and the command's edges: a passing seed, a self-test with --emit-scenario,
a budget of 3 runs, --schedule @FILE, a shrink of the schedule alone
(replayed on the scenario as given), the errors' exit statuses.
"""
import json
import os
import subprocess
import sys
import tempfile

A, VERIFY, SRC, SCALE = sys.argv[1:5]
os.chdir(SRC)
failures = []
T = tempfile.mkdtemp(prefix="shrink_test.")


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(*args, timeout=600):
    return subprocess.run([A, *args], capture_output=True, text=True, timeout=timeout)


def last_json(out):
    lines = [l for l in out.strip().splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


# The kills to shrink.
QUICK = [
    ("lock_noop", "fixtures/scenarios/code_review.scn", 0, "lock-exclusive"),
    ("fail_clobbers_terminal", "fixtures/scenarios/gc_vs_errored.scn", 0, "terminal-left"),
    ("finalize_stale_escapes", "fixtures/scenarios/crash_truncate.scn", 2, "stale-escaped"),
    ("budget_check_then_record", "fixtures/scenarios/budget_cached.scn", 0, "trigger-answer"),
]
if SCALE in ("full", "bench"):
    r = run("mutants", "--seeds", "10", "--json", timeout=1500)
    j = last_json(r.stdout)
    check(j is not None and r.returncode == 0, "mutants --seeds 10 kills every mutant")
    kills = []
    for m in (j or {}).get("mutants", []):
        p = m.get("portfolio") or {}
        if p.get("seed") is not None:
            kills.append((m["mutant"], p["scenario"], p["seed"], p["check"]))
    check(len(kills) == len((j or {}).get("mutants", [1])), "every mutant has a first kill")
else:
    kills = QUICK

rows = []
for mutant, scn, seed, chk in kills:
    emit = os.path.join(T, mutant + ".scn")
    r = run("shrink", scn, "--seed", str(seed), "--strategy", "portfolio", "--mutant", mutant,
            "--json", "--emit-scenario", emit)
    j = last_json(r.stdout)
    if r.returncode != 1 or j is None:
        check(False, f"{mutant}: shrink exits 1 with JSON (got {r.returncode}: {r.stderr[-400:]})")
        continue
    check(j["check"] == chk, f"{mutant}: the failure kept ({j['check']} == {chk})")
    b, a = j["before"], j["after"]
    grown = [k for k in ("decisions", "preemptions", "faults", "wakeups", "ops", "actors",
                         "sessions") if a[k] > b[k]]
    check(not grown, f"{mutant}: nothing grew {grown}")
    rr = run("replay", emit, "--schedule", j["schedule"], "--mutant", mutant)
    check(rr.returncode == 1 and (chk + ":") in rr.stdout or
          (rr.returncode == 1 and chk in rr.stdout),
          f"{mutant}: the emitted scenario replays to {chk}")
    if j["minimal"]:
        v = subprocess.run([VERIFY, emit, j["schedule"], mutant, chk], capture_output=True,
                           text=True, timeout=600)
        check(v.returncode == 0, f"{mutant}: every remaining piece is needed "
                                 f"({v.stdout.splitlines()[0] if v.stdout else v.stderr[-300:]})")
        if v.returncode != 0:
            print(v.stdout[-2000:])
    else:
        check(j["exhausted"] and "NOT minimal" in r.stderr, f"{mutant}: not minimal only when the "
                                                          "budget ran out, and said so")
    rows.append((mutant, b, a, j["runs"], j["seconds"]))

print("\n%-36s %12s %12s %10s %10s %6s %7s" % ("mutant", "decisions", "preemptions", "faults",
                                                 "ops", "runs", "seconds"))
for mutant, b, a, runs, secs in rows:
    print("%-36s %5d -> %-4d %5d -> %-4d %4d -> %-3d %4d -> %-3d %6d %7.2f" % (
        mutant, b["decisions"], a["decisions"], b["preemptions"], a["preemptions"],
        b["faults"] + b["wakeups"], a["faults"] + a["wakeups"], b["ops"], a["ops"], runs, secs))

if SCALE == "bench":
    pre = sorted(a["preemptions"] for _, b, a, _, _ in rows)
    med = pre[len(pre) // 2] if pre else 0
    secs = sorted(x for *_, x in rows)
    print("\n%d mutants shrunk; remaining preemptions: median %d, max %d (goal: median <= 5); "
          "shrink wall time: median %.2f s, max %.2f s, total %.1f s" % (
              len(rows), med, pre[-1] if pre else 0, secs[len(secs) // 2] if secs else 0,
              secs[-1] if secs else 0, sum(secs)))
    check(med <= 5, "the median of remaining preemptions is at most 5")
    print("%d failed" % len(failures))
    sys.exit(1 if failures else 0)

# The schedule alone, replayed on the scenario as given.
r = run("shrink", "fixtures/scenarios/code_review.scn", "--seed", "0", "--mutant", "lock_noop",
        "--json")
j = last_json(r.stdout)
check(r.returncode == 1 and j and j["schedule_for"] == "fixtures/scenarios/code_review.scn" and
      j["before"]["ops"] == j["after"]["ops"], "without --emit-scenario only the schedule shrinks")
if j:
    rr = run("replay", "fixtures/scenarios/code_review.scn", "--schedule", j["schedule"],
             "--mutant", "lock_noop")
    check(rr.returncode == 1 and "lock-exclusive" in rr.stdout, "... and replays on the scenario")
    sf = os.path.join(T, "sched.txt")
    with open(sf, "w") as f:
        f.write("schedule: " + j["schedule"] + "\n")
    r2 = run("shrink", "fixtures/scenarios/code_review.scn", "--schedule", "@" + sf, "--mutant",
             "lock_noop")
    check(r2.returncode == 1 and "minimal:" in r2.stdout and "the interleaving:" in r2.stdout,
          "--schedule @FILE shrinks (the table printed)")
    check("-> agent." in r2.stdout and "FAILS HERE" in r2.stdout, "the table shows switches and "
                                                                  "the failing step")

# Faults shrink (the schedule alone: the scenario as given).
r = run("shrink", "fixtures/scenarios/crash_truncate.scn", "--seed", "2", "--strategy", "portfolio",
        "--mutant", "finalize_stale_escapes", "--json")
j = last_json(r.stdout)
check(r.returncode == 1 and j and j["before"]["faults"] > 0 and
      j["after"]["faults"] < j["before"]["faults"] and j["check"] == "stale-escaped",
      "crash_truncate: injected faults removed, the failure kept")

# A generated actor (draws) and its sessions shrink; the scenario is written
# into the working directory when FILE has no directory part.
r = subprocess.run([A, "shrink", os.path.join(SRC, "fixtures/scenarios/swarm_core.scn"), "--seed",
                    "1", "--mutant", "finalize_coerce_resolved", "--emit-scenario", "sw.scn",
                    "--json"], capture_output=True, text=True, cwd=T, timeout=600)
j = last_json(r.stdout)
check(r.returncode == 1 and j and j["after"]["ops"] < j["before"]["ops"] and
      j["after"]["sessions"] < j["before"]["sessions"] and os.path.exists(os.path.join(T, "sw.scn")),
      "swarm_core: draws, actors and sessions shrink; sw.scn written in the working directory")
if j:
    with open(os.path.join(T, "sw.scn")) as f:
        text = f.read()
    check("# Replay: " in text and "draws=" in text, "the emitted file says how to replay it")
    rr = subprocess.run([A, "replay", "sw.scn", "--schedule", j["schedule"], "--mutant",
                         "finalize_coerce_resolved"], capture_output=True, text=True, cwd=T)
    check(rr.returncode == 1 and "finalize-inference" in rr.stdout, "... and it replays from there")

# Emitted at the root of the file system (a directory of "/", paths rebased from there).
root = "/agentsim-shrink-test-%d.scn" % os.getpid()
r = run("shrink", "fixtures/scenarios/code_review.scn", "--seed", "0", "--mutant", "lock_noop",
        "--emit-scenario", root, "--json")
j = last_json(r.stdout)
ok = r.returncode == 1 and j is not None and os.path.exists(root)
if ok:
    rr = run("replay", root, "--schedule", j["schedule"], "--mutant", "lock_noop")
    ok = rr.returncode == 1 and "lock-exclusive" in rr.stdout
check(ok, "an emit at / rebases the app's paths and replays")
if os.path.exists(root):
    os.unlink(root)

# The emitted file cannot be written: exit 2, the file named, nothing left.
r = run("shrink", "fixtures/scenarios/finalize_vs_escalate.scn", "--seed", "1", "--mutant",
        "finalize_coerce_resolved", "--emit-scenario", "/proc/agentsim-shrink.scn")
check(r.returncode == 2 and "/proc/agentsim-shrink.scn" in r.stderr and
      not os.path.exists("/proc/agentsim-shrink.scn"), "an --emit-scenario that cannot be written: 2")

# A schedule of a run that passes: nothing to shrink.
r = run("run", "selftest:counter", "--seed", "0")
sched = [l.split(" ", 1)[1] for l in r.stdout.splitlines() if l.startswith("schedule: ")]
r = run("shrink", "selftest:counter", "--schedule", sched[0] if sched else "v3:")
check(r.returncode == 2 and "passes: nothing to shrink" in r.stderr, "a passing schedule: 2")
r = run("shrink", "fixtures/scenarios/no-such.scn", "--seed", "0")
check(r.returncode == 2 and "no-such.scn" in r.stderr, "an unknown scenario: 2")
r = run("shrink", "fixtures/scenarios/code_review.scn", "--seed", "0", "--mutant", "no_such")
check(r.returncode == 2 and "no such mutant" in r.stderr, "an unknown mutant: 2")
r = run("shrink", "selftest:abba", "--schedule", "@" + os.path.join(T, "missing.txt"))
check(r.returncode == 2 and "missing.txt" in r.stderr, "--schedule @FILE missing: 2")

# Self-tests: a spurious wakeup and a waiter choice are pieces too.
r = run("shrink", "selftest:cond_if", "--seed", "0", "--spurious", "100000", "--json")
j = last_json(r.stdout)
check(r.returncode == 1 and j and j["after"]["wakeups"] == 1 and j["minimal"],
      "selftest:cond_if keeps its one spurious wakeup")
if j:
    v = subprocess.run([VERIFY, "selftest:cond_if", j["schedule"], "-", j["check"]],
                       capture_output=True, text=True)
    check(v.returncode == 0 and "wakeup 1: needed" in v.stdout or "wakeup" in v.stdout,
          "shrink_verify: the wakeup is needed")
r = run("shrink", "selftest:abba", "--seed", "1", "--json")
j = last_json(r.stdout)
check(r.returncode in (1, 2), "selftest:abba seed 1 shrinks or passes")

# --verbose: the table has every event; a schedule's shrink has no seed in its JSON.
r = run("shrink", "selftest:abba", "--seed", "1", "--verbose", "--json")
j = last_json(r.stdout)
check(r.returncode == 1 and j and "seed" in j and
      "events shown;" in r.stderr, "--verbose shows every event")
if j:
    r2 = run("shrink", "selftest:abba", "--schedule", j["schedule"], "--json")
    j2 = last_json(r2.stdout)
    check(r2.returncode == 1 and j2 and "seed" not in j2 and j2["after"]["decisions"] ==
          j["after"]["decisions"], "a shrunk schedule shrinks no further, and has no seed")
r = run("shrink", "fixtures/scenarios/stale_storm.scn", "--seed", "3", "--mutant",
        "save_no_version_check", "--verbose")
check(r.returncode == 1 and "FAILS HERE" in r.stdout and "events shown;" in r.stdout,
      "stale_storm: its table with every event")

# A budget of 3 runs: the report says it ran out.
r = run("shrink", "fixtures/scenarios/gc_vs_errored.scn", "--seed", "0", "--strategy",
        "portfolio", "--mutant", "fail_clobbers_terminal", "--attempts", "3", "--json")
j = last_json(r.stdout)
check(r.returncode == 1 and j and j["exhausted"] and not j["minimal"] and j["runs"] <= 3 and
      "NOT minimal" in r.stderr, "--attempts 3: the budget ran out and the report says so")

# Edges.
r = run("shrink", "selftest:counter", "--seed", "0")
check(r.returncode == 2 and "passes: nothing to shrink" in r.stderr, "a passing seed: exit 2")
r = run("shrink", "selftest:abba", "--seed", "0", "--emit-scenario", os.path.join(T, "x.scn"))
check(r.returncode == 2 and "needs a scenario" in r.stderr, "--emit-scenario on a self-test: 2")
r = run("shrink", "selftest:abba", "--seed", "0", "--schedule", "v3:x")
check(r.returncode == 2 and "exactly one of" in r.stderr, "--seed and --schedule: 2")
r = run("shrink", "selftest:abba", "--schedule", "v3:nonsense")
check(r.returncode == 2 and "schedule" in r.stderr, "a bad schedule: 2")
r = run("shrink", "fixtures/scenarios/code_review.scn", "--seed", "0", "--mutant", "lock_noop",
        "--emit-scenario", "/nonexistent-dir/x.scn")
check(r.returncode == 2 and "/nonexistent-dir" in r.stderr, "an unwritable --emit-scenario: 2, named")
r = run("shrink", "fixtures/scenarios/code_review.scn", "--seed", "0", "--attempts", "0")
check(r.returncode == 2, "--attempts 0: 2")

print("%d failed" % len(failures))
sys.exit(1 if failures else 0)
