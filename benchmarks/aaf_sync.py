"""Benchmark: AAF syncs of a synthetic académie of realistic width, against the raw read of the same files.

Steps, each its own process (wall and CPU seconds, the reader's child included, and peak RSS
taken by GNU time, Debian package ``time``), on each database asked for (a fresh SQLite file;
a fresh PostgreSQL schema):

- the raw read: ``lxml.etree.iterparse`` over the files, touching every attribute name and value;
- the full sync: what ``hub sync aaf`` does, in a small script that also times the core alone
  (the time spent waiting for the reader's items subtracted): persons per second through
  normalize, stage, resolve, plan, apply;
- the same sync again (empty plan), then a Delta changing 1 % of the pupils' names (incremental),
  three days in a row (``--core-runs``);
- the full sync twice more, each into a fresh database. The ratio to the raw read, the core's persons
  per second and the incremental share are the medians of the three, as the machine's load swings.

On a shared machine the wall times swing with the load: compare ratios taken in one run, and
the CPU seconds.

    python benchmarks/aaf_sync.py --persons 100000 --databases sqlite postgresql [--profile]

``--profile`` runs one more full sync under cProfile and adds its top functions to the result.
Writes benchmarks/results/aaf_sync_<persons>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path[:0] = [str(HERE), str(HERE.parent)]

from measure import Database, compile_hub, measured, median_run  # noqa: E402

# The physical limit of a sync: parse every request and look at every attribute and value once
RAW_READ = """
import sys
from lxml import etree
count = values = 0
for name in sys.argv[1:]:
    for _, elem in etree.iterparse(name, events=("end",), tag=("addRequest", "modifyRequest", "deleteRequest"),
                                   resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True):
        count += 1
        for attr in elem.iter("attr", "modification"):
            name_ = attr.get("name")
            values += len([v.text for v in attr])
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
print(count, "records", values, "values")
"""

# A full sync in process, timing separately the wait for the reader's items (see the module docstring)
CORE = """
import cProfile, pstats, io, sys, time
from hub.app import Hub
from hub.settings import load_settings
from hub.sync.reader_process import InChild
from hub.sync.run import SyncOptions, sync

hub = Hub(load_settings())
reading = 0.0
call = hub.plugins.call

def timed(items):
    global reading
    items = iter(items)
    while True:
        started = time.perf_counter()
        try:
            item = next(items)
        except StopIteration:
            reading += time.perf_counter() - started
            return
        reading += time.perf_counter() - started
        yield item

def wrapped(source, hook, **kwargs):
    feed = call(source, hook, **kwargs)
    if hook == "hub_read_directory":
        if isinstance(feed.items, InChild):  # the children's batches are waited for; the core's own part timed
            converted = feed.items.converted
            feed.items.converted = lambda *args: timed(converted(*args))
        else:
            feed.items = timed(feed.items)
    return feed

hub.plugins.call = wrapped
profiler = cProfile.Profile() if sys.argv[1] == "profile" else None
started = time.perf_counter()
if profiler:
    profiler.enable()
report = sync(hub.engine, hub.settings, hub.plugins, SyncOptions(("aaf",)))
if profiler:
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue(), file=sys.stderr)
total = time.perf_counter() - started
persons = report.total.persons
print(f"{persons} persons, {total:.2f} s, reading {reading:.2f} s, core {total - reading:.2f} s, "
      f"{persons / (total - reading):.0f} persons/s")
