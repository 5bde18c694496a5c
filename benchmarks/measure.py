"""Shared by the benchmarks: run a step as its own process and measure it; the raw-parse baseline."""

from __future__ import annotations

import os
import subprocess
import time


def measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run a command as its own process: wall seconds, peak RSS, last output line.

    The peak RSS comes from GNU time, whose child starts small: ``os.wait4`` here would
    report at least this script's own size (Linux carries a parent's peak RSS across exec).
    """
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *cmd], env={**os.environ, **(env or {})},
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")
    rss_kb = int(result.stderr.strip().splitlines()[-1].removeprefix("maxrss_kb="))
    lines = [line for line in result.stdout.strip().splitlines() if line.strip()]
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(rss_kb / 1024, 1),
            "last_line": lines[-1] if lines else ""}


RAW_ITERPARSE = """
import sys
from lxml import etree
count = 0
for name in sys.argv[1:]:
    for _, elem in etree.iterparse(name, events=("end",), tag=("addRequest", "modifyRequest", "deleteRequest"),
                                   resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True):
        count += 1
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
print(count, "records")
"""
