"""Fixtures lint -- the seeds' skill-prompt linter: every tool call an agent
prompt shows must name a registered tool, one the skill may call, with
arguments its schema accepts.

An app is fixtures/apps/<app>/app.json:
  {
    "name": "demo",
    "injected_args": ["session_id", "environment"],      # the runtime fills these
    "tools": [{"server": "core", "name": "mark_resolved",
               "parameters": {"type": "object", "properties": {...},
                              "required": [...], "additionalProperties": false}}],
    "skills": [{"name": "triage", "prompt": "skills/triage/system.md",
                "tools": ["core:get_logs", "mark_resolved"]}]
  }
A prompt shows a call as inline code: `tool(arg=value, other, ...)` or
`server:tool(...)`. A bare argument name refers to the field; `...` elides the
rest (then missing required arguments are not reported). A line carrying
`<!-- lint-ignore: reason -->` is skipped (the reason is required).
"""
import json
import os
import re

from ratchetlib import Finding

SPAN = re.compile(r"`([^`\n]+)`")
CALL = re.compile(r"^\s*(?:([A-Za-z_][\w-]*):)?([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)
IGNORE = re.compile(r"<!--\s*lint-ignore:(.*?)-->")
NAME = re.compile(r"^[A-Za-z_]\w*$")


def split_top(s, sep=","):
    parts, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def literal_type(v):
    v = v.strip()
    if re.fullmatch(r"\"[^\"]*\"|'[^']*'", v):
        return "string"
    if re.fullmatch(r"-?\d+", v):
        return "integer"
    if re.fullmatch(r"-?\d+\.\d*|-?\.\d+|-?\d+(\.\d*)?[eE][-+]?\d+", v):
        return "number"
    if v in ("true", "false", "True", "False"):
        return "boolean"
    if v in ("null", "None"):
        return "null"
    if v.startswith("{") and v.endswith("}"):
        return "object"
    if v.startswith("[") and v.endswith("]"):
        return "array"
    return None  # a placeholder or expression: not judged


def type_ok(lit, schema_type):
    if lit is None or schema_type is None:
        return True
    types = schema_type if isinstance(schema_type, list) else [schema_type]
    if lit == "integer" and "number" in types:
        return True
    return lit in types


def object_keys(v):
    inner = v.strip()[1:-1]
    keys = []
    for part in split_top(inner):
        if not part:
            continue
        k = part.split(":", 1)[0].strip().strip("\"'")
        keys.append(k)
    return keys


class App:
    def __init__(self, path, app_dir, data, findings):
        self.path = path
        self.dir = app_dir
        self.injected = set(data.get("injected_args", []))
        self.tools = {}    # "server:name" -> tool
        self.by_name = {}  # bare name -> [server:name]
        for t in data.get("tools", []):
            full = f"{t.get('server', '')}:{t['name']}"
            if full in self.tools:
                findings.append(Finding(path, 0, f"tool {full} registered twice"))
            self.tools[full] = t
            self.by_name.setdefault(t["name"], []).append(full)
        self.skills = data.get("skills", [])

    def resolve(self, server, name):
        """(full name, error)"""
        if server:
            full = f"{server}:{name}"
            return (full, None) if full in self.tools else (None, f"unknown tool {full}")
        fulls = self.by_name.get(name, [])
        if not fulls:
            return None, f"unknown tool {name}"
        if len(fulls) > 1:
            return None, f"ambiguous tool {name}: served by {', '.join(sorted(fulls))}; use server:name"
        return fulls[0], None


def lint_call(app, skill_tools, rel, lineno, server, name, args, findings):
    full, err = app.resolve(server, name)
    if err:
        findings.append(Finding(rel, lineno, err))
        return
    if skill_tools is not None and full not in skill_tools:
        findings.append(Finding(rel, lineno, f"{full} is not among this skill's tools"))
    params = app.tools[full].get("parameters", {})
    props = params.get("properties", {})
    closed = params.get("additionalProperties", True) is False
    seen, elided = set(), False
    for a in split_top(args):
        if not a:
            continue
        if a in ("...", "…"):
            elided = True
            continue
        if "=" in a and NAME.match(a.split("=", 1)[0].strip()):
            key, val = (x.strip() for x in a.split("=", 1))
        elif NAME.match(a):
            key, val = a, None
        else:
            findings.append(Finding(rel, lineno, f"{full}: positional value '{a}': name the argument"))
            continue
        if key in seen:
            findings.append(Finding(rel, lineno, f"{full}: argument {key} given twice"))
        seen.add(key)
        if key in app.injected:
            continue
        if key not in props:
            if closed or not props:
                findings.append(Finding(rel, lineno, f"{full}: unknown argument {key} "
                                        f"(schema has: {', '.join(sorted(props)) or 'none'})"))
            continue
        if val is None:
            continue
        sch = props[key]
        lit = literal_type(val)
        if not type_ok(lit, sch.get("type")):
            findings.append(Finding(rel, lineno, f"{full}: {key}={val} is {lit}, schema wants "
                                    f"{sch.get('type')}"))
        elif lit == "object" and sch.get("additionalProperties", True) is False:
            allowed = sch.get("properties", {})
            for k in object_keys(val):
                if k and k not in allowed:
                    findings.append(Finding(rel, lineno, f"{full}: {key} has unknown field {k}"))
    if not elided:
        for r in params.get("required", []):
            if r not in seen and r not in app.injected:
                findings.append(Finding(rel, lineno, f"{full}: required argument {r} missing"))


def lint_app(root, app_json, findings):
    rel_app = os.path.relpath(app_json, root)
    try:
        with open(app_json, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        findings.append(Finding(rel_app, 0, f"cannot read app config: {e}"))
        return 0
    app = App(rel_app, os.path.dirname(app_json), data, findings)
    calls = 0
    for sk in app.skills:
        skill_tools = set()
        for ref in sk.get("tools", []):
            server, _, name = ref.rpartition(":")
            full, err = app.resolve(server, name)
            if err:
                findings.append(Finding(rel_app, 0, f"skill {sk.get('name')}: {err}"))
            else:
                skill_tools.add(full)
        prompt = os.path.join(app.dir, sk.get("prompt", ""))
        rel = os.path.relpath(prompt, root)
        try:
            with open(prompt, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except OSError as e:
            findings.append(Finding(rel_app, 0, f"skill {sk.get('name')}: prompt: {e}"))
            continue
        for n, line in enumerate(lines, 1):
            ig = IGNORE.search(line)
            if ig:
                if len(ig.group(1).strip()) < 3:
                    findings.append(Finding(rel, n, "lint-ignore needs a reason"))
                continue
            for m in SPAN.finditer(line):
                c = CALL.match(m.group(1))
                if c:
                    calls += 1
                    lint_call(app, skill_tools, rel, n, c.group(1), c.group(2), c.group(3),
                              findings)
    return calls


def run(root, cfg):
    base = os.path.join(root, cfg["apps"])
    findings, apps, calls = [], 0, 0
    if os.path.isdir(base):
        for d in sorted(os.listdir(base)):
            app_json = os.path.join(base, d, "app.json")
            if os.path.isfile(app_json):
                apps += 1
                calls += lint_app(root, app_json, findings)
    return findings, {"apps": apps, "tool_calls_checked": calls}
