"""Concept leaks: no word of the example apps' domain in runtime/ -- not in
code, strings or comments. The word list is in config.json."""
import re

from ratchetlib import Finding, c_files, read


def run(root, cfg):
    pats = [(w, re.compile(r"(?<![A-Za-z])" + w + r"", re.I)) for w in cfg["words"]]
    findings = []
    files = c_files(root, cfg["dirs"], cfg.get("exclude", ()))
    for rel in files:
        for n, line in enumerate(read(root, rel).split("\n"), 1):
            for w, p in pats:
                m = p.search(line)
                if m:
                    findings.append(Finding(rel, n, f"domain word '{m.group(0)}' (matches {w})"))
    return findings, {"files": len(files)}
