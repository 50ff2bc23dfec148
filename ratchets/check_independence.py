"""Oracle independence: the oracle (sim/oracle/) forms its expectations from
the specification, never from the code it judges. It may include no runtime
header but the ones config.json allows (status codes and formatting), and
call no runtime function (as_*) but the allowed ones."""
import re

from ratchetlib import Finding, c_files, read, strip_c

INCLUDE = re.compile(r'^\s*#\s*include\s*"(agentsim/[^"]+)"')
CALL = re.compile(r"(?<![A-Za-z0-9_])(as_[A-Za-z0-9_]+)\s*\(")


def run(root, cfg):
    allowed_h = set(cfg["allowed_headers"])
    allowed_f = set(cfg["allowed_functions"])
    findings = []
    files = c_files(root, cfg["dirs"], cfg.get("exclude", ()))
    for rel in files:
        text = read(root, rel)
        for n, line in enumerate(text.split("\n"), 1):
            m = INCLUDE.match(line)
            if m and m.group(1) not in allowed_h:
                findings.append(Finding(rel, n, f"runtime header {m.group(1)} in the oracle"))
        code, _ = strip_c(text)
        for n, line in enumerate(code.split("\n"), 1):
            for m in CALL.finditer(line):
                if m.group(1) not in allowed_f:
                    findings.append(Finding(rel, n, f"runtime call {m.group(1)}() in the oracle"))
    return findings, {"files": len(files)}
