"""Silent failures -- the C analogue of "no except: pass".

Four kinds of finding:
  ignore-without-reason  `(void)call(...)` with no `/* ignore: why */` on its lines
  empty-error-branch     `if (rc ...)` whose body neither returns, jumps, logs
                         nor records anything
  missing-wur            a function returning a status (it returns AS_* codes
                         or `rc`) without AS_WUR on any declaration
  unchecked-result       a dropped result of a sqlite3_/curl_/json_/stdio call
                         that can fail (clang-tidy bugprone-unused-return-value
                         with the function list in config.json)
Deliberate ignores (with a reason) are counted; their density per 1,000
lines is a ceiling of its own.
"""
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ratchetlib import (Finding, c_files, kloc, line_of, match_paren, read, strip_c,
                        strip_preprocessor)

VOID_CALL = re.compile(r"\(\s*void\s*\)\s*!?\s*[A-Za-z_][\w.>-]*\s*\(")
IGNORE_REASON = re.compile(r"ignore:\s*(\S.{2,})")
ERROR_COND = re.compile(r"(?<![\w.>])(rc|err|error|status|ret)(?!\w)|!=\s*AS_OK|<\s*0(?![.xX\d])|"
                        r"==\s*-1|MAP_FAILED|SQLITE_OK|CURLE_OK")
SUCCESS_COND = re.compile(r"\(*\s*(rc|err|status|ret)\s*==\s*(AS_OK|0|SQLITE_OK|CURLE_OK)\s*\)*")
JUMP = re.compile(r"(?<!\w)(return|goto|break|continue|abort|exit|_exit|siglongjmp|longjmp)(?!\w)")
ASSIGN = re.compile(r"(?<![=!<>+\-*/%&|^])=(?!=)|\+\+|--|[+\-*/%&|^]=")
CALL = re.compile(r"([A-Za-z_]\w*)\s*\(")
STATUS_RETURN = re.compile(r"\breturn\s+(AS_(?!OK\b)[A-Z_]+|rc|status)\s*;")


def statement_end(code, i):
    """Offset just past the ';' ending the statement that starts at i."""
    depth = 0
    for j in range(i, len(code)):
        ch = code[j]
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == ";" and depth <= 0:
            return j + 1
    return len(code)


def check_ignores(rel, text, code, comments):
    findings, count = [], 0
    for m in VOID_CALL.finditer(code):
        count += 1
        start_line = line_of(code, m.start())
        end_line = line_of(code, statement_end(code, m.end()) - 1)
        ok = any(IGNORE_REASON.search(c) and
                 start_line - 1 <= line_of(text, s) <= end_line
                 for s, _, c in comments)
        if not ok:
            findings.append(Finding(rel, start_line,
                                    "ignore-without-reason: (void) cast of a call needs "
                                    "/* ignore: why */"))
    return findings, count


def body_span(code, i):
    """The statement or block starting at the first non-space at/after i."""
    while i < len(code) and code[i].isspace():
        i += 1
    if i < len(code) and code[i] == "{":
        end = match_paren(code, i, "{", "}")
        return i, (end if end > 0 else len(code))
    return i, statement_end(code, i)


def acts(body, log_words):
    if JUMP.search(body) or ASSIGN.search(body):
        return True
    for m in CALL.finditer(body):
        name = m.group(1).lower()
        if name in ("if", "while", "for", "switch", "sizeof"):
            continue
        if any(w in name for w in log_words):
            return True
    return False


def check_branches(rel, code, log_words):
    findings = []
    for m in re.finditer(r"(?<![\w#])if\s*\(", code):
        open_i = code.index("(", m.start())
        close_i = match_paren(code, open_i)
        if close_i < 0:
            continue
        cond = code[open_i + 1:close_i - 1]
        if not ERROR_COND.search(cond) or SUCCESS_COND.fullmatch(cond.strip()):
            continue
        b0, b1 = body_span(code, close_i)
        body = code[b0:b1]
        # `out: if (rc) cleanup(); return rc;` hands the status on: handled.
        hands_on = re.match(r"\s*(else\b[^;]*;\s*)?return\s+(rc|err|status)\s*;", code[b1:b1 + 200])
        if not hands_on and not acts(body, log_words):
            findings.append(Finding(rel, line_of(code, m.start()),
                                    f"empty-error-branch: if ({' '.join(cond.split())}) "
                                    "neither returns, jumps, logs nor records"))
    return findings


