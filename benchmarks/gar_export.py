"""Benchmark: a GAR Complet export of the demo académie (every establishment, the five files each).

The académie is generated and synced from its AAF files first; then ``hub gar export --mode
complet`` runs twice as its own process (peak RSS by GNU time): the first run draws every
person's GAR id, the second is the steady state and is the one reported. The export's own
summary gives its wall time (reading the store, building, validating, packing: all but the
command's start) and the CPU time of each part, summed over the processes that build and
validate batches of establishments on every core (``[plugins.gar] processes``).

Then the archive alone (``--archive-only``, what a delivery builds), with a process per core and
with one, for the speed-up.

    python benchmarks/gar_export.py --persons 100000

    python benchmarks/gar_export.py --persons 1000000 --workdir DIR [--reuse]

Writes benchmarks/results/gar_export_<persons>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path[:0] = [str(HERE)]

from measure import measured  # noqa: E402


def export(work: Path, env: dict, name: str, *options: str) -> dict:
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    step = measured([HUB, "gar", "export", "--mode", "complet", "--out", str(out), *options], env)
    summary = json.loads(next(out.glob("*.summary.json")).read_text())
    persons = summary["persons"]
    step.update(
        {
            "persons_written": persons,
            "establishments": len(summary["establishments"]),
            "files": len(summary["files"]),
            "xml_mib": round(sum(p.stat().st_size for p in out.glob("*.xml")) / 2**20, 1) or None,
            "archive_mib": round((out / summary["archive"]).stat().st_size / 2**20, 1),
            "delivery_seconds": round(summary["seconds"], 2),
            "persons_per_second": round(persons / summary["seconds"]),  # written, validated and packed
            "build_cpu_seconds": round(summary["build_cpu_seconds"], 2),
            "validate_seconds": round(summary["validate_seconds"], 2),
            "validate_cpu_seconds": round(summary["validate_cpu_seconds"], 2),
            "pack_cpu_seconds": round(summary["pack_cpu_seconds"], 2),
            "persons_per_build_cpu_second": round(persons / summary["build_cpu_seconds"]),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    )
    shutil.rmtree(out)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the académie a previous run left in --workdir (no generate, no sync: only the exports run)",
    )
    args = parser.parse_args()
    if args.reuse and not (args.workdir and (args.workdir / "hub.db").exists()):
        parser.error("--reuse needs the --workdir of a previous run")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-bench-gar-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "hub.toml").write_text(
        textwrap.dedent(f"""\
        [plugins]
        enabled = ["aaf", "gar"]
        [plugins.aaf]
        path = "{work / "aaf"}"
        school_year = 2026
        [plugins.gar]
        id_ent = "ENTBENCH"
        """)
    )
    env = {"HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": f"sqlite:///{work / 'hub.db'}"}
    sync = None
    if not args.reuse:
        for leftover in work.glob("hub.db*"):
            leftover.unlink()
        measured([HUB, "db", "upgrade"], env)
        measured([HUB, "demo", "--persons", str(args.persons), "generate"], env)
        sync = measured([HUB, "sync", "aaf"], env)
    with sqlite3.connect(work / "hub.db") as db:
        stored = dict(db.execute("select kind, count(*) from person where status = 'active' group by kind"))
    first = export(work, env, "first")
    steady = export(work, env, "steady")
    # What a delivery builds: the archive alone, on every core and on one
    archive = export(work, env, "archive", "--archive-only")
    one_process = export(work, {**env, "HUB_PLUGINS__GAR__PROCESSES": "1"}, "archive-1", "--archive-only")
    result = {
        "benchmark": "gar_export",
        "persons_requested": args.persons,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "stored_persons": stored,  # parents are not sent to GAR
        "sync": sync,
        "first_export_drawing_ids": first,
        "export": steady,
        "archive_only": archive,
        "archive_only_one_process": one_process,
        "speed_up_of_processes": round(one_process["delivery_seconds"] / archive["delivery_seconds"], 2),
        "target_persons_per_second": 100_000,
    }
    out = HERE / "results" / f"gar_export_{args.persons}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
