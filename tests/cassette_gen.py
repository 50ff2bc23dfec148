#!/usr/bin/env python3
"""cassette_gen.py -- record the bundled cassettes (fixtures/cassettes/) from the
loopback peer (tests/llm_peer.py), and write each exchange's `expect` from what
the peer knows it sent (its USAGE tables and its behaviours), never from what
agentsim's parsers read.

  python3 tests/cassette_gen.py BUILD_DIR [OUT_DIR]
  python3 tests/cassette_gen.py expect CASSETTE_DIR

The second form only writes `expect` into a cassette recorded elsewhere from
the peer (`agentsim serve --llm record:DIR,...`: tests/real_to_scenario_test.sh),
each exchange's from the behaviour its request's model named.

Two sets, for each provider (openai, ollama):

  KIND-BEHAVIOUR[-stream]   one exchange: the fixed request of
                            tests/cassette_fixed.h (cassette_tool record),
                            answered by the peer's model BEHAVIOUR: text,
                            tools, structured, the usage quirks, no usage,
                            429, a timeout, truncation, 500.
  KIND-cycle                the exchanges of a cycle of the incident app
                            (fixtures/scenarios/cassette_KIND.scn): recorded by
                            running that scenario with `llm record:` against
                            the peer's `structured` model, streaming; then the
                            first answer of call 1 is a 429, of call 2 a
                            timeout (the client's low-speed limit, 30 s), of
                            call 3 a truncation: each recorded from the peer's
                            429, slow and truncate models on the same request
                            (the model's name in the body rewritten, and the
                            key with it), spliced in as occurrence 1, the
                            recorded answer moved to occurrence 2.

A cassette made by hand gets its `expect` the same way: from what the server
is known to have sent, written by whoever wrote the response bytes.
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
import llm_peer  # noqa: E402  (the peer's own tables: what it sends)

ERRORS = {"429": "rate_limited", "slow": "timeout", "slow-head": "timeout",
          "truncate": "malformed_response", "500": "server_error", "400": "refusal",
          "notjson": "malformed_response", "no-done": "malformed_response"}

STANDALONE = [("text", False), ("text", True), ("tools", False), ("tools", True),
              ("structured", False), ("usage-null-choices", True),
              ("usage-empty-choices", True), ("usage-absent-choices", True),
              ("usage-on-last-choice", True), ("no-usage", True), ("no-usage", False),
              ("429", False), ("slow", True), ("truncate", True), ("truncate", False),
              ("500", False)]


def expect_for(kind, behaviour):
    if behaviour in ERRORS:
        return {"error": ERRORS[behaviour], "usage": None}
    if behaviour == "no-usage":
        return {"error": None, "usage": None}
    if kind == "openai":
        p, c, o, _ = llm_peer.USAGE.get(behaviour, llm_peer.USAGE["text"])
        return {"error": None, "usage": {"prompt": p, "cache_read": c, "cache_write": 0,
                                         "completion": o}}
    p, o = llm_peer.OLLAMA_USAGE.get(behaviour, llm_peer.OLLAMA_USAGE["text"])
    return {"error": None, "usage": {"prompt": p, "cache_read": 0, "cache_write": 0,
                                     "completion": o}}


def behaviour_of(x):
    """The peer's behaviour for an exchange: the request's model, as the peer
    reads it (llm_peer.py: "NAME" or "NAME@MS"), never the answer."""
    return json.loads(x["request"]["body"])["model"].partition("@")[0]


def add_expect(d):
    """Give every exchange of the cassette d (recorded from the loopback peer,
    by `agentsim serve --llm record:` or a scenario's `llm record:`) its
    `expect`, from the peer's tables for the behaviour its request asked for.
    Returns how many exchanges were written."""
    kind = load(os.path.join(d, "cassette.json"))["provider"]
    n = 0
    for f in exchanges(d):
        x = load(os.path.join(d, f))
        x["expect"] = expect_for(kind, behaviour_of(x))
        dump(os.path.join(d, f), x)
        n += 1
    return n


def exchanges(d):
    return sorted(f for f in os.listdir(d) if f.startswith("x-") and f.endswith(".json"))


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def key_of(tool, kind, path, body):
    out = subprocess.run([tool, "key", kind, path], input=body.encode(), check=True,
                         capture_output=True)
    return out.stdout.decode().strip()


def base_url(kind, port):
    return "http://127.0.0.1:%d%s" % (port, "/v1" if kind == "openai" else "")


def record_scenario(agentsim, kind, port, model, work):
    """Run the incident app's cycle against the peer's `model`; the cassette's dir."""
    d = os.path.join(work, "%s-%s" % (kind, model))
    scn = os.path.join(work, "%s-%s.scn" % (kind, model))
    with open(scn, "w", encoding="utf-8") as f:
        f.write(scenario_text("rec_" + kind, "record:%s,%s,%s,%s,stream" %
                              (os.path.basename(d), kind, base_url(kind, port), model),
                              os.path.join(ROOT, "fixtures/apps/incident")))
    return subprocess.Popen([agentsim, "run", scn, "--seed", "0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL), d


def scenario_text(name, llm, app):
    return ("scenario %s\n"
            "describe \"a cycle of the incident app through a cassette\"\n"
            "sessions 1\n"
            "app %s\n"
            "llm \"%s\"\n"
            "fields environment=staging\n"
            "limits time=1h\n"
            "actor agent\n"
            "    run s=0\n" % (name, app, llm))
# (The bundled cassette_KIND.scn run the same cycle as a budget `trigger`:
# the same requests, so the same cassette.)


def agent_of(x):
    body = json.loads(x["request"]["body"])
    first = body["messages"][0]["content"]
    for i, a in enumerate(("# Intake", "# Triage", "# Investigate")):
        if first.startswith(a):
            return i
    raise SystemExit("an exchange of no known agent: " + first[:40])


def splice(tool, kind, base_dir, alts, out):
    """base_dir's exchanges, each call's first answer replaced by an alternative's."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    shutil.copy(os.path.join(base_dir, "cassette.json"), out)
    meta = load(os.path.join(out, "cassette.json"))
    calls = {}
    for f in exchanges(base_dir):
        x = load(os.path.join(base_dir, f))
        calls[agent_of(x)] = x
    for i in sorted(calls):
        x = calls[i]
        chain = []
        if i < len(alts):
            behaviour, alt_dir = alts[i]
            first = [load(os.path.join(alt_dir, f)) for f in exchanges(alt_dir)]
            a = [e for e in first if agent_of(e) == 0][0]
            a["request"] = dict(x["request"])  # the same request, this answer
            a["expect"] = expect_for(kind, behaviour)
            chain.append(a)
        x["expect"] = expect_for(kind, meta["model"])
        chain.append(x)
        key = key_of(tool, kind, x["request"]["path"], x["request"]["body"])
        assert key == x["key"], (key, x["key"])
        for n, e in enumerate(chain, 1):
            e["key"] = key
            e["occurrence"] = n
            dump(os.path.join(out, "x-%s-%d.json" % (key, n)), e)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "expect":
        print("%s: %d exchanges given expect" % (sys.argv[2], add_expect(sys.argv[2])))
        return 0
    build = os.path.abspath(sys.argv[1])
    out = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.join(ROOT, "fixtures/cassettes")
    tool = os.path.join(build, "tests/cassette_tool")
    agentsim = os.path.join(build, "agentsim")
    work = tempfile.mkdtemp(prefix="cassette_gen.")
    peer = subprocess.Popen([sys.executable, os.path.join(HERE, "llm_peer.py"), "--log",
                             os.path.join(work, "peer.log"), "--max-seconds", "300"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(peer.stdout.readline())
        os.makedirs(out, exist_ok=True)
        # The cycles first: their timeouts take 30 s of real time, all at once.
        runs = {}
        for kind in ("openai", "ollama"):
            for model in ("structured", "429", "slow", "truncate"):
                runs[(kind, model)] = record_scenario(agentsim, kind, port, model, work)
        for (kind, behaviour, stream) in [(k, b, s) for k in ("openai", "ollama")
                                          for b, s in STANDALONE
                                          if k == "openai" or not b.startswith("usage-")]:
            name = "%s-%s%s" % (kind, behaviour, "-stream" if stream else "")
            d = os.path.join(out, name)
            if os.path.exists(d):
                shutil.rmtree(d)
            r = subprocess.run([tool, "record", d, kind, base_url(kind, port), behaviour,
                                "1" if stream else "0"], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit("%s: %s%s" % (name, r.stdout, r.stderr))
            (f,) = exchanges(d)
            x = load(os.path.join(d, f))
            x["expect"] = expect_for(kind, behaviour)
            dump(os.path.join(d, f), x)
            print("%-36s %s" % (name, r.stdout.strip()))
        for (kind, model), (p, _) in runs.items():
            p.wait(timeout=120)
        for kind in ("openai", "ollama"):
            dirs = {m: runs[(kind, m)][1] for m in ("structured", "429", "slow", "truncate")}
            splice(tool, kind, dirs["structured"],
                   [("429", dirs["429"]), ("slow", dirs["slow"]), ("truncate", dirs["truncate"])],
                   os.path.join(out, kind + "-cycle"))
            r = subprocess.run([tool, "check", os.path.join(out, kind + "-cycle")],
                               capture_output=True, text=True, check=True)
            print("%-36s %s" % (kind + "-cycle", r.stdout.strip()))
    finally:
        peer.kill()
        peer.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