def wur_names(all_code):
    """Names declared with AS_WUR anywhere (prototype or definition)."""
    names = set()
    for m in re.finditer(r"\bAS_WUR\b", all_code):
        tail = all_code[m.start():m.start() + 400]
        end = min([p for p in (tail.find(";"), tail.find("{")) if p >= 0] or [len(tail)])
        decl = tail[:end]
        calls = re.findall(r"([A-Za-z_]\w*)\s*\(", decl)
        if calls:
            names.add(calls[0])
    return names


DEF = re.compile(r"^[ \t]*((?:static|inline|AS_WUR|extern)\s+)*(int|as_status)\s+\**\s*"
                 r"([A-Za-z_]\w*)\s*\(", re.M)


def check_wur(rel, code, declared):
    findings = []
    for m in DEF.finditer(code):
        name = m.group(3)
        p_open = code.index("(", m.end() - 1)
        p_close = match_paren(code, p_open)
        if p_close < 0:
            continue
        rest = code[p_close:p_close + 200].lstrip()
        if not rest.startswith("{"):
            continue  # a prototype
        b_end = match_paren(code, code.index("{", p_close), "{", "}")
        body = code[p_close:b_end]
        if STATUS_RETURN.search(body) and name not in declared and name != "main":
            findings.append(Finding(rel, line_of(code, m.start(3)),
                                    f"missing-wur: {name}() returns a status but has no AS_WUR"))
    return findings


def tidy_unchecked(root, files, build_dir, checked):
    if not build_dir or not os.path.isfile(os.path.join(build_dir, "compile_commands.json")):
        return None, "no compile_commands.json (pass --build-dir)"
    tidy = shutil.which("clang-tidy") or shutil.which("clang-tidy-14")
    if not tidy:
        return None, "clang-tidy not found (scripts/setup-deps.sh installs it)"
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        compiled = {os.path.realpath(e["file"]) for e in json.load(f)}
    srcs = [r for r in files if r.endswith(".c") and
            os.path.realpath(os.path.join(root, r)) in compiled]
    config = json.dumps({
        "Checks": "-*,bugprone-unused-return-value",
        "CheckOptions": [{"key": "bugprone-unused-return-value.CheckedFunctions",
                          "value": ";".join(checked)}],
    })

    def one(rel):
        p = subprocess.run([tidy, "--quiet", f"--config={config}", "-p", build_dir,
                            os.path.join(root, rel)], capture_output=True, text=True)
        out = []
        for line in p.stdout.splitlines():
            mm = re.match(r"(.+?):(\d+):\d+: warning: (.+) \[bugprone-unused-return-value\]", line)
            if mm:
                out.append(Finding(os.path.relpath(mm.group(1), root), int(mm.group(2)),
                                   "unchecked-result: " + mm.group(3)))
        if p.returncode != 0 and not out:
            out.append(Finding(rel, 0, "clang-tidy failed: " +
                               (p.stderr.strip().splitlines() or ["?"])[-1]))
        return out

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        results = list(ex.map(one, srcs))
    return [f for r in results for f in r], f"{len(srcs)} files through clang-tidy"


def run(root, cfg, build_dir=None):
    files = c_files(root, cfg["dirs"], cfg.get("exclude", ()))
    findings, ignores = [], 0
    stripped = {}
    for rel in files:
        text = read(root, rel)
        code, comments = strip_c(text)
        stripped[rel] = code
        f, n = check_ignores(rel, text, code, comments)
        findings += f
        ignores += n
        findings += check_branches(rel, strip_preprocessor(code), cfg["log_words"])
    declared = wur_names("\n".join(stripped.values()))
    for rel in files:
        findings += check_wur(rel, strip_preprocessor(stripped[rel]), declared)
    tidy, note = tidy_unchecked(root, files, build_dir, cfg["tidy_checked"])
    stats = {"files": len(files), "deliberate_ignores": ignores,
             "ignores_per_kloc": round(ignores / kloc(root, files), 2)}
    if tidy is None:
        stats["clang_tidy"] = "skipped: " + note
        if cfg.get("require_tidy", True) and build_dir:
            findings.append(Finding("(ratchet)", 0, "unchecked-result check did not run: " + note))
    else:
        findings += tidy
        stats["clang_tidy"] = note
    findings.sort(key=lambda f: (f.path, f.line))
    return findings, stats
