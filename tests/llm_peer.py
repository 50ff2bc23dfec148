#!/usr/bin/env python3
"""llm_peer.py -- a loopback LLM peer speaking the real wire formats.

A real HTTP/1.1 server on 127.0.0.1 (standard library only) for the
providers' tests and for recording the bundled cassettes:

  POST /v1/chat/completions   OpenAI-compatible chat completions (base URL
                              http://127.0.0.1:PORT/v1); "stream": true
                              answers Server-Sent Events ending in
                              "data: [DONE]"
  POST /api/chat              Ollama's chat; "stream" true (Ollama's
                              default when absent) answers NDJSON ending in
                              an object with "done": true
  ANY  /raw/MODE?...          transport behaviours for the HTTP client's
                              own tests (see RAW below)
  ANY  /quit                  answer 200, then stop

The model name in the request body chooses the behaviour (BEHAVIOURS
below); a model "NAME@MS" also waits MS milliseconds before answering.
Usage numbers are distinct per behaviour and per format, so a test (or a
cassette) shows which answer it parsed.

Every request is logged as one JSON line to --log: method, path, headers
(Authorization left out: only whether it matched is logged), body. With
--key K the Authorization header must be "Bearer K" (401 otherwise); with
no --key it must be absent. The server stops after --max-seconds or
--max-requests, or on /quit. The port is the first line on stdout. A POST
to an API path without "Content-Type: application/json" answers 415.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# behaviour -> usage: (prompt_tokens incl. cached, cached_tokens,
#                      completion_tokens incl. reasoning, reasoning_tokens)
USAGE = {
    "text": (1234, 230, 567, 89),
    "tools": (2345, 0, 678, 0),
    "tools-one": (2346, 0, 679, 0),
    "structured": (3456, 456, 789, 12),
    "usage-null-choices": (4567, 67, 890, 0),
    "usage-empty-choices": (4568, 68, 891, 0),
    "usage-absent-choices": (4569, 69, 892, 0),
    "usage-on-last-choice": (5678, 78, 901, 34),
    "length": (6789, 0, 1012, 0),
    "filter": (6790, 0, 13, 0),
    "big": (7890, 0, 2345, 0),
    "echo": (8901, 0, 23, 0),
}
# Ollama reports prompt_eval_count and eval_count: distinct again.
OLLAMA_USAGE = {k: (v[0] + 10000, v[2] + 1000) for k, v in USAGE.items()}

TEXT = "Hello from the loopback peer."
ENVELOPE = {"content": "Structured answer from the peer.", "confidence": 0.87,
            "rationale": "the peer always answers this"}
TOOL_CALLS = [
    ("call_peer_1", "obs_get_logs", '{"service": "api", "minutes": 15}'),
    ("call_peer_2", "core_note", '{"text": "split \\"args\\" {across} chunks"}'),
]

LOG_LOCK = threading.Lock()


def split_in(s, parts):
    """s cut into `parts` pieces (some possibly one byte), joined back exactly."""
    if len(s) < parts:
        return [s]
    step = max(1, len(s) // parts)
    out = [s[i:i + step] for i in range(0, len(s), step)]
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-peer/1"

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    # --- plumbing ---------------------------------------------------------
    def body_bytes(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def log_request_line(self, body, auth_ok):
        hdrs = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        rec = {"method": self.command, "path": self.path, "headers": hdrs,
               "auth_ok": auth_ok, "body": body.decode("utf-8", "replace")}
        with LOG_LOCK:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")

    def auth_ok(self):
        got = self.headers.get("Authorization")
        want = None if self.server.key is None else "Bearer " + self.server.key
        return got == want

    def send_whole(self, status, body, ctype="application/json", extra=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_chunked(self, status=200, ctype="text/event-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data, gap=0.0):
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        if gap:
            time.sleep(gap)

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def hang(self, seconds):
        """Send nothing more until the client goes or seconds pass."""
        self.connection.settimeout(0.1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                if self.connection.recv(1) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        self.close_connection = True

    def cut(self):
        """Close the connection now, mid-answer."""
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    # --- dispatch ---------------------------------------------------------
    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def handle_any(self):
        body = self.body_bytes()
        ok = self.auth_ok()
        self.log_request_line(body, ok)
        self.server.count += 1
        path = urlsplit(self.path).path
        if path == "/quit":
            self.send_whole(200, b'{"bye": true}')
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        if path.startswith("/raw/"):
            return self.raw(path[5:], parse_qs(urlsplit(self.path).query), body)
        if not ok:
            return self.send_whole(401, json.dumps(
                {"error": {"message": "the peer did not get the expected key",
                           "type": "invalid_request_error"}}))
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self.send_whole(415, json.dumps(
                {"error": {"message": "the body is not declared application/json"}}))
        try:
            req = json.loads(body)
            model = req["model"]
        except (ValueError, KeyError, TypeError):
            return self.send_whole(400, json.dumps({"error": {"message": "no model"}}))
        if path == "/v1/chat/completions":
            return self.openai(req, model)
        if path == "/api/chat":
            return self.ollama(req, model)
        self.send_whole(404, json.dumps({"error": {"message": "no such path"}}))

    # --- behaviours common to both formats ----------------------------------
    def common_error(self, behaviour, ollama):
        """Answers that are the same shape whatever the stream setting; True if sent."""
        def err(msg):
            return json.dumps({"error": msg} if ollama else
                              {"error": {"message": msg, "type": "peer_error"}})
        if behaviour == "429":
            self.send_whole(429, err("rate limited by the peer"), extra=[("Retry-After", "7")])
        elif behaviour == "429-date":
            when = formatdate(time.time() + 120, usegmt=True)
            self.send_whole(429, err("rate limited until a date"), extra=[("Retry-After", when)])
        elif behaviour == "429-lower":  # header names are case-insensitive (HTTP/2 lowercases)
            self.send_whole(429, err("rate limited, lower case"), extra=[("retry-after", "3")])
        elif behaviour == "429-cut":  # the head whole, the body cut: still a 429
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.send_header("Retry-After", "5")
            self.end_headers()
            self.wfile.write(b'{"error": {"mess')
            self.cut()
        elif behaviour == "500-big":  # an error body past the 4 KiB the client keeps
            self.send_whole(500, err("the peer failed at length " + "x" * 10000))
        elif behaviour == "429-bare":
            self.send_whole(429, b"", ctype="text/plain")
        elif behaviour in ("500", "502", "503"):
            self.send_whole(int(behaviour), err("the peer failed (" + behaviour + ")"))
        elif behaviour == "400":
            self.send_whole(400, err("the peer refuses this request"))
        elif behaviour == "408":
            self.send_whole(408, err("the peer timed the request out"))
        elif behaviour == "notjson":
            self.send_whole(200, b"<html>this is not json</html>", ctype="text/html")
        elif behaviour == "slow":
            self.hang(30)
        elif behaviour == "slow-head":
            self.start_chunked(ctype="application/json")
            self.hang(30)
        elif behaviour == "bigheader":
            self.send_whole(200, b"{}", extra=[("X-Big", "v" * 2000)])
        elif behaviour == "garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.0\r\nnot http\r\n\r\n")
            self.cut()
        elif behaviour == "redirect":
            self.send_whole(302, b"", ctype="text/plain", extra=[("Location", "/elsewhere")])
        else:
            return False
        return True

    # --- OpenAI -----------------------------------------------------------
    @staticmethod
    def oa_usage(behaviour):
        p, c, o, r = USAGE.get(behaviour, USAGE["text"])
        return {"prompt_tokens": p, "completion_tokens": o, "total_tokens": p + o,
                "prompt_tokens_details": {"cached_tokens": c},
                "completion_tokens_details": {"reasoning_tokens": r}}

    @staticmethod
    def oa_message(behaviour, req):
        if behaviour in ("tools", "tools-one"):
            calls = TOOL_CALLS if behaviour == "tools" else TOOL_CALLS[:1]
            return {"role": "assistant", "content": None, "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, n, a in calls]}, "tool_calls"
        if behaviour == "structured":
            return {"role": "assistant", "content": json.dumps(ENVELOPE)}, "stop"
        if behaviour == "big":
            return {"role": "assistant", "content": "peer " * 2000}, "stop"
        if behaviour == "huge":
            return {"role": "assistant", "content": "peer " * 20000}, "stop"
        if behaviour == "echo":
            return {"role": "assistant", "content": json.dumps(req, sort_keys=True)}, "stop"
        fin = {"length": "length", "filter": "content_filter"}.get(behaviour, "stop")
        return {"role": "assistant", "content": TEXT}, fin

    def openai(self, req, model):
        behaviour, _, delay = model.partition("@")
        if delay:
            time.sleep(int(delay) / 1000.0)
        if self.common_error(behaviour, False):
            return
        stream = bool(req.get("stream"))
        msg, fin = self.oa_message(behaviour, req)
        base = {"id": "chatcmpl-peer", "object": "chat.completion", "created": 1700000000,
                "model": model}
        if not stream:
            ans = dict(base, choices=[{"index": 0, "message": msg, "finish_reason": fin}])
            if behaviour != "no-usage":
                ans["usage"] = self.oa_usage(behaviour)
            data = json.dumps(ans)
            if behaviour == "truncate":
                return self.truncated_whole(data)
            if behaviour == "stream-error":
                return self.send_whole(200, json.dumps({"error": {"message": "mid-answer"}}))
            return self.send_whole(200, data)
        self.start_chunked()
        base["object"] = "chat.completion.chunk"

        def ev(obj, gap=0.0):
            self.chunk("data: " + json.dumps(obj) + "\n\n", gap)

        def delta(d, finish=None, usage=None):
            o = dict(base, choices=[{"index": 0, "delta": d, "finish_reason": finish}])
            if usage is not None:
                o["usage"] = usage
            return o

        ev(delta({"role": "assistant", "content": ""}))
        if behaviour == "notjson-stream":
            self.chunk("data: {this is not json}\n\n")
            return self.end_chunked()
        if msg.get("tool_calls"):
            for idx, (cid, name, args) in enumerate(
                    TOOL_CALLS if behaviour == "tools" else TOOL_CALLS[:1]):
                ev(delta({"tool_calls": [{"index": idx, "id": cid, "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}))
                for piece in split_in(args, 4):
                    ev(delta({"tool_calls": [{"index": idx,
                                              "function": {"arguments": piece}}]}))
        else:
            pieces = split_in(msg["content"], 40 if behaviour in ("big", "huge") else 5)
            for i, piece in enumerate(pieces):
                if behaviour == "truncate" and i == 2:
                    return self.cut()
                if behaviour == "stream-error" and i == 1:
                    self.chunk('data: {"error": {"message": "the peer broke mid-stream"}}\n\n')
                    return self.end_chunked()
                if behaviour == "trickle":
                    for ch in piece:
                        self.chunk(ch, 1.5)
                    continue
                # SSE framing split across TCP chunks too: a line may span writes
                line = "data: " + json.dumps(delta({"content": piece})) + "\n\n"
                half = len(line) // 2
                self.chunk(line[:half])
                self.chunk(line[half:])
        usage = self.oa_usage(behaviour)
        if behaviour == "usage-on-last-choice":
            ev(delta({}, fin, usage))
        else:
            ev(delta({}, fin))
            if behaviour == "usage-null-choices":
                ev(dict(base, choices=None, usage=usage))
            elif behaviour == "usage-absent-choices":
                ev(dict(base, usage=usage))
            elif behaviour != "no-usage":
                ev(dict(base, choices=[], usage=usage))
        if behaviour == "no-done":
            return self.end_chunked()
        self.chunk("data: [DONE]\n\n")
        self.end_chunked()

    def truncated_whole(self, data):
        raw = data.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw[: len(raw) // 2])
        self.cut()

    # --- Ollama -----------------------------------------------------------
    def ollama(self, req, model):
        behaviour, _, delay = model.partition("@")
        if delay:
            time.sleep(int(delay) / 1000.0)
        if self.common_error(behaviour, True):
            return
        stream = req.get("stream", True) is not False
        pe, ev_ = OLLAMA_USAGE.get(behaviour, OLLAMA_USAGE["text"])
        base = {"model": model, "created_at": "2026-01-01T00:00:00Z"}
        calls = None
        content = TEXT
        reason = {"length": "length"}.get(behaviour, "stop")
        if behaviour in ("tools", "tools-one"):
            picked = TOOL_CALLS if behaviour == "tools" else TOOL_CALLS[:1]
            calls = [{"function": {"name": n, "arguments": json.loads(a)}} for _, n, a in picked]
            content = ""
        elif behaviour == "structured":
            content = json.dumps(ENVELOPE)
        elif behaviour == "big":
            content = "peer " * 2000
        elif behaviour == "huge":
            content = "peer " * 20000
        elif behaviour == "echo":
            content = json.dumps(req, sort_keys=True)

        def final():
            o = dict(base, message={"role": "assistant", "content": ""}, done=True,
                     done_reason=reason, total_duration=123456789)
            if behaviour != "no-usage":
                o["prompt_eval_count"] = pe
                o["eval_count"] = ev_
            return o

        if not stream:
            msg = {"role": "assistant", "content": content}
            if calls:
                msg["tool_calls"] = calls
            ans = dict(final(), message=msg)
            data = json.dumps(ans)
            if behaviour == "truncate":
                return self.truncated_whole(data)
            if behaviour == "stream-error":
                return self.send_whole(200, json.dumps({"error": "mid-answer"}))
            return self.send_whole(200, data)
        self.start_chunked(ctype="application/x-ndjson")

        def line(obj, gap=0.0):
            self.chunk(json.dumps(obj) + "\n", gap)

        if behaviour == "notjson-stream":
            self.chunk("{this is not json}\n")
            return self.end_chunked()
        if calls:
            line(dict(base, message={"role": "assistant", "content": "", "tool_calls": calls},
                      done=False))
        else:
            pieces = split_in(content, 40 if behaviour in ("big", "huge") else 5)
            for i, piece in enumerate(pieces):
                if behaviour == "truncate" and i == 2:
                    return self.cut()
                if behaviour == "stream-error" and i == 1:
                    self.chunk('{"error": "the peer broke mid-stream"}\n')
                    return self.end_chunked()
                if behaviour == "trickle":
                    for ch in piece:
                        self.chunk(ch, 1.5)
                    continue
                text = json.dumps(dict(base, message={"role": "assistant", "content": piece},
                                       done=False)) + "\n"
                half = len(text) // 2
                self.chunk(text[:half])
                self.chunk(text[half:])
        if behaviour == "no-done":
            return self.end_chunked()
        line(final())
        self.end_chunked()

    # --- raw transport behaviours (the HTTP client's tests) -----------------
    def raw(self, mode, q, body):
        def arg(name, default):
            return int(q.get(name, [default])[0])

        if mode == "echo":  # the request back: method, body, headers as X-Got-*
            extra = [("X-Got-Method", self.command)]
            for k, v in self.headers.items():
                if k.lower() != "authorization":
                    extra.append(("X-Got-" + k, v))
            extra.append(("X-Auth-Ok", "yes" if self.auth_ok() else "no"))
            return self.send_whole(arg("status", 200), body, ctype="application/octet-stream",
                                   extra=extra)
        if mode == "status":
            return self.send_whole(arg("code", 200), b'{"status": true}')
        if mode == "headers":  # n extra headers, each "X-H-i: value i"
            extra = [("X-H-%d" % i, "value %d" % i) for i in range(arg("n", 40))]
            return self.send_whole(200, b"ok", ctype="text/plain", extra=extra)
        if mode == "bigheader":
            return self.send_whole(200, b"ok", ctype="text/plain",
                                   extra=[("X-Big", "v" * arg("n", 2000))])
        if mode == "continue":  # a 1xx, then the answer: only its headers count
            self.wfile.write(b"HTTP/1.1 100 Continue\r\nX-Early: dropped\r\n\r\n"
                             b"HTTP/1.1 201 Created\r\nContent-Length: 14\r\n"
                             b"X-Late: kept\r\nX-Spaced:   padded \t\r\nX-Empty:\r\nX-Tab:\tt\r\n"
                             b"X-Folded: first\r\n  folded on\r\n\r\nafter continue")
            self.wfile.flush()
            return
        if mode == "chunked":  # n chunks of k bytes, gap ms apart, then a trailer
            self.start_chunked(ctype="text/plain")
            for i in range(arg("n", 5)):
                self.chunk(("%d" % (i % 10)) * arg("k", 10), arg("gap", 0) / 1000.0)
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
            self.wfile.flush()
            return
        if mode == "trickle":  # headers, then a byte every gap ms
            self.start_chunked(ctype="text/plain")
            for _ in range(arg("n", 100)):
                try:
                    self.chunk(b".", arg("gap", 1500) / 1000.0)
                except OSError:
                    break
            self.close_connection = True
            return
        if mode == "silent":  # take the request, answer nothing
            return self.hang(arg("s", 30))
        if mode == "silent-head":  # a head, then nothing
            self.start_chunked(ctype="text/plain")
            return self.hang(arg("s", 30))
        if mode == "close":  # close at once: nothing at all
            return self.cut()
        if mode == "cut-length":  # Content-Length promises more than comes
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only ten b")
            return self.cut()
        if mode == "reset":  # part of a Content-Length body, then a reset (RST), not a close
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.wfile.flush()
            time.sleep(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if mode == "cut-chunked":  # a chunked body closed before its last chunk
            self.start_chunked(ctype="text/plain")
            self.chunk(b"first chunk ")
            self.wfile.write(b"20\r\nhalf")
            return self.cut()
        if mode == "cut-head":  # closed inside the head
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            return self.cut()
        if mode == "garbage":  # not HTTP at all
            self.wfile.write(b"SSH-2.0-OpenSSH_9.0\r\nnot http\r\n\r\n")
            return self.cut()
        if mode == "eof":  # no length, no chunks: the close ends the body
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close")
            return self.cut()
        self.send_whole(404, b"no such raw mode", ctype="text/plain")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gives up mid-answer (a timeout, a refusal) is routine.
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True, help="request log (JSON lines)")
    ap.add_argument("--key", default=None, help="the API key expected as Bearer")
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--max-requests", type=int, default=10000)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.log_path = a.log
    srv.key = a.key
    srv.count = 0
    open(a.log, "w", encoding="utf-8").close()
    print(srv.server_address[1], flush=True)

    def watchdog():
        end = time.monotonic() + a.max_seconds
        while time.monotonic() < end and srv.count < a.max_requests:
            time.sleep(0.1)
        srv.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
