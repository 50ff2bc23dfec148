#!/usr/bin/python3
"""trace_json_check.py -- a structural check of a Chrome trace-event JSON file
(the JSON Object Format: {"traceEvents": [...], "displayTimeUnit": ...}), as
agentsim run/replay --trace-json writes it.

usage: trace_json_check.py FILE [--expect-fail] [--tasks N]
       trace_json_check.py --selftest FILE   (FILE: a good trace; every planted
                                              defect must be refused)

Checks: traceEvents is an array of objects; each ph is a known phase; the
fields each phase needs are there and typed (name, ph, pid, tid everywhere, ts
but on metadata, dur >= 0 on X, id on s/t/f, a scope g/p/t on i); B and E
balance per (pid, tid) and their ts never go back on a lane; async b/e balance
per (cat, id), in order; every flow start
has a finish with its id, not before it; every tid an event uses has a
thread_name; with --expect-fail a global instant named "FAIL: ..."; with
--tasks N, lanes 0..N-1 are all named. Exit 0 good, 1 a defect (each said),
2 bad usage or unreadable JSON.
"""
import copy
import json
import sys

PHASES = set("BEXiIstfMCbenNODPRc") | {"(", ")"}


def check(doc, expect_fail=False, tasks=None):
    errs = []
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return ["the top level is not an object with a traceEvents array"]
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        errs.append("displayTimeUnit is %r, not ms or ns" % doc.get("displayTimeUnit"))
    stacks, last_be, flows_s, flows_f, named, used = {}, {}, {}, {}, set(), set()
    asyncs = {}
    fail = 0
    for n, e in enumerate(doc["traceEvents"]):
        where = "event %d" % n
        if not isinstance(e, dict):
            errs.append(where + ": not an object")
            continue
        ph = e.get("ph")
        if ph not in PHASES:
            errs.append("%s: ph %r is not a trace-event phase" % (where, ph))
            continue
        for k, typ in (("name", str), ("pid", int), ("tid", int)):
            if not isinstance(e.get(k), typ) or isinstance(e.get(k), bool):
                errs.append("%s (%s): %s missing or not a %s" % (where, ph, k, typ.__name__))
        if ph != "M" and (not isinstance(e.get("ts"), (int, float)) or isinstance(e.get("ts"), bool)):
            errs.append("%s (%s): ts missing or not a number" % (where, ph))
            continue
        lane = (e.get("pid"), e.get("tid"))
        if ph == "M":
            if e.get("name") == "thread_name":
                if not isinstance(e.get("args"), dict) or not isinstance(e["args"].get("name"), str):
                    errs.append(where + ": thread_name without args.name")
                named.add(lane)
            continue
        used.add(lane)
        ts = e["ts"]
        if ph == "X" and (not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0):
            errs.append("%s (X): dur missing or negative" % where)
        if ph in "stfbe" and "id" not in e:
            errs.append("%s (%s): a flow or async event without id" % (where, ph))
        if ph in "be":
            key = (e.get("cat"), e.get("id"))
            a = asyncs.setdefault(key, [0, None])
            if a[1] is not None and ts < a[1]:
                errs.append("%s (%s): async %s goes back in time" % (where, ph, key))
            a[1] = ts
            a[0] += 1 if ph == "b" else -1
            if a[0] < 0:
                errs.append("%s (e): async %s ends, never began" % (where, key))
                a[0] = 0
        if ph in "iI" and e.get("s", "t") not in ("g", "p", "t"):
            errs.append("%s (i): scope %r is not g, p or t" % (where, e.get("s")))
        if ph in "BE":
            if lane in last_be and ts < last_be[lane]:
                errs.append("%s (%s): ts %s goes back on lane %s (last B/E at %s)" % (where, ph, ts, lane, last_be[lane]))
            last_be[lane] = ts
            st = stacks.setdefault(lane, [])
            if ph == "B":
                st.append(n)
            elif not st:
                errs.append("%s (E): no B open on lane %s" % (where, lane))
            else:
                st.pop()
        if ph == "s":
            if e.get("id") in flows_s:
                errs.append("%s (s): flow id %r started twice" % (where, e.get("id")))
            flows_s[e.get("id")] = ts
        if ph == "f":
            flows_f.setdefault(e.get("id"), []).append(ts)
        if ph == "i" and e.get("name", "").startswith("FAIL: ") and e.get("s") == "g":
            fail += 1
    for lane, st in stacks.items():
        if st:
            errs.append("lane %s: %d B without an E (the first: event %d)" % (lane, len(st), st[0]))
    for key, a in asyncs.items():
        if a[0]:
            errs.append("async %s: %d b without an e" % (key, a[0]))
    for fid, ts in flows_s.items():
        if fid not in flows_f:
            errs.append("flow %r: started, never finished" % fid)
        elif min(flows_f[fid]) < ts:
            errs.append("flow %r: finished before it started" % fid)
    for fid in flows_f:
        if fid not in flows_s:
            errs.append("flow %r: finished, never started" % fid)
    for lane in sorted(used - named):
        errs.append("lane %s: used, but no thread_name names it" % (lane,))
    if expect_fail and fail != 1:
        errs.append("%d global FAIL: instants, expected one" % fail)
    if tasks is not None:
        for t in range(tasks):
            if not any(l[1] == t for l in named):
                errs.append("task %d has no lane (thread_name)" % t)
    return errs


