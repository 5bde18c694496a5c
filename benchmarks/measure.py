"""Shared by the benchmarks: run a step as its own process and measure it; the raw-parse baseline."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path


def median_run(runs: list[dict]) -> dict:
    """Of measured runs (`measured`), the one of median seconds (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def compile_hub() -> None:
    """Compile the hub's modules once, as installing a package does: under PYTHONDONTWRITEBYTECODE (set on
    some machines) an editable install would compile them again in every measured process (0.06 s)."""
    import compileall

    for package in ("hub", "plugins"):
        compileall.compile_dir(Path(__file__).parent.parent / package, quiet=1)


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


PG_SERVER = os.environ.get("HUB_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Database:
    """A fresh SQLite file or PostgreSQL schema for one measure, dropped afterwards."""

    def __init__(self, kind: str, work: Path):
        self.kind, self.work = kind, work
        if kind == "sqlite":
            self.url = f"sqlite:///{work / f'hub-{uuid.uuid4().hex[:6]}.db'}"
        else:
            from sqlalchemy import create_engine, text

            self.schema = f"bench_{uuid.uuid4().hex[:8]}"
            self.admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {self.schema}"))
            self.url = f"{PG_SERVER}?options=-csearch_path%3D{self.schema}"

    def drop(self) -> None:
        if self.kind == "postgresql":
            from sqlalchemy import text

            with self.admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            self.admin.dispose()
        else:
            for path in self.work.glob(Path(self.url.removeprefix("sqlite:///")).name + "*"):
                path.unlink()
