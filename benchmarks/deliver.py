"""Benchmark: the demo académie delivered to a local SCIM server by the ent_kosmos target.

First provisioning (every collège account, class, member and parent link), then a 1 % change
day (1 % of the persons renamed in an AAF Delta, synced, delivered). The SCIM server
(scim2-server, in memory, Bulk on) runs in this process behind a WSGI timing middleware, so
the hub's own share is the delivery's wall time less the seconds spent inside the server.
Each `hub` step runs as its own process (peak RSS by GNU time).

    python benchmarks/deliver.py --persons 100000

Writes benchmarks/results/deliver_<persons>.json.
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
from pathlib import Path

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests" / "plugins" / "ent_kosmos")]

from measure import measured  # noqa: E402
from scim_server import TOKEN, serve  # noqa: E402

from plugins.aaf.writer import write_delta  # noqa: E402


def delivered(step: dict, server, before: tuple[float, int], changes: int) -> dict:
    seconds, requests = server.timing.seconds - before[0], server.timing.requests - before[1]
    step.update({"changes": changes, "changes_per_second": round(changes / step["seconds"]) if changes else 0,
                 "scim_requests": requests, "server_seconds": round(seconds, 2),
                 "hub_seconds": round(step["seconds"] - seconds, 2),
                 "hub_share": round((step["seconds"] - seconds) / step["seconds"], 2)})
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=100, help="[plugins.ent_kosmos] batch_size")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-bench-deliver-"))
    work.mkdir(parents=True, exist_ok=True)
    server = serve()
    (work / "hub.toml").write_text(textwrap.dedent(f"""\
        [plugins]
        enabled = ["aaf", "ent_kosmos"]
        [plugins.aaf]
        path = "{work / 'aaf'}"
        school_year = 2026
        [plugins.ent_kosmos]
        scim_url = "{server.url}"
        batch_size = {args.batch_size}
        [delivery]
        batch_size = 1000
        """))
    db = work / "hub.db"
    for leftover in work.glob("hub.db*"):
        leftover.unlink()
    env = {"HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": f"sqlite:///{db}",
           "HUB_PLUGINS__ENT_KOSMOS__TOKEN": TOKEN}
    measured([HUB, "db", "upgrade"], env)
    measured([HUB, "demo", "--persons", str(args.persons), "generate"], env)
    sync = measured([HUB, "sync", "aaf"], env)
    outbox = _count(db, "select count(*) from outbox where status = 'pending'")
    before = (server.timing.seconds, server.timing.requests)
    first = delivered(measured([HUB, "deliver"], env), server, before, outbox)

    with sqlite3.connect(db) as conn:
        ids = [j for (j,) in conn.execute("select jointure from person where kind = 'eleve' and jointure is not null "
                                          "order by person_key")]
    step = max(1, len(ids) // max(1, args.persons // 100))
    renamed = ids[::step][: max(1, args.persons // 100)]
    write_delta(work / "aaf", [("modify", "Eleve", j, {"givenName": "Renommé"}) for j in renamed],
                stamp="20260902", prefix="ENT_DEMO")
    day = measured([HUB, "sync", "aaf"], env)
    outbox_day = _count(db, "select count(*) from outbox where status = 'pending'")
    before = (server.timing.seconds, server.timing.requests)
    second = delivered(measured([HUB, "deliver"], env), server, before, outbox_day)
    server.stop()
    result = {
        "benchmark": "deliver",
        "persons_requested": args.persons,
        "batch_size": args.batch_size,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "sync": sync,
        "first_provisioning": first,
        "change_day": {"persons_renamed": len(renamed), "sync": day, "deliver": second},
        "scim_users": len(server.storage.resources),
        "dead": _count(db, "select count(*) from outbox where status = 'dead'"),
    }
    out = HERE / "results" / f"deliver_{args.persons}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


if __name__ == "__main__":
    main()
