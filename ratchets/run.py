#!/usr/bin/python3
"""run.py -- run one ratchet (or all) against its baseline.

usage: ratchets/run.py CHECK|all [--root DIR] [--build-dir DIR]
                       [--baseline FILE] [--update]

A check passes while its finding count is at most its ceiling in the
baseline. Below the ceiling it says so; --update then lowers the ceiling
(it never raises one: loosening a baseline is refused, and history.py fails
any commit that did it). Exit: 0 pass, 1 over the baseline, 2 usage.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import check_banned  # noqa: E402
import check_concepts  # noqa: E402
import check_fixtures_lint  # noqa: E402
import check_independence  # noqa: E402
import check_nondeterminism  # noqa: E402
import check_silent  # noqa: E402
from ratchetlib import load_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = {
    "banned": check_banned,
    "nondeterminism": check_nondeterminism,
    "concepts": check_concepts,
    "silent_failures": check_silent,
    "fixtures_lint": check_fixtures_lint,
    "independence": check_independence,
}
MAX_SHOWN = 200


def run_check(name, root, build_dir, cfg):
    mod = CHECKS[name]
    if name == "silent_failures":
        return mod.run(root, cfg[name], build_dir)
    return mod.run(root, cfg[name])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("check", choices=sorted(CHECKS) + ["all"])
    ap.add_argument("--root", default=os.path.dirname(HERE))
    ap.add_argument("--build-dir")
    ap.add_argument("--config", default=os.path.join(HERE, "config.json"))
    ap.add_argument("--baseline", default=os.path.join(HERE, "baseline.json"))
    ap.add_argument("--update", action="store_true", help="lower ceilings to the current counts")
    a = ap.parse_args()
    cfg = load_json(a.config)
    base = load_json(a.baseline)
    ceilings = base.setdefault("ceilings", {})
    names = sorted(CHECKS) if a.check == "all" else [a.check]
    failed, changed = False, False
    for name in names:
        findings, stats = run_check(name, a.root, a.build_dir, cfg)
        counts = {name: len(findings)}
        if "ignores_per_kloc" in stats:
            counts[name + ".ignores_per_kloc"] = stats["ignores_per_kloc"]
        detail = ", ".join(f"{k}={v}" for k, v in stats.items())
        for key, value in counts.items():
            if key not in ceilings:
                print(f"ratchet {key}: no ceiling in {a.baseline}")
                failed = True
                continue
            ceil = ceilings[key]
            if value > ceil:
                failed = True
                print(f"ratchet {key}: FAIL: {value} > baseline {ceil} ({detail})")
                if key == name:
                    for f in findings[:MAX_SHOWN]:
                        print(f"  {f}")
                    if len(findings) > MAX_SHOWN:
                        print(f"  ... and {len(findings) - MAX_SHOWN} more")
                print(f"  why: {cfg[name]['why']}")
            elif value < ceil:
                print(f"ratchet {key}: ok: {value} < baseline {ceil}; "
                      f"tighten with: ratchets/run.py {name} --update ({detail})")
                if a.update:
                    # Densities are kept to 2 decimals, rounded up, so the new
                    # ceiling is never below what was measured.
                    ceilings[key] = value if isinstance(value, int) else \
                        math.ceil(value * 100) / 100
                    changed = True
            else:
                print(f"ratchet {key}: ok: {value} == baseline {ceil} ({detail})")
    if changed:
        tmp = a.baseline + ".tmp"
        with open(tmp, "w") as f:
            json.dump(base, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, a.baseline)
        print(f"ratchet: tightened {a.baseline}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
