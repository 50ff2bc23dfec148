"""ratchetlib -- what every ratchet shares: finding C sources, blanking
comments and literals while keeping positions, findings, and the baseline.

A ratchet's baseline is a ceiling (a count that may only go down) or a
floor (a figure that may only go up); see history.py for the check that no
commit ever loosened one.
"""
import json
import os
import re
import sys

C_EXT = (".c", ".h")


class Finding:
    def __init__(self, path, line, msg):
        self.path, self.line, self.msg = path, line, msg

    def __str__(self):
        return f"{self.path}:{self.line}: {self.msg}"


def c_files(root, dirs, exclude=()):
    """Every .c/.h file under root/dirs, sorted, skipping excluded prefixes."""
    out = []
    for d in dirs:
        base = os.path.join(root, d)
        if os.path.isfile(base) and base.endswith(C_EXT):
            out.append(d)
            continue
        for dirpath, dirnames, files in os.walk(base):
            dirnames.sort()
            for f in sorted(files):
                if not f.endswith(C_EXT):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                if any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in exclude):
                    continue
                out.append(rel)
    return sorted(set(out))


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


def strip_c(text):
    """Blank comments and string/char literals with spaces (newlines kept), so
    offsets and line numbers stay valid. Returns (code, comments) where
    comments is a list of (start_offset, end_offset, text)."""
    out = list(text)
    comments = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            comments.append((i, j, text[i:j]))
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            comments.append((i, j, text[i:j]))
            for k in range(i, j):
                out[k] = " "
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            for k in range(i + 1, j - 1):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        else:
            i += 1
    return "".join(out), comments


def strip_preprocessor(code):
    """Blank #include/#define/... lines (continued lines too)."""
    lines = code.split("\n")
    cont = False
    for i, l in enumerate(lines):
        if cont or l.lstrip().startswith("#"):
            cont = l.rstrip().endswith("\\")
            lines[i] = " " * len(l)
        else:
            cont = False
    return "\n".join(lines)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def match_paren(code, i, open_c="(", close_c=")"):
    """Index just past the bracket matching the one at code[i]; -1 if none."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] == open_c:
            depth += 1
        elif code[j] == close_c:
            depth -= 1
            if depth == 0:
                return j + 1
    return -1


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"ratchet: cannot read {path}: {e}")


def kloc(root, files):
    lines = 0
    for rel in files:
        lines += read(root, rel).count("\n")
    return max(lines, 1) / 1000.0
