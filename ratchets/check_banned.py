"""Banned functions: calls to gets, strcpy, sprintf, atoi, strtok and the like
anywhere in the project's C."""
import re

from ratchetlib import Finding, c_files, line_of, read, strip_c


def run(root, cfg):
    names = "|".join(re.escape(f) for f in cfg["functions"])
    pat = re.compile(r"(?<![\w.>])(" + names + r")\s*\(")
    findings = []
    files = c_files(root, cfg["dirs"], cfg.get("exclude", ()))
    for rel in files:
        code, _ = strip_c(read(root, rel))
        for m in pat.finditer(code):
            findings.append(Finding(rel, line_of(code, m.start()),
                                    f"banned function {m.group(1)}()"))
    return findings, {"files": len(files)}
