#!/usr/bin/env python3
"""serve_test.py AGENTSIM SOURCE_DIR -- the HTTP API's contract against a running
`agentsim serve` on loopback (docs/serve.md), started and stopped here.

Every endpoint and every error status: 400 (malformed JSON naming line and
column, bad members, bad query), 404 (route, session), 405 (with Allow), 409
(already resolved, not pending, cycle in progress, not in error), 413 (body),
414 (URL), 431 (headers: libmicrohttpd's), 429 busy with Retry-After: 1 (a
session whose run holds its lock: the incident stub's answers take seconds), 429
budget_exhausted (the seed's end-to-end check with AGENT_DAILY_BUDGET=0.01:
`agentsim budget --url` and /metrics), SSE until the session is terminal, and
the SIGTERM drain with a running cycle (exit 0, no open reservation after, the
WAL checkpointed). Every request has a timeout, every wait a bounded count.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.server

AGENTSIM, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
APP = os.path.join(SRC, "fixtures/apps/incident")
SLOW = os.path.join(SRC, "fixtures/scripts/incident.stub")
PRICES = os.path.join(SRC, "fixtures/prices/default.json")
TMP = tempfile.mkdtemp(prefix="agentsim-serve-")
procs = []
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


class Server:
    def __init__(self, name, env=None, script=SLOW, extra=(), app=APP):
        self.db = os.path.join(TMP, name + ".db")
        self.log = open(os.path.join(TMP, name + ".log"), "w")
        e = dict(os.environ)
        e.pop("AGENT_DAILY_BUDGET", None)
        e.update(env or {})
        self.p = subprocess.Popen(
            [AGENTSIM, "serve", "--app", app, "--db", self.db,
             *(["--llm", "stub:" + script] if script else []),
             "--prices", PRICES, "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE, stderr=self.log, env=e, text=True)
        procs.append(self.p)
        line = self.p.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def req(self, method, path, body=None, headers=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        try:
            j = json.loads(text)
        except ValueError:
            j = None
        return r.status, dict(r.getheaders()), j, text

    def stop(self, timeout=40):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=timeout)
        self.log.close()
        return rc


def err_code(j):
    return j and j.get("error", {}).get("code")


def wait_status(s, sid, want, tries=200):
    for _ in range(tries):
        st, _, j, _ = s.req("GET", "/sessions/" + sid)
        if st == 200 and j["status"] in want:
            return j
        time.sleep(0.05)
    return None


def contract():
    s = Server("contract")
    st, _, j, _ = s.req("GET", "/healthz")
    check(st == 200 and j == {"status": "ok"}, "healthz")
    # routing and the envelope
    st, _, j, _ = s.req("GET", "/nope")
    check(st == 404 and err_code(j) == "not_found" and "details" in j["error"], "404 route")
    st, h, j, _ = s.req("DELETE", "/agent/trigger")
    check(st == 405 and h.get("Allow") == "POST" and err_code(j) == "method_not_allowed", "405")
    st, h, j, _ = s.req("POST", "/agent/budget")
    check(st == 405 and h.get("Allow") == "GET", "405 budget")
    # malformed JSON names line and column
    st, _, j, _ = s.req("POST", "/agent/trigger", raw='{"fields":\n  {"a": }}')
    check(st == 400 and j["error"]["details"].get("line") == 2
          and j["error"]["details"].get("column") == 9, "400 names the position: %r" % (j,))
    st, _, j, _ = s.req("POST", "/agent/trigger", raw="[1]")
    check(st == 400 and err_code(j) == "bad_request", "400 not an object")
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"bogus": 1})
    check(st == 400 and j["error"]["details"].get("member") == "bogus", "400 unknown member")
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"fields": {"environment": "mars"}})
    check(st == 400, "400 roster")
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"estimate": "-1"})
    check(st == 400, "400 estimate")
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"session_id": "a b"})
    check(st == 400, "400 session id")
    st, _, j, _ = s.req("GET", "/sessions/recent?limit=0")
    check(st == 400 and j["error"]["details"].get("parameter") == "limit", "400 query")
    # caps
    st, _, j, _ = s.req("POST", "/agent/trigger", raw="{" + " " * (70 * 1024) + "}")
    check(st == 413 and err_code(j) == "body_too_large", "413 body: %d" % st)
    st, _, j, _ = s.req("GET", "/sessions/" + "x" * 3000)
    check(st == 414, "414 url: %d" % st)
    st, _, _, _ = s.req("GET", "/healthz", headers={"X-Big": "y" * (20 * 1024)})
    check(st in (431, 413), "431 headers: %d" % st)
    # unknown sessions
    for m, p in [("GET", "/sessions/nosuch"), ("GET", "/sessions/nosuch/events"),
                 ("POST", "/sessions/nosuch/retry"), ("GET", "/sessions/nosuch/retry/preview"),
                 ("POST", "/sessions/nosuch/cancel")]:
        st, _, j, _ = s.req(m, p, body={} if m == "POST" else None)
        check(st == 404 and err_code(j) == "not_found", "404 %s %s: %d" % (m, p, st))
    st, _, j, _ = s.req("POST", "/sessions/nosuch/approvals/0", body={"decision": "approve"})
    check(st == 404, "404 approval")

    # a cycle in production: it runs for seconds, then waits for approval
    st, _, t, _ = s.req("POST", "/agent/trigger",
                        body={"session_id": "prod-1", "fields": {"environment": "production"}})
    check(st == 202 and t["triggered"] is True and t["session_id"] == "prod-1"
          and t["operation_id"] == "prod-1:cycle-1", "202 trigger: %r" % (t,))
    check(wait_status(s, "prod-1", ("in_progress",)) is not None, "the run began")
    st, h, j, _ = s.req("POST", "/sessions/prod-1/retry", body={})
    check(st == 429 and h.get("Retry-After") == "1" and err_code(j) == "busy", "429 busy retry")
    st, h, j, _ = s.req("POST", "/sessions/prod-1/approvals/0", body={"decision": "approve"})
    check(st == 429 and h.get("Retry-After") == "1", "429 busy approval")
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"session_id": "prod-1"})
    check(st == 409 and j["reason"] == "cycle_in_progress" and j["triggered"] is False, "409 cycle")
    st, _, j, _ = s.req("GET", "/agent/status")
    check(st == 200 and j["status"] == "running" and j["running_cycles"], "status running")
    sess = wait_status(s, "prod-1", ("awaiting_input",))
    check(sess is not None, "paused at the gate")
    st, _, j, _ = s.req("GET", "/agent/status")
    pend = [p for p in j["pending_approvals"] if p["session_id"] == "prod-1"]
    check(st == 200 and len(pend) == 1, "pending approval listed")
    call = pend[0]["call"] if pend else 0
    st, _, j, _ = s.req("POST", "/sessions/prod-1/approvals/%d" % call, body={"decision": "maybe"})
    check(st == 400, "400 decision")
    st, _, j, _ = s.req("POST", "/sessions/prod-1/approvals/x", body={"decision": "approve"})
    check(st == 400, "400 call")
    st, _, j, _ = s.req("POST", "/sessions/prod-1/approvals/0", body={"decision": "approve"})
    check(st == 409 and err_code(j) == "not_pending", "409 not pending: %d %r" % (st, j))
    st, _, j, _ = s.req("POST", "/sessions/prod-1/approvals/200", body={"decision": "approve"})
    check(st == 404, "404 call")
    # SSE from the watermark, while the approval resumes the run
    events = []

    def sse():
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
        c.request("GET", "/sessions/prod-1/events?since=0", headers={"Accept": "text/event-stream"})
        r = c.getresponse()
        events.append(r.getheader("Content-Type"))
        try:
            events.append(r.read().decode())
        except http.client.IncompleteRead as e:  # a stream cut short: say so, keep what came
            print("note: SSE stream cut short after %d bytes" % len(e.partial), file=sys.stderr)
            events.append(e.partial.decode())
        c.close()

    th = threading.Thread(target=sse)
    th.start()
    st, _, j, _ = s.req("POST", "/sessions/prod-1/approvals/%d" % call, body={"decision": "approve"})
    check(st == 200 and j["run"]["status"] == "resolved", "approved: %r" % (j,))
    th.join(25)
    check(len(events) == 2 and events[0] == "text/event-stream" and "event: status_changed" in events[1]
          and '"to":"resolved"' in events[1], "sse to the end")
    st, _, j, _ = s.req("POST", "/sessions/prod-1/approvals/%d" % call, body={"decision": "reject"})
    check(st == 409 and err_code(j) == "already_resolved", "409 already resolved")
    st, _, j, _ = s.req("GET", "/sessions/prod-1")
    check(st == 200 and j["status"] == "resolved" and j["history"] and j["agent_runs"]
          and j["fields"].get("environment") == "production", "session view")
    st, _, j, _ = s.req("GET", "/sessions/prod-1/events?since=3")
    check(st == 200 and j["events"][0]["seq"] == 4 and j["next"] >= 4, "events since")
    st, _, j, _ = s.req("GET", "/sessions/prod-1/events?since=x")
    check(st == 400, "400 since")
    st, _, j, _ = s.req("GET", "/sessions/prod-1/retry/preview")
    check(st == 200 and j["answer"] == "not_in_error", "preview")
    st, _, j, _ = s.req("POST", "/sessions/prod-1/retry", body={})
    check(st == 409 and err_code(j) == "not_in_error", "409 retry")
    st, _, j, _ = s.req("POST", "/sessions/prod-1/cancel", body={})
    check(st == 200 and j["cancel"] == "not_running", "cancel idle")
    st, _, j, _ = s.req("GET", "/sessions/recent?limit=5")
    check(st == 200 and j["sessions"][0]["id"] == "prod-1", "recent")
    st, h, _, text = s.req("GET", "/metrics")
    check(st == 200 and h.get("Content-Type", "").startswith("text/plain")
          and "agent_cycles_total" in text, "metrics")
    st, _, j, _ = s.req("GET", "/agent/budget")
    check(st == 200 and j["open_reservations"] == 0 and j["today_spend_micros"] > 0, "budget")
    # cancel a running cycle: its reservation released
    st, _, t, _ = s.req("POST", "/agent/trigger", body={"session_id": "c-1"})
    check(wait_status(s, "c-1", ("in_progress",)) is not None, "c-1 runs")
    st, _, j, _ = s.req("POST", "/sessions/c-1/cancel", body={})
    check(st == 200 and j["cancel"] == "stopping", "cancel running")
    j = wait_status(s, "c-1", ("error",))
    check(j is not None and j["error_kind"] == "cancelled", "cancelled")
    st, _, j, _ = s.req("GET", "/sessions/c-1/retry/preview")
    check(st == 200, "preview of an errored session")
    # the drain with a running cycle
    st, _, t, _ = s.req("POST", "/agent/trigger", body={"session_id": "drain-1"})
    check(wait_status(s, "drain-1", ("in_progress",)) is not None, "drain-1 runs")
    rc = s.stop()
    check(rc == 0, "drain exits 0: %d" % rc)
    out = subprocess.run([AGENTSIM, "budget", "--db", s.db, "--json"], capture_output=True,
                         text=True, timeout=30)
    b = json.loads(out.stdout.strip().splitlines()[-1])
    check(b["open_reservations"] == 0 and b["reserved_micros"] == 0, "no open reservation: %r" % b)
    wal = s.db + "-wal"
    check(not os.path.exists(wal) or os.path.getsize(wal) == 0, "WAL checkpointed")


def budget_seed():
    s = Server("seed", env={"AGENT_DAILY_BUDGET": "0.01"})
    st, _, j, _ = s.req("POST", "/agent/trigger", body={})
    check(st == 429 and j["triggered"] is False and j["reason"] == "budget_exhausted"
          and j["message"].startswith("Daily budget exhausted") and err_code(j) == "budget_exhausted",
          "budget_exhausted: %d %r" % (st, j))
    out = subprocess.run([AGENTSIM, "budget", "--url", s.url], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == 0 and "Daily Limit: $0.01" in out.stdout
          and "Today's Spend: $0.00" in out.stdout and "Remaining: $0.01" in out.stdout,
          "budget --url: %r" % out.stdout)
    db = subprocess.run([AGENTSIM, "budget", "--db", s.db, "--budget", "0.01"],
                        capture_output=True, text=True, timeout=30)
    check(db.stdout == out.stdout, "budget --url prints what --db prints")
    js = subprocess.run([AGENTSIM, "budget", "--url", s.url + "/", "--json"], capture_output=True,
                        text=True, timeout=30)
    check(js.returncode == 0 and json.loads(js.stdout)["daily_limit_micros"] == 10000, "--json")
    st, _, _, text = s.req("GET", "/metrics")
    check(st == 200 and "agent_budget_remaining_dollars" in text, "agent_ metrics")
    check(s.stop() == 0, "seed server exits 0")
    # budget --url failures: nobody listening; an answer that is not JSON
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = "http://127.0.0.1:%d" % sock.getsockname()[1]
    sock.close()
    out = subprocess.run([AGENTSIM, "budget", "--url", dead], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == 3 and dead in out.stderr, "budget --url dead: %r" % out.stderr)

    good = js.stdout.encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            # /agent/budget: not JSON; /big/...: 100 KiB; /ok/...: the server's own answer;
            # /err/...: HTTP 500; anything else: HTTP 500 too
            b = {"/agent/budget": b"not json", "/big/agent/budget": b"x" * 100000,
                 "/ok/agent/budget": good, "/array/agent/budget": b"[1]"}.get(self.path)
            if b is None and self.path.startswith("/bad-"):  # /bad-FIELD/...: FIELD spoiled
                j = json.loads(good)
                f = self.path.split("/")[1][4:]
                j[f] = "2026-1-1" if f == "date" else str(j[f])
                b = json.dumps(j).encode()
            b = b if b is not None else b"{}"
            self.send_response(500 if self.path.startswith("/err") or
                               not self.path.endswith("/agent/budget") else 200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def log_message(self, *a):
            pass

    hs = http.server.HTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=hs.serve_forever)
    th.start()
    u = "http://127.0.0.1:%d" % hs.server_address[1]
    out = subprocess.run([AGENTSIM, "budget", "--url", u], capture_output=True, text=True, timeout=30)
    check(out.returncode == 3 and "not the budget's JSON" in out.stderr, "budget --url non-JSON")
    for spoiled in ["array", "bad-date"] + ["bad-" + k for k in json.loads(good)
                                             if k.endswith(("_micros", "_affordable", "_events",
                                                            "_reservations"))]:
        out = subprocess.run([AGENTSIM, "budget", "--url", u + "/" + spoiled],
                             capture_output=True, text=True, timeout=30)
        check(out.returncode == 3 and "not the budget's JSON" in out.stderr,
              "budget --url, answer %s: %d %r" % (spoiled, out.returncode, out.stderr))
    out = subprocess.run([AGENTSIM, "budget", "--url", u + "/big"], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == 3 and "larger than 64 KiB" in out.stderr, "budget --url 100 KiB: %r"
          % out.stderr)
    out = subprocess.run([AGENTSIM, "budget", "--url", u + "/err"], capture_output=True,
                         text=True, timeout=30)
    check(out.returncode == 3 and "HTTP 500" in out.stderr, "budget --url 500: %r" % out.stderr)
    out = subprocess.run([AGENTSIM, "budget", "--url", u + "/ok", "--json"], capture_output=True,
                         text=True, timeout=30)
    check(out.returncode == 0 and json.loads(out.stdout)["daily_limit_micros"] == 10000,
          "budget --url from a copy of the answer: %r" % out.stdout)
    for extra in ([], ["--json"]):
        with open("/dev/full", "w") as full:
            out = subprocess.run([AGENTSIM, "budget", "--url", u + "/ok", *extra], stdout=full,
                                 stderr=subprocess.PIPE, text=True, timeout=30)
        check(out.returncode == 3 and "writing" in out.stderr,
              "budget --url %r to a full disk: %d %r" % (extra, out.returncode, out.stderr))
    hs.shutdown()
    th.join()


def usage():
    for args, want in [(["serve"], 2), (["serve", "--app", APP], 2),
                       (["serve", "--app", APP, "--db", os.path.join(TMP, "u.db")], 2),
                       (["serve", "--app", APP, "--db", os.path.join(TMP, "u.db"), "--llm",
                         "openai:http://127.0.0.1:1"], 2),
                       (["serve", "--app", APP, "--db", os.path.join(TMP, "u.db"), "--llm",
                         "bogus"], 2),
                       (["serve", "--app", APP, "--db", os.path.join(TMP, "u.db"), "--llm",
                         "stub:" + SLOW, "--listen", "nohost"], 2),
                       (["serve", "--app", APP, "--db", os.path.join(TMP, "u.db"), "--queue",
                         "0"], 2),
                       (["budget"], 2), (["budget", "--db", "x", "--url", "y"], 2)]:
        out = subprocess.run([AGENTSIM, *args], capture_output=True, text=True, timeout=30)
        check(out.returncode == want, "%r exits %d: %d %s" % (args, want, out.returncode, out.stderr))
    # A provider whose key variable is unset is refused naming the variable (not its value);
    # with the key set but no model anywhere, the missing model is named.
    env = dict(os.environ)
    env.pop("AS_TEST_KEY", None)
    spec = "openai:http://127.0.0.1:1,key_env=AS_TEST_KEY"
    argv = [AGENTSIM, "serve", "--app", APP, "--db", os.path.join(TMP, "u.db"),
            "--prices", PRICES, "--llm", spec]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    check(out.returncode == 2 and "AS_TEST_KEY is not set" in out.stderr,
          "unset key variable: %d %s" % (out.returncode, out.stderr))
    env["AS_TEST_KEY"] = "sk-contract-secret"
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    check(out.returncode == 2 and "no model" in out.stderr
          and "sk-contract-secret" not in out.stderr,
          "no model: %d %s" % (out.returncode, out.stderr))


def serve_paths():
    """serve's refusals and startup paths, each through the command line."""
    def run(args, env=None, want=2):
        e = dict(os.environ)
        e.pop("AGENT_DAILY_BUDGET", None)
        e.update(env or {})
        out = subprocess.run([AGENTSIM, "serve", *args], capture_output=True, text=True,
                             timeout=60, env=e)
        check(out.returncode == want, "serve %r exits %d: %d %s" % (args, want, out.returncode,
                                                                  out.stderr))
        return out.stderr

    db = os.path.join(TMP, "paths.db")
    base = ["--db", db, "--listen", "127.0.0.1:0", "--prices", PRICES]
    # an app that does not load: every diagnostic names file, line and column
    bad = os.path.join(TMP, "badapp")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "app.yaml"), "w") as f:
        f.write("name: [unclosed\n")
    err = run(["--app", bad, *base, "--llm", "stub:" + SLOW])
    check("serve: --app: " + bad in err and "app.yaml:" in err, "bad app named: %r" % err)
    err = run(["--app", os.path.join(TMP, "noapp"), *base, "--llm", "stub:" + SLOW])
    check("serve: --app: %s/app.yaml: cannot read" % os.path.join(TMP, "noapp") in err,
          "missing app named, without a position: %r" % err)
    err = run(["--app", APP, *base, "--llm", "stub:" + SLOW, "--budget", "x"])
    check("--budget 'x'" in err, "bad --budget: %r" % err)
    err = run(["--app", APP, "--db", db, "--llm", "stub:" + SLOW, "--prices",
               os.path.join(TMP, "np")])
    check("serve: --prices " + os.path.join(TMP, "np") in err and "the default" not in err,
          "missing prices: %r" % err)
    e = subprocess.run([AGENTSIM, "serve", "--app", APP, "--db", db, "--llm", "stub:" + SLOW],
                       capture_output=True, text=True, timeout=60, cwd=TMP)
    check(e.returncode == 2 and "the default, relative to the working directory" in e.stderr,
          "the default prices outside the source tree: %r" % e.stderr)
    err = run(["--app", APP, *base, "--llm", "cassette:" + os.path.join(TMP, "nocas")])
    check("nocas" in err, "missing cassette: %r" % err)
    err = run(["--app", APP, "--db", os.path.join(TMP, "nodir", "x.db"), "--llm", "stub:" + SLOW,
               "--prices", PRICES])
    check("serve: --db " + os.path.join(TMP, "nodir") in err, "db in a missing directory: %r" % err)

    # an app whose llm: section names the provider: --llm without a model takes the app's model
    # and key variable; a base_url past --llm's cap is refused; a model past it is not taken
    def app_with(url, model):
        d = os.path.join(TMP, "llmapp-%d-%d" % (len(url), len(model)))
        subprocess.run(["cp", "-r", APP, d], check=True)
        with open(os.path.join(d, "app.yaml"), "a") as f:
            f.write("\nllm:\n  provider: openai\n  base_url: %s\n  model: %s\n"
                    "  api_key_env: AS_PATHS_KEY\n" % (url, model))
        return d
    key = {"AS_PATHS_KEY": "sk-paths-secret"}
    err = run(["--app", app_with("http://127.0.0.1:1/" + "u" * 600, "structured"), *base],
              env=key)
    check("past --llm's caps" in err, "app base_url past the cap: %r" % err)
    err = run(["--app", app_with("http://127.0.0.1:1/v1", "m" * 200), *base, "--llm",
               "openai:http://127.0.0.1:1/v1"], env=key)
    check("no model" in err and "sk-paths-secret" not in err, "app model past the cap: %r" % err)
    s = Server("inherit", env=key, script=None, app=app_with("http://127.0.0.1:1/v1", "structured"),
               extra=("--llm", "openai:http://127.0.0.1:1/v1"))
    st, _, j, _ = s.req("GET", "/healthz")
    check(st == 200, "serve with the app's model and key")
    s.p.send_signal(signal.SIGINT)
    check(s.p.wait(timeout=40) == 0, "SIGINT drains, exit 0")
    s.log.close()
    with open(os.path.join(TMP, "inherit.log")) as f:
        log = f.read()
    check("SIGINT: draining" in log and "sk-paths-secret" not in log, "SIGINT logged: %r" % log)

    # a port already taken: exit 3, naming it
    s = Server("taken")
    err = run(["--app", APP, "--db", os.path.join(TMP, "taken2.db"), "--llm", "stub:" + SLOW,
               "--prices", PRICES, "--listen", "127.0.0.1:%d" % s.port], want=3)
    check("cannot start on 127.0.0.1:%d" % s.port in err, "port taken: %r" % err)
    # killed mid-cycle: the next start releases the reservation the crash left open
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"session_id": "crash-1"})
    check(st == 202 and wait_status(s, "crash-1", ("in_progress",)) is not None, "crash-1 runs")
    s.p.kill()
    s.p.wait(timeout=30)
    s.log.close()
    err = run(["--app", APP, "--db", s.db, "--llm", "stub:" + SLOW, "--listen", "nohost"])
    check("recovered" not in err, "usage errors come before recovery: %r" % err)
    s2 = Server("taken", extra=())
    check(s2.stop() == 0, "restarted server exits 0")
    with open(os.path.join(TMP, "taken.log")) as f:
        log = f.read()
    check("recovered 1 open reservations" in log, "recovery logged: %r" % log)


def queue_full():
    # --queue 1: one cycle runs (the slow stub), the next trigger finds the queue full:
    # 503 with Retry-After: 1, and it writes nothing (no session, no reservation).
    s = Server("queue", extra=("--queue", "1"))
    st, _, j, _ = s.req("POST", "/agent/trigger", body={"session_id": "q-1"})
    check(st == 202, "queue: the first trigger is accepted: %d %r" % (st, j))
    st, h, j, _ = s.req("POST", "/agent/trigger", body={"session_id": "q-2"})
    check(st == 503 and h.get("Retry-After") == "1", "queue full: 503 Retry-After: %d %r" % (st, h))
    st, _, j, _ = s.req("GET", "/agent/status")
    check(st == 200 and j["running"] + j["queued"] == 1, "queue: one cycle: %r" % (j,))
    st, _, j, _ = s.req("GET", "/sessions/q-2")
    check(st == 404, "queue full wrote no session: %d" % st)
    check(s.stop() == 0, "queue server exits 0")


try:
    usage()
    serve_paths()
    queue_full()
    budget_seed()
    contract()
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
if failures:
    print("%d failures; logs in %s" % (len(failures), TMP), file=sys.stderr)
    sys.exit(1)
print("serve contract: all checks passed")
