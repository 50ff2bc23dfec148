"""Nondeterminism leaks: no clock, random, sleep, thread or environment call in
runtime/ outside the posix backend of the seam."""
import re

from ratchetlib import Finding, c_files, line_of, read, strip_c


def run(root, cfg):
    calls = "|".join(re.escape(c) for c in cfg["calls"])
    call_pat = re.compile(r"(?<![\w.>])(" + calls + r")\s*\(")
    pre = "|".join(re.escape(p) for p in cfg["prefixes"])
    pre_pat = re.compile(r"(?<![\w.>])((?:" + pre + r")\w*)")
    tok_pat = re.compile(r"(?<![\w.>])(" + "|".join(map(re.escape, cfg["tokens"])) + r")(?!\w)")
    inc_pat = re.compile(r'^\s*#\s*include\s*[<"](' +
                         "|".join(map(re.escape, cfg["includes"])) + r')[>"]', re.M)
    findings = []
    files = c_files(root, cfg["dirs"], cfg.get("exclude", ()))
    for rel in files:
        text = read(root, rel)
        code, _ = strip_c(text)
        for m in inc_pat.finditer(text):
            findings.append(Finding(rel, line_of(text, m.start()),
                                    f"#include <{m.group(1)}> outside the seam"))
        for pat, what in ((call_pat, "call to {}() outside the seam"),
                          (pre_pat, "{} outside the seam"),
                          (tok_pat, "{} outside the seam")):
            for m in pat.finditer(code):
                findings.append(Finding(rel, line_of(code, m.start()), what.format(m.group(1))))
    findings.sort(key=lambda f: (f.path, f.line))
    return findings, {"files": len(files)}
