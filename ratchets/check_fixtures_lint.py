"""Fixtures lint -- the seeds' skill-prompt linter: every tool call an agent
prompt shows must name a registered tool, one the skill may call, with
arguments its schema accepts.

An app is fixtures/apps/<app>/app.yaml (docs/apps.md; the runtime's loader
is runtime/core/app*.c). Its prompts show calls in fenced blocks:

    ```tool
    CALL server:tool {"arg": "value", "n": 3}
    CALL bare_tool {}
    ```

one `CALL NAME JSON-OBJECT` per line. Each is checked against the schema
app.yaml declares: the tool exists (qualified, or a bare name one server
has) and the agent may call it; every argument is in its schema with the
right JSON type (and a roster argument's value in its roster); every
required argument is there -- but an injected one (app.yaml's `inject`)
must NOT be: the model never sees it, so an example that passes it teaches
the model to send what the runtime fills. The runtime's own tools
(mark_resolved, mark_escalated, submit_hypothesis, patch_session) have the
schemas runtime/core/app_load.c gives them (app_load_builtins); keep the two
in step. Inline calls (below) are checked too, with the same rule for
injected arguments.

The older form is fixtures/apps/<app>/app.json:
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

try:
    import yaml
except ImportError:  # python3-yaml (scripts/setup-deps.sh)
    yaml = None

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
    strict = getattr(app, "strict_inject", False)
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
            if strict and key in props:
                findings.append(Finding(rel, lineno, f"{full}: argument {key} is injected by the "
                                        "runtime: the model never sees it, drop it"))
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


# --- app.yaml apps ------------------------------------------------------------

FENCE_OPEN = re.compile(r"^\s*```+\s*tool\s*$")
FENCE_CLOSE = re.compile(r"^\s*```+\s*$")
FENCE_CALL = re.compile(r"^\s*CALL\s+(?:([A-Za-z_][\w-]*):)?([A-Za-z_][\w-]*)\s+(\{.*\})\s*$")
RUNTIME = "runtime"


def yaml_type(v):
    """The JSON type of a value json.loads gave."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    return "null"


def builtin_tools(fields, escalation_roster):
    """The runtime server's tools, as runtime/core/app_load.c makes them:
    name -> {arg: {"type", "required", "roster"}}."""
    def a(t, req=True, roster=None):
        return {"type": t, "required": req, "roster": roster}
    decided = {"confidence": a("number"), "rationale": a("string")}
    patch = {f: a(spec.get("type", "string"), False, spec.get("roster"))
             for f, spec in fields.items()}
    patch.update({"confidence": a("number", False), "rationale": a("string", False)})
    return {
        "mark_resolved": dict(resolution=a("string"), **decided),
        "mark_escalated": dict(team=a("string", True, escalation_roster), **decided),
        "submit_hypothesis": dict(hypothesis=a("string"), **decided),
        "patch_session": patch,
    }


def as_map(v):
    return v if isinstance(v, dict) else {}


class YamlApp(App):
    """An app.yaml app in the shape App gives lint_call (JSON Schema
    parameters), plus what the fenced calls need: rosters and the args."""
    strict_inject = True

    def __init__(self, path, app_dir, data, findings):
        self.path, self.dir = path, app_dir
        self.rosters = {k: list(v) for k, v in as_map(data.get("rosters")).items()
                        if isinstance(v, list)}
        self.injected = set(as_map(data.get("inject")))
        esc = as_map(data.get("escalation")).get("roster")
        fields = {k: as_map(v) for k, v in as_map(data.get("fields")).items()}
        self.tools, self.by_name, self.args = {}, {}, {}
        declared = {RUNTIME: builtin_tools(fields, esc)}
        for server, spec in as_map(data.get("servers")).items():
            declared[server] = {t: {n: {"type": as_map(g).get("type"),
                                        "required": as_map(g).get("required", False) is True,
                                        "roster": as_map(g).get("roster")}
                                    for n, g in as_map(as_map(ts).get("args")).items()}
                                for t, ts in as_map(as_map(spec).get("tools")).items()}
        for server, tools in declared.items():
            for name, args in tools.items():
                full = f"{server}:{name}"
                self.args[full] = args
                self.tools[full] = {"parameters": {
                    "type": "object", "additionalProperties": False,
                    "properties": {n: {"type": g["type"]} for n, g in args.items()},
                    "required": [n for n, g in args.items() if g["required"]]}}
                self.by_name.setdefault(name, []).append(full)
        self.skills = [{"name": n, "prompt": as_map(v).get("prompt", ""),
                        "tools": [str(t) for t in as_map(v).get("tools") or []]}
                       for n, v in as_map(data.get("agents")).items()]


def no_dup_keys(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"argument {dup[0]} given twice")
    return dict(pairs)


