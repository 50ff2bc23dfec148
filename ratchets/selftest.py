#!/usr/bin/python3
"""selftest.py -- every ratchet fires on its planted violations and stays
quiet on correct code; the baseline history check catches loosening; run.py
never raises a ceiling.

usage: ratchets/selftest.py [CHECK...]
Each selftest/<check>/bad/ tree has an expect.txt of "path:line: substring"
lines: the check must report exactly those (one finding per line, each
containing its substring). The good/ tree must give no finding.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import run as runner  # noqa: E402
from ratchetlib import load_json  # noqa: E402

CFG = load_json(os.path.join(HERE, "config.json"))
failures = []


def fail(msg):
    failures.append(msg)
    print("not ok - " + msg)


def compile_db(tree, tmp):
    """A compile_commands.json for the planted C files, so clang-tidy sees them
    as the build would."""
    entries = []
    for dirpath, _, files in os.walk(tree):
        for f in files:
            if f.endswith(".c"):
                path = os.path.join(dirpath, f)
                entries.append({"directory": tmp, "file": path,
                                "command": f"clang -std=c11 -D_GNU_SOURCE -I{ROOT}/runtime/include "
                                           f"-c {path} -o /dev/null"})
    with open(os.path.join(tmp, "compile_commands.json"), "w") as fh:
        json.dump(entries, fh)
    return tmp


def check_tree(name, kind):
    tree = os.path.join(HERE, "selftest", name, kind)
    tmp = tempfile.mkdtemp()
    try:
        build = compile_db(tree, tmp) if name == "silent_failures" else None
        findings, stats = runner.run_check(name, tree, build, CFG)
    finally:
        shutil.rmtree(tmp)
    got = [str(f) for f in findings]
    if kind == "good":
        if got:
            fail(f"{name}: clean code gave {len(got)} findings: {got}")
        else:
            print(f"ok - {name}: quiet on clean code ({stats})")
        return
    with open(os.path.join(tree, "expect.txt")) as fh:
        expect = [l.rstrip("\n") for l in fh if l.strip()]
    unmatched = list(got)
    for e in expect:
        where, _, needle = e.partition(": ")
        hit = next((g for g in unmatched if g.startswith(where + ":") and needle in g), None)
        if hit is None:
            fail(f"{name}: planted violation not reported: {e}")
        else:
            unmatched.remove(hit)
    for g in unmatched:
        fail(f"{name}: unexpected finding on planted code: {g}")
    if len(expect) == len(got) and not unmatched:
        print(f"ok - {name}: fires on all {len(expect)} planted violations")


def git(repo, *args):
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True)


def check_history():
    tmp = tempfile.mkdtemp()
    try:
        git(tmp, "init", "-q")
        git(tmp, "config", "user.email", "t@example.invalid")
        git(tmp, "config", "user.name", "t")
        # In a subfolder, as the real baselines are: git paths are top-relative.
        os.makedirs(os.path.join(tmp, "sub"))
        path = os.path.join(tmp, "sub", "baseline.json")

        def commit(data, msg):
            with open(path, "w") as fh:
                json.dump(data, fh)
            git(tmp, "add", "sub/baseline.json")
            git(tmp, "commit", "-q", "-m", msg)

        def verdict():
            return subprocess.run([sys.executable, os.path.join(HERE, "history.py"), path],
                                  capture_output=True, text=True)

        commit({"ceilings": {"a": 3}, "floors": {"b": 50}}, "start")
        commit({"ceilings": {"a": 2}, "floors": {"b": 60}}, "tighten")
        r = verdict()
        if r.returncode != 0 or "3 versions" not in r.stdout:
            fail(f"history: tightening flagged, or the committed versions not all seen: {r.stdout}")
        for bad, what in (({"ceilings": {"a": 5}, "floors": {"b": 60}}, "a ceiling raised"),
                          ({"ceilings": {"a": 2}, "floors": {"b": 40}}, "a floor lowered"),
                          ({"ceilings": {}, "floors": {"b": 60}}, "a ceiling removed")):
            with open(path, "w") as fh:  # uncommitted: the working copy
                json.dump(bad, fh)
            r = verdict()
            if r.returncode != 1 or "loosened" not in r.stdout:
                fail(f"history: {what} in the working copy not caught: {r.stdout}")
        commit({"ceilings": {"a": 4}, "floors": {"b": 60}}, "loosen")
        commit({"ceilings": {"a": 1}, "floors": {"b": 60}}, "tighten again")
        r = verdict()
        if r.returncode != 1 or "loosened in" not in r.stdout:
            fail(f"history: a loosening buried in history not caught: {r.stdout}")
        if not any(f.startswith("history") for f in failures):
            print("ok - history: tightening passes; raised, lowered, removed and buried "
                  "loosenings fail")
    finally:
        shutil.rmtree(tmp)


def check_update_never_loosens():
    tmp = tempfile.mkdtemp()
    try:
        base = os.path.join(tmp, "baseline.json")
        tree = os.path.join(HERE, "selftest", "banned", "bad")
        cmd = [sys.executable, os.path.join(HERE, "run.py"), "banned", "--root", tree,
               "--baseline", base]
        with open(base, "w") as fh:
            json.dump({"ceilings": {"banned": 9}}, fh)
        r = subprocess.run(cmd + ["--update"], capture_output=True, text=True)
        after = load_json(base)["ceilings"]["banned"]
        if r.returncode != 0 or after != 5:
            fail(f"run.py --update: expected the ceiling 9 -> 5, got {after} ({r.stdout})")
        with open(base, "w") as fh:
            json.dump({"ceilings": {"banned": 3}}, fh)
        r = subprocess.run(cmd + ["--update"], capture_output=True, text=True)
        if r.returncode != 1 or load_json(base)["ceilings"]["banned"] != 3:
            fail(f"run.py: over the ceiling must fail and --update must not raise it: {r.stdout}")
        if not any(f.startswith("run.py") for f in failures):
            print("ok - run.py: --update lowers a ceiling and never raises one")
    finally:
        shutil.rmtree(tmp)


def main():
    names = sys.argv[1:] or sorted(runner.CHECKS)
    for name in names:
        check_tree(name, "bad")
        check_tree(name, "good")
    if not sys.argv[1:]:
        check_history()
        check_update_never_loosens()
    print(f"{len(names) * 2 + (0 if sys.argv[1:] else 2) - len(failures)} passed, "
          f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
