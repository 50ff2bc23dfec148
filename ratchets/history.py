#!/usr/bin/python3
"""history.py -- no commit ever loosened a baseline.

usage: ratchets/history.py FILE [--repo DIR]

FILE is a JSON baseline with "ceilings" (values that may only go down) and/or
"floors" (values that may only go up). Every committed version of FILE, oldest
first, and then the working copy, are compared with the version before: a
ceiling that rose, a floor that fell, or a key that disappeared is a
loosening and fails. Exit: 0 never loosened, 1 loosened, 77 not in a git
checkout (skipped).
"""
import json
import os
import subprocess
import sys


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)


def loosenings(old, new):
    out = []
    for kind, worse in (("ceilings", lambda o, n: n > o), ("floors", lambda o, n: n < o)):
        o, n = old.get(kind, {}), new.get(kind, {})
        for k, ov in sorted(o.items()):
            if k not in n:
                out.append(f"{kind}.{k} removed (was {ov})")
            elif worse(ov, n[k]):
                out.append(f"{kind}.{k}: {ov} -> {n[k]}")
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    repo = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--repo" else \
        os.path.dirname(os.path.abspath(path))
    top = git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        print(f"history: {repo} is not a git checkout: skipped")
        return 77
    root = top.stdout.strip()
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    # Paths below are relative to the top of the work tree: run git there.
    repo = root
    log = git(repo, "log", "--reverse", "--format=%H %s", "--", rel)
    versions = []
    for line in log.stdout.splitlines():
        sha, _, subject = line.partition(" ")
        blob = git(repo, "show", f"{sha}:{rel}")
        if blob.returncode != 0:
            versions.append((sha[:10] + " " + subject, None))  # deleted in that commit
            continue
        try:
            versions.append((sha[:10] + " " + subject, json.loads(blob.stdout)))
        except ValueError as e:
            print(f"history: {rel} at {sha[:10]} is not JSON: {e}")
            return 1
    try:
        with open(path) as f:
            versions.append(("working copy", json.load(f)))
    except (OSError, ValueError) as e:
        print(f"history: {path}: {e}")
        return 1
    bad = 0
    prev_name, prev = None, None
    for name, data in versions:
        if data is None:
            if prev is not None:
                print(f"history: {rel} deleted in {name}")
                bad += 1
            continue
        if prev is not None:
            for l in loosenings(prev, data):
                print(f"history: {rel} loosened in {name}: {l}")
                bad += 1
        prev_name, prev = name, data
    n = sum(1 for _, d in versions if d is not None)
    print(f"history: {rel}: {n} versions, {bad} loosenings")
    if n < 2 and os.environ.get("CI"):
        # A baseline with no committed history in CI means the check saw nothing.
        print(f"history: {rel} has no committed version: is it committed?")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