"""


def upgrade(db: Database, env: dict) -> dict:
    """``env`` pointing the hub at ``db``, once its schema is created."""
    env = {**env, "HUB_DATABASE_URL": db.url}
    subprocess.run([HUB, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
    return env


def bench_database(kind: str, work: Path, env: dict, changed: list[str], profile: bool, core_runs: int) -> dict:
    """Full sync (in process, the reader's share timed apart), empty re-run, 1 % Delta; the full sync
    ``core_runs`` times in all; then maybe a profile."""
    from plugins.aaf import writer

    result: dict = {}
    db = Database(kind, work)
    try:
        env = upgrade(db, env)
        result["full_sync"] = measured_cpu([sys.executable, "-c", CORE, "plain"], env)
        result["core"] = result["full_sync"]["last_line"]
        result["second_sync_empty_plan"] = measured_cpu([HUB, "sync", "aaf"], env)
        deltas = []
        for day in range(1, core_runs + 1):  # a day's Delta each: 1 % of the pupils renamed again
            delta = [("modify", "Eleve", j, {"sn": f"CHANGÉ {day} {j}"}) for j in changed]
            files = writer.write_delta(work / "aaf", delta, stamp=f"202701{day:02}")
            deltas.append(measured_cpu([HUB, "sync", "aaf"], {**env, "HUB_PLUGINS__AAF__MODE": "delta"}))
            for old in files:
                old.unlink()
        result["incremental_1pct_runs"] = [d["seconds"] for d in deltas]
        result["incremental_1pct"] = median_run(deltas)
    finally:
        db.drop()
    runs = [result["full_sync"]]
    for _ in range(core_runs - 1):  # the same full sync again, each into a fresh database: medians below
        db = Database(kind, work)
        try:
            runs.append(measured_cpu([sys.executable, "-c", CORE, "plain"], upgrade(db, env)))
        finally:
            db.drop()
    result["full_sync_runs"] = [{"seconds": r["seconds"], "core": r["last_line"]} for r in runs]
    result["full_sync_median_seconds"] = statistics.median(r["seconds"] for r in runs)
    result["core_median_persons_per_second"] = statistics.median(
        int(r["last_line"].split()[-2]) for r in runs)
    if profile:
        db = Database(kind, work)
        try:
            env = upgrade(db, env)
            core = subprocess.run([sys.executable, "-c", CORE, "profile"], env={**os.environ, **env},
                                  capture_output=True, text=True, check=True)  # fmt: skip
            result["core_profile"] = core.stderr.strip().splitlines()[:45]
        finally:
            db.drop()
    return result


def measured_cpu(cmd: list[str], env: dict) -> dict:
    """`measured`, plus the CPU seconds (user + system, the reader's process included): the machine may be busy."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M cpu=%U+%S", *cmd], env={**os.environ, **env},
                            capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")
    rss, cpu = result.stderr.strip().splitlines()[-1].split()
    user, system = cpu.removeprefix("cpu=").split("+")
    lines = [line for line in result.stdout.strip().splitlines() if line.strip()]
    return {"seconds": round(seconds, 2), "cpu_seconds": round(float(user) + float(system), 2),
            "peak_rss_mib": round(int(rss.removeprefix("maxrss_kb=")) / 1024, 1),
            "last_line": lines[-1] if lines else ""}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite"])
    parser.add_argument("--profile", action="store_true", help="run the core step under cProfile")
    parser.add_argument("--core-runs", type=int, default=3, help="full syncs and Deltas per database (medians)")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temporary folder)")
    args = parser.parse_args()
    compile_hub()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "hub.toml").write_text(
        textwrap.dedent(f"""\
        [plugins]
        enabled = ["aaf"]
        [plugins.aaf]
        path = "{work / "aaf"}"
        school_year = 2026
        """)
    )
    env = {"HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": f"sqlite:///{work / 'generate.db'}"}
    subprocess.run([HUB, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
    for old in (work / "aaf").glob("*.xml"):
        old.unlink()
    generate = measured([HUB, "demo", "--persons", str(args.persons), "generate"], env)
    files = sorted(str(p) for p in (work / "aaf").glob("*.xml"))
    baseline = measured_cpu([sys.executable, "-c", RAW_READ, *files], env)

    from hub.demo import generate_academie

    pupils = [p.jointure for p in generate_academie(args.persons, seed=1, school_year=2026).persons_of("eleve")]
    changed = pupils[:: max(1, len(pupils) // max(1, args.persons // 100))][: args.persons // 100]
    result: dict = {
        "benchmark": "aaf_sync",
        "persons_requested": args.persons,
        "records": int(baseline["last_line"].split()[0]),
        "files_mib": round(sum(Path(f).stat().st_size for f in files) / 2**20, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "generate": generate,
        "raw_read": baseline,
    }
    for kind in args.databases:
        numbers = result[kind] = bench_database(kind, work, env, changed, args.profile, args.core_runs)
        numbers["full_sync"]["records_per_second"] = round(result["records"] / numbers["full_sync"]["seconds"])
        numbers["ratio_full_sync_to_raw"] = round(numbers["full_sync_median_seconds"] / baseline["seconds"], 2)
        numbers["ratio_second_sync_to_raw"] = round(
            numbers["second_sync_empty_plan"]["seconds"] / baseline["seconds"], 2
        )
        numbers["ratio_full_sync_cpu_to_raw"] = round(numbers["full_sync"]["cpu_seconds"] / baseline["cpu_seconds"], 2)
        numbers["incremental_share_of_full"] = round(
            numbers["incremental_1pct"]["seconds"] / numbers["full_sync_median_seconds"], 3
        )
    out = HERE / "results" / f"aaf_sync_{args.persons}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