def lint_fenced(app, skill_tools, rel, lineno, server, name, text, findings):
    """One `CALL NAME {json}` line of a ```tool fence."""
    full, err = app.resolve(server, name)
    if err:
        findings.append(Finding(rel, lineno, err))
        return
    if skill_tools is not None and full not in skill_tools:
        findings.append(Finding(rel, lineno, f"{full} is not among this agent's tools"))
    try:
        args = json.loads(text, object_pairs_hook=no_dup_keys)
    except ValueError as e:
        findings.append(Finding(rel, lineno, f"{full}: the arguments are not a JSON object: {e}"))
        return
    if not isinstance(args, dict):
        findings.append(Finding(rel, lineno, f"{full}: the arguments are not a JSON object"))
        return
    schema = app.args[full]
    for key, val in args.items():
        if key in app.injected and key in schema:
            findings.append(Finding(rel, lineno, f"{full}: argument {key} is injected by the "
                                    "runtime: the model never sees it, drop it"))
            continue
        if key not in schema:
            visible = sorted(k for k in schema if k not in app.injected)
            findings.append(Finding(rel, lineno, f"{full}: unknown argument {key} "
                                    f"(schema has: {', '.join(visible) or 'none'})"))
            continue
        want, got = schema[key]["type"], yaml_type(val)
        if not (got == want or (want == "number" and got == "integer")):
            findings.append(Finding(rel, lineno, f"{full}: {key}={json.dumps(val)} is {got}, "
                                    f"schema wants {want}"))
            continue
        roster = schema[key].get("roster")
        if roster in app.rosters and val not in app.rosters[roster]:
            findings.append(Finding(rel, lineno, f"{full}: {key}={json.dumps(val)} is not in "
                                    f"roster {roster} ({', '.join(map(str, app.rosters[roster]))})"))
    for key, g in schema.items():
        if g["required"] and key not in args and key not in app.injected:
            findings.append(Finding(rel, lineno, f"{full}: required argument {key} missing"))


def lint_prompt_lines(app, skill_tools, rel, lines, findings):
    calls, fence_at = 0, 0
    for n, line in enumerate(lines, 1):
        ig = IGNORE.search(line)
        if ig:
            if len(ig.group(1).strip()) < 3:
                findings.append(Finding(rel, n, "lint-ignore needs a reason"))
            continue
        if fence_at:
            if FENCE_CLOSE.match(line):
                fence_at = 0
            elif line.strip():
                c = FENCE_CALL.match(line)
                if not c:
                    findings.append(Finding(rel, n, "a line in a tool fence is not "
                                            "CALL NAME {JSON arguments}"))
                else:
                    calls += 1
                    lint_fenced(app, skill_tools, rel, n, c.group(1), c.group(2), c.group(3),
                                findings)
            continue
        if FENCE_OPEN.match(line):
            fence_at = n
            continue
        for m in SPAN.finditer(line):
            c = CALL.match(m.group(1))
            if c:
                calls += 1
                lint_call(app, skill_tools, rel, n, c.group(1), c.group(2), c.group(3), findings)
    if fence_at:
        findings.append(Finding(rel, fence_at, "a tool fence that is never closed"))
    return calls


def lint_yaml_app(root, app_yaml, findings):
    rel_app = os.path.relpath(app_yaml, root)
    if yaml is None:
        findings.append(Finding(rel_app, 0, "python3-yaml is not installed "
                                "(scripts/setup-deps.sh): cannot read the app"))
        return 0
    try:
        with open(app_yaml, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError) as e:
        findings.append(Finding(rel_app, 0, f"cannot read app config: {e}"))
        return 0
    if not isinstance(data, dict):
        findings.append(Finding(rel_app, 0, "app.yaml is not a mapping"))
        return 0
    app = YamlApp(rel_app, os.path.dirname(app_yaml), data, findings)
    calls = 0
    for sk in app.skills:
        skill_tools = set()
        for ref in sk["tools"]:
            server, _, name = ref.rpartition(":")
            full, err = app.resolve(server, name)
            if err:
                findings.append(Finding(rel_app, 0, f"agent {sk['name']}: {err}"))
            else:
                skill_tools.add(full)
        prompt = os.path.join(app.dir, str(sk["prompt"]))
        rel = os.path.relpath(prompt, root)
        try:
            with open(prompt, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, ValueError) as e:
            findings.append(Finding(rel_app, 0, f"agent {sk['name']}: prompt: {e}"))
            continue
        calls += lint_prompt_lines(app, skill_tools, rel, lines, findings)
    return calls


def run(root, cfg):
    base = os.path.join(root, cfg["apps"])
    findings, apps, calls = [], 0, 0
    if os.path.isdir(base):
        for d in sorted(os.listdir(base)):
            app_yaml = os.path.join(base, d, "app.yaml")
            app_json = os.path.join(base, d, "app.json")
            if os.path.isfile(app_yaml):
                apps += 1
                calls += lint_yaml_app(root, app_yaml, findings)
            elif os.path.isfile(app_json):
                apps += 1
                calls += lint_app(root, app_json, findings)
    return findings, {"apps": apps, "tool_calls_checked": calls}