def selftest(doc):
    """Plant a defect of each kind in a good trace: the check must name it."""
    ev = doc["traceEvents"]
    def first(pred):
        return next(i for i, e in enumerate(ev) if pred(e))
    plants = {
        "bad phase": lambda d, i=first(lambda e: e["ph"] == "X"): d["traceEvents"][i].update(ph="Q"),
        "no dur": lambda d, i=first(lambda e: e["ph"] == "X"): d["traceEvents"][i].pop("dur"),
        "no ts": lambda d, i=first(lambda e: e["ph"] == "X"): d["traceEvents"][i].pop("ts"),
        "no name": lambda d, i=first(lambda e: e["ph"] == "i"): d["traceEvents"][i].pop("name"),
        "no flow id": lambda d, i=first(lambda e: e["ph"] == "s"): d["traceEvents"][i].pop("id"),
        "lost E": lambda d, i=first(lambda e: e["ph"] == "E"): d["traceEvents"].pop(i),
        "lost B": lambda d, i=first(lambda e: e["ph"] == "B"): d["traceEvents"].pop(i),
        "lost f": lambda d, i=first(lambda e: e["ph"] == "f"): d["traceEvents"].pop(i),
        "lost async e": lambda d, i=first(lambda e: e["ph"] == "e"): d["traceEvents"].pop(i),
        "E back in time": lambda d, i=first(lambda e: e["ph"] == "E"): d["traceEvents"][i].update(ts=-1),
        "unnamed lane": lambda d, i=first(lambda e: e["ph"] == "X"): d["traceEvents"][i].update(tid=999999),
        "no fail": lambda d, i=first(lambda e: e["name"].startswith("FAIL: ")): d["traceEvents"].pop(i),
        "not an object": lambda d: d.pop("traceEvents"),
    }
    bad = 0
    if check(doc, expect_fail=True):
        print("selftest: the good trace is refused:", check(doc, expect_fail=True)[:3])
        return 1
    for what, plant in plants.items():
        d = copy.deepcopy(doc)
        plant(d)
        if not check(d, expect_fail=True):
            print("selftest: a trace with '%s' passes" % what)
            bad = 1
    print("selftest: %d planted defects, %s" % (len(plants), "one passed" if bad else "every one refused"))
    return bad


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    try:
        if args[0] == "--selftest":
            return selftest(json.load(open(args[1])))
        path, expect_fail, tasks = args[0], "--expect-fail" in args, None
        if "--tasks" in args:
            tasks = int(args[args.index("--tasks") + 1])
        doc = json.load(open(path))
    except (OSError, ValueError, IndexError) as e:
        print("trace_json_check: %s" % e, file=sys.stderr)
        return 2
    errs = check(doc, expect_fail, tasks)
    for e in errs[:50]:
        print("%s: %s" % (path, e))
    if errs:
        return 1
    print("%s: ok: %d events, %d lanes" % (path, len(doc["traceEvents"]),
          len({(e.get("pid"), e.get("tid")) for e in doc["traceEvents"]})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
