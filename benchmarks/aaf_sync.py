"""Benchmark: full AAF sync of a synthetic académie on SQLite, then the same run again (empty plan).

Baseline: raw ``lxml.etree.iterparse`` over the same files. Each measured step runs
as its own process, its peak RSS taken by GNU time (Debian package ``time``).

    python benchmarks/aaf_sync.py --persons 100000

Writes benchmarks/results/aaf_sync_<persons>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path.insert(0, str(HERE))

from measure import RAW_ITERPARSE, measured  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temporary folder)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "hub.toml").write_text(textwrap.dedent(f"""\
        [plugins]
        enabled = ["aaf"]
        [plugins.aaf]
        path = "{work / 'aaf'}"
        school_year = 2026
        """))
    db = work / "hub.db"
    for leftover in work.glob("hub.db*"):
        leftover.unlink()
    env = {**os.environ, "HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": f"sqlite:///{db}"}

    subprocess.run([HUB, "db", "upgrade"], env=env, check=True, capture_output=True)
    generate = measured([HUB, "demo", "--persons", str(args.persons), "generate"], env)
    files = sorted(str(p) for p in (work / "aaf").glob("*.xml"))
    baseline = measured([sys.executable, "-c", RAW_ITERPARSE, *files], env)
    first = measured([HUB, "sync", "aaf"], env)
    again = measured([HUB, "sync", "aaf"], env)

    result = {
        "benchmark": "aaf_sync",
        "persons_requested": args.persons,
        "records": int(baseline["last_line"].split()[0]),
        "files_mib": round(sum(Path(f).stat().st_size for f in files) / 2**20, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "generate": generate,
        "raw_iterparse": baseline,
        "full_sync": first,
        "second_sync_empty_plan": again,
    }
    result["full_sync"]["records_per_second"] = round(result["records"] / first["seconds"])
    result["ratio_full_sync_to_iterparse"] = round(first["seconds"] / baseline["seconds"], 2)
    result["ratio_second_sync_to_iterparse"] = round(again["seconds"] / baseline["seconds"], 2)
    out = HERE / "results" / f"aaf_sync_{args.persons}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
