#!/usr/bin/python3
"""summary.py -- per-folder coverage from an lcov tracefile, against floors.

usage: coverage/summary.py TRACEFILE BASELINE [--root DIR] [--update]

TRACEFILE is lcov's .info (with branch data); BASELINE is coverage/baseline.json:
    {"floors": {"runtime.lines": 90.0, "runtime.branches": 75.0, ...}}
A key is FOLDER.METRIC, FOLDER with '.' for '/' ("sim.cli.lines" is sim/cli/),
METRIC lines or branches. Prints a table of every folder (runtime/, sim/ and
their sub-folders that hold code), then checks each floor:

  below a floor         exit 1, naming the folder and the figure
  above by more than    says the floor can be raised, and how
  RAISE_HINT points
  --update              rewrites every floor up to the measured value rounded
                        down to 0.1; a floor never goes down

Exit: 0 every floor met, 1 some floor missed, 2 bad input.
"""
import argparse
import json
import os
import sys

TOP = ("runtime", "sim")
RAISE_HINT = 0.5


def parse(path, root):
    """{relative source path: [lines_found, lines_hit, branches_found, branches_hit]}"""
    files, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("SF:"):
                src = os.path.realpath(line[3:])
                rel = os.path.relpath(src, root)
                cur = files.setdefault(rel, [0, 0, 0, 0])
            elif cur is None:
                continue
            elif line.startswith("LF:"):
                cur[0] += int(line[3:])
            elif line.startswith("LH:"):
                cur[1] += int(line[3:])
            elif line.startswith("BRF:"):
                cur[2] += int(line[4:])
            elif line.startswith("BRH:"):
                cur[3] += int(line[4:])
            elif line == "end_of_record":
                cur = None
    return files


def folders(files):
    """{folder: [lf, lh, bf, bh]} for every top folder and each sub-folder."""
    out = {}
    for rel, counts in files.items():
        parts = rel.split(os.sep)
        if parts[0] not in TOP:
            continue
        names = [parts[0]]
        if len(parts) > 2 and parts[1] != "include":
            names.append(parts[0] + "/" + parts[1])
        for name in names:
            acc = out.setdefault(name, [0, 0, 0, 0])
            for i in range(4):
                acc[i] += counts[i]
    return out


def pct(hit, found):
    return 100.0 * hit / found if found else 100.0


def floor_tenth(hit, found):
    """The percentage rounded down to 0.1, exactly (integer arithmetic)."""
    return (hit * 1000 // found) / 10 if found else 100.0


def measured(stats, key):
    """(value, rounded-down value) of FOLDER.METRIC, or None if no such code."""
    folder, _, metric = key.rpartition(".")
    folder = folder.replace(".", "/")
    if folder not in stats or metric not in ("lines", "branches"):
        return None
    lf, lh, bf, bh = stats[folder]
    hit, found = (lh, lf) if metric == "lines" else (bh, bf)
    return pct(hit, found), floor_tenth(hit, found)


def main(argv):
    ap = argparse.ArgumentParser(description="per-folder coverage against floors")
    ap.add_argument("tracefile")
    ap.add_argument("baseline")
    ap.add_argument("--root", default=os.getcwd())
    ap.add_argument("--update", action="store_true")
    a = ap.parse_args(argv)
    info, base_path, update = a.tracefile, a.baseline, a.update
    root = os.path.realpath(a.root)
    try:
        stats = folders(parse(info, root))
        with open(base_path) as f:
            baseline = json.load(f)
        floors = baseline["floors"]
    except (OSError, ValueError, KeyError) as e:
        print(f"coverage: {e}", file=sys.stderr)
        return 2

    print(f"{'folder':<16} {'lines':>8} {'(hit/found)':>13} {'branches':>9} {'(hit/found)':>13}"
          f"  floors")
    for name in sorted(stats):
        lf, lh, bf, bh = stats[name]
        key = name.replace("/", ".")
        fl = floors.get(key + ".lines")
        fb = floors.get(key + ".branches")
        note = "" if fl is None and fb is None else \
            f"  {fl if fl is not None else '-'} / {fb if fb is not None else '-'}"
        print(f"{name + '/':<16} {pct(lh, lf):7.1f}% {f'({lh}/{lf})':>13} "
              f"{pct(bh, bf):8.1f}% {f'({bh}/{bf})':>13}{note}")

    below, raisable, changed = [], [], {}
    for key, floor in sorted(floors.items()):
        m = measured(stats, key)
        if m is None:
            below.append(f"{key}: floor {floor} but no such code was measured")
            continue
        value, down = m
        if value < floor:
            below.append(f"{key.rpartition('.')[0].replace('.', '/')}/ "
                         f"{key.rpartition('.')[2]} coverage {value:.2f}% is below its "
                         f"floor {floor}%")
        elif down > floor:
            if value - floor > RAISE_HINT:
                raisable.append(f"{key}: {floor} -> {down}")
            if update:
                changed[key] = down
    if update and changed:
        floors.update(changed)
        with open(base_path, "w") as f:
            json.dump(baseline, f, indent=2, sort_keys=True)
            f.write("\n")
        for key, v in sorted(changed.items()):
            print(f"coverage: raised floor {key} to {v}")
    elif raisable:
        print("coverage: these floors can be raised (run coverage/run.sh --update, "
              "then commit coverage/baseline.json):")
        for r in raisable:
            print(f"  {r}")
    if below:
        for b in below:
            print(f"coverage: FAIL: {b}")
        print("coverage: add tests for the uncovered code (see build-cov/coverage-html/"
              "index.html); floors never go down")
        return 1
    print(f"coverage: ok: {len(floors)} floors met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
