"""Benchmark: the year rollover with CM2 → 6e and 3e leaving, on the demo académie.

Year 2025-2026 is generated and synced; then the académie's files for 2026-2027 are made from
it as the académie would send them: every class gets a new code, each CM2 pupil is in a 6e class
of their école's secteur collège (same INE), each 3e pupil has left for the lycée (out of the
files). The rollover sync (forced: every pupil changes class) archives last year's classes,
moves the CM2 pupils with their parents, starts the 3e pupils' grace period, and writes the
collèges' ENT (ent_kosmos, not called) its outbox rows; then it runs again and must find nothing to do.
Each `hub` step runs as its own process (peak RSS by GNU time).

    python benchmarks/rollover.py --persons 100000

Writes benchmarks/results/rollover_<persons>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

from aaf_files import records, rewrite, set_attr  # noqa: E402
from measure import measured  # noqa: E402

SUFFIX = "-27"


def next_year_files(aaf: Path) -> dict[str, int]:
    """Rewrite the Complet set in place as next year's: new class codes, CM2 → 6e, 3e gone."""
    structures = {id_: attrs for id_, attrs in records(aaf, "EtabEducNat")}
    structure_of_uai = {a["ENTStructureUAI"][0]: id_ for id_, a in structures.items()}
    secteur = {id_: structure_of_uai[a["HubSecteurCollege"][0]] for id_, a in structures.items()
               if a.get("HubSecteurCollege") and a["HubSecteurCollege"][0] in structure_of_uai}
    sixieme = {id_: next((c.split("$")[0] for c in a.get("ENTStructureClasses", []) if c.startswith("6")), None)
               for id_, a in structures.items()}
    counts = {"cm2_to_6e": 0, "left_after_3e": 0, "classes_renamed": 0}

    def renamed(value: str) -> str:  # structure$code[$subject…]
        tokens = value.split("$")
        tokens[1] += SUFFIX
        return "$".join(tokens)

    def structure(id_, attrs, request):
        if attrs.get("ENTStructureClasses"):
            counts["classes_renamed"] += len(attrs["ENTStructureClasses"])
            set_attr(request, "ENTStructureClasses",
                     *(f"{v.split('$')[0]}{SUFFIX}${v.split('$', 1)[1]}" for v in attrs["ENTStructureClasses"]))

    def pupil(id_, attrs, request):
        niveau = (attrs.get("ENTEleveNivFormation") or [""])[0]
        school = attrs["ENTPersonStructRattach"][0]
        if niveau.startswith("3"):
            counts["left_after_3e"] += 1
            return True
        college = secteur.get(school)
        if niveau == "CM2" and college and sixieme.get(college):
            counts["cm2_to_6e"] += 1
            set_attr(request, "ENTPersonStructRattach", college)
            set_attr(request, "ENTEleveClasses", f"{college}${sixieme[college]}{SUFFIX}")
            set_attr(request, "ENTEleveGroupes")
            set_attr(request, "ENTEleveNivFormation", "6EME")
        elif attrs.get("ENTEleveClasses"):
            set_attr(request, "ENTEleveClasses", *(renamed(v) for v in attrs["ENTEleveClasses"]))

    def teacher(id_, attrs, request):
        for name, values in attrs.items():
            if "Classes" in name and values:
                set_attr(request, name, *(renamed(v) for v in values))

    rewrite(aaf, "EtabEducNat", structure)
    rewrite(aaf, "Eleve", pupil)
    rewrite(aaf, "PersEducNat", teacher)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-bench-rollover-"))
    work.mkdir(parents=True, exist_ok=True)
    for leftover in [*work.glob("hub.db*"), *work.glob("aaf/*")]:
        leftover.unlink()
    db = work / "hub.db"
    env = {"HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": f"sqlite:///{db}"}

    def configure(year: int) -> None:
        (work / "hub.toml").write_text(textwrap.dedent(f"""\
            [plugins]
            enabled = ["aaf", "ent_kosmos"]
            [plugins.ent_kosmos]
            scim_url = "http://127.0.0.1:9/scim/v2"  # never called: the outbox rows are the measure
            [plugins.aaf]
            path = "{work / 'aaf'}"
            school_year = {year}
            [continuity]
            rollover = "08-25"
            """))

    configure(2025)
    measured([HUB, "db", "upgrade"], env)
    measured([HUB, "demo", "--persons", str(args.persons), "generate"], env)
    first = measured([HUB, "sync", "aaf"], env)
    started = time.perf_counter()
    edits = next_year_files(work / "aaf")
    edit_seconds = round(time.perf_counter() - started, 2)
    configure(2026)
    rollover = measured([HUB, "sync", "aaf", "--force"], env)
    with sqlite3.connect(db) as conn:
        counts = json.loads(conn.execute("select counts from run where action = 'sync' order by id desc").fetchone()[0])
        outbox = conn.execute("select count(*) from outbox").fetchone()[0]
    again = measured([HUB, "sync", "aaf"], env)
    with sqlite3.connect(db) as conn:
        again_counts = json.loads(conn.execute("select counts from run where action = 'sync' order by id desc")
                                  .fetchone()[0])
    result = {
        "benchmark": "rollover",
        "persons_requested": args.persons,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "first_sync": first,
        "next_year_files": {**edits, "seconds_to_write": edit_seconds},
        "rollover_sync": {**rollover, "counts": {k: v for k, v in counts.items()
                                                  if k.startswith(("person.", "group.", "membership."))}},
        "rollover_run_again": {**again, "people_or_groups_changed": sum(
            v for k, v in again_counts.items() if k.startswith(("person.", "group.")))},
        "outbox_rows": outbox,
    }
    out = HERE / "results" / f"rollover_{args.persons}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
