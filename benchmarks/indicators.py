"""Benchmark: computing the console's indicators (connection rates, activation, families, targets, weekly rates)
over a département's worth of logins.

A demo académie is generated and synced (SQLite by default, or --database-url), then logins are
written as the SSO broker writes them: ``--logins`` rows spread over 12 weeks among the active
people (each logs in on a few days). Each view (per département, per establishment, and the
weekly series of one département) is computed ``--repeat`` times without the console's cache;
the best time is kept.

    python benchmarks/indicators.py --persons 8600 --logins 300000

Writes benchmarks/results/indicators_<logins>.json (…_postgresql.json on PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import textwrap
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).parent
HUB = str(Path(sys.executable).with_name("hub"))
sys.path[:0] = [str(HERE), str(HERE.parent)]

from measure import measured  # noqa: E402


def add_logins(engine, count: int, seed: int = 1) -> int:
    """``count`` logins of active people over the last 12 weeks; returns the distinct people who logged in."""
    from sqlalchemy import insert, select

    from hub.clock import now
    from hub.store.tables import login_event, person

    with engine.connect() as conn:
        people = conn.execute(
            select(person.c.person_key, person.c.uai, person.c.kind).where(
                person.c.status == "active", person.c.uai.is_not(None)
            )
        ).all()
    rng, moment = random.Random(seed), now()
    active = rng.sample(people, k=int(len(people) * 0.7))  # a third never logs in: activation is not 100 %
    rows = [
        dict(
            at=moment - timedelta(seconds=rng.randrange(12 * 7 * 86400)),
            person_key=key,
            uai=uai,
            profile=kind,
            client_id="ent",
            idp="educonnect",
        )
        for key, uai, kind in (rng.choice(active) for _ in range(count))
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 20_000):
            conn.execute(insert(login_event), rows[start : start + 20_000])
    return len({r["person_key"] for r in rows})


def timed(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return round(best, 3), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=8600)
    parser.add_argument("--logins", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="default: a SQLite file in the work folder")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hub-bench-indicators-"))
    work.mkdir(parents=True, exist_ok=True)
    for leftover in [*work.glob("hub.db*"), *work.glob("aaf/*")]:
        leftover.unlink()
    url = args.database_url or f"sqlite:///{work / 'hub.db'}"
    env = {"HUB_CONFIG": str(work / "hub.toml"), "HUB_DATABASE_URL": url}
    (work / "hub.toml").write_text(
        textwrap.dedent(f"""\
        [plugins]
        enabled = ["aaf"]
        [plugins.aaf]
        path = "{work / "aaf"}"
        school_year = 2026
        """)
    )
    measured([HUB, "db", "upgrade"], env)
    measured([HUB, "demo", "--persons", str(args.persons), "generate"], env)
    measured([HUB, "sync", "aaf"], env)

    from hub.app import Hub
    from hub.settings import HubSettings
    from hub.web import indicators

    hub = Hub(HubSettings(database_url=url))
    started = time.perf_counter()
    users = add_logins(hub.engine, args.logins)
    write_seconds = round(time.perf_counter() - started, 2)
    with hub.engine.connect() as conn:
        accounts = conn.execute(
            indicators.select(indicators.func.count())
            .select_from(indicators.person)
            .where(indicators.person.c.status == "active")
        ).scalar()
    snapshots = indicators.Snapshots(hub)
    views = {}
    for by in indicators.BY:
        seconds, snap = timed(lambda by=by: snapshots.get(by, None, 12, 0), args.repeat)
        views[by] = {"seconds": seconds, "scopes": len({r.scope for r in snap.rates})}
    departement = snap.rates[0].scope[:3]
    seconds, _ = timed(lambda: snapshots.get("departement", departement, 12, 0), args.repeat)
    views["departement_with_weekly_series"] = {"seconds": seconds, "scope": departement}
    result = {
        "benchmark": "indicators",
        "database": hub.engine.dialect.name,
        "persons_requested": args.persons,
        "active_accounts": accounts,
        "logins": args.logins,
        "people_who_logged_in": users,
        "seconds_to_write_logins": write_seconds,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "views_best_of": args.repeat,
        "views": views,
    }
    suffix = "" if hub.engine.dialect.name == "sqlite" else f"_{hub.engine.dialect.name}"
    out = HERE / "results" / f"indicators_{args.logins}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
