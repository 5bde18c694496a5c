"""Benchmark: the same synthetic académie through LDAP (slapd) and AAF files, at several sizes.

For each size and source: the raw read alone (lxml iterparse; for LDAP: ldapsearch,
python-ldap and ldap3, each a plain paged search of the attributes the hub reads),
the full hub sync (read → plan → apply) on SQLite and PostgreSQL, for LDAP with each
client (``[plugins.ldap] client``: ldap3, python-ldap), the incremental
sync with 1 % of the people changed (twice: the first LDAP incremental after a
slapadd re-reads every entry stamped in the load's last second, which after a bulk
load is all of them; the second is the steady state), and the peak RSS of every
step, each its own process.

    python benchmarks/sync_scale.py --sizes 10000 100000 1000000
    python benchmarks/sync_scale.py --sizes 100000 --sources ldap --databases sqlite --ldap-clients python-ldap
    python benchmarks/sync_scale.py --sizes 1000000 --sources ldap --ldap-clients python-ldap --runs 3

``--runs 3`` measures the full sync three times (each into a fresh database) and the steady
incremental three times, and keeps the medians: one run's time swings by 10 % on a shared machine.

LDAP ratios (``ratio_to_raw``) are to the raw python-ldap read, the issue's yardstick
(``ratio_to_raw_ldap3`` beside it).

Writes benchmarks/results/sync_scale.json (one entry per size, merged with what is
there). Needs slapd (see tests/slapd.py) and PostgreSQL on 127.0.0.1:5432 for the
PostgreSQL half (`--databases sqlite` skips it).
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # the repository first: tests/plugins must not hide the plugins package
sys.path.append(str(HERE.parent / "tests"))  # for tests/slapd.py

from measure import RAW_ITERPARSE, Database, compile_hub, measured, median_run  # noqa: E402
from slapd import Slapd  # noqa: E402

from hub.demo import generate_academie  # noqa: E402
from plugins.aaf import writer as aaf_writer  # noqa: E402
from plugins.ldap_directory import reader  # noqa: E402
from plugins.ldap_directory.hookimpl import hub_write_demo as write_ldif  # noqa: E402

HUB = str(Path(sys.executable).with_name("hub"))
RESULTS = HERE / "results" / "sync_scale.json"


RAW_LDAP = """
import sys
from ldap3 import SUBTREE, Connection, Server
from plugins.ldap_directory import reader
url, bind_dn, password, base = sys.argv[1:5]
names = reader.DEFAULT_ATTRIBUTES
conn = Connection(Server(url), bind_dn, password, auto_bind=True, raise_exceptions=True)
count = 0
for flt, wanted in (("(objectClass=ENTStructure)", reader.STRUCTURE_ATTRIBUTES),
                    ("(objectClass=ENTPerson)", reader.PERSON_ATTRIBUTES)):
    attributes = [names[n] for n in (*wanted, reader.TIMESTAMP) if names.get(n)]
    for entry in conn.extend.standard.paged_search(base, flt, SUBTREE, attributes=attributes, paged_size=1000,
                                                   generator=True):
        count += entry["type"] == "searchResEntry"
print(count, "entries")
"""

# The same search through python-ldap (libldap): one page after the other, every value touched (counted)
RAW_PYTHON_LDAP = """
import sys
import ldap
from ldap.controls import SimplePagedResultsControl
from plugins.ldap_directory import reader
url, bind_dn, password, base = sys.argv[1:5]
names = reader.DEFAULT_ATTRIBUTES
conn = ldap.initialize(url)
conn.simple_bind_s(bind_dn, password)
count = values = 0
for flt, wanted in (("(objectClass=ENTStructure)", reader.STRUCTURE_ATTRIBUTES),
                    ("(objectClass=ENTPerson)", reader.PERSON_ATTRIBUTES)):
    attributes = [names[n] for n in (*wanted, reader.TIMESTAMP) if names.get(n)]
    page = SimplePagedResultsControl(True, size=1000, cookie="")
    while True:
        _, data, _, controls = conn.result3(conn.search_ext(base, ldap.SCOPE_SUBTREE, flt, attributes,
                                                            serverctrls=[page]))
        for _, entry in data:
            count += 1
            values += sum(len(v) for v in entry.values())
        page.cookie = next(c.cookie for c in controls if c.controlType == page.controlType)
        if not page.cookie:
            break
print(count, "entries", values, "values")
"""

# OpenLDAP's own client, output thrown away: the floor for any reader
RAW_LDAPSEARCH = """
for flt in "(objectClass=ENTStructure)" "(objectClass=ENTPerson)"; do
  ldapsearch -x -LLL -H "$1" -D "$2" -w "$3" -b "$4" -E pr=1000/noprompt "$flt" $5
done | grep -c '^dn:'
"""


def python_ldap_missing() -> str | None:
    try:
        import ldap  # noqa: F401
    except ImportError as exc:
        return f"python-ldap not installed ({exc}): pip install -e '.[ldap-c]'"
    return None


def hub_env(config: Path, db: Database, **extra: str) -> dict:
    return {"HUB_CONFIG": str(config), "HUB_DATABASE_URL": db.url, **extra}


def run_source(source: str, config: Path, databases: list[str], work: Path, env: dict, change, runs: int) -> dict:
    """Full sync, then 1 % changed and the incremental sync, on each database; with ``runs`` > 1, the steady
    incremental ``runs`` times and the full sync ``runs`` times in all (each into a fresh database), medians kept:
    the machine's load swings."""
    results = {}
    for kind in databases:
        fulls, steady = [], []
        for run in range(runs):
            db = Database(kind, work)
            try:
                environment = hub_env(config, db, **env)
                subprocess.run([HUB, "db", "upgrade"], env={**os.environ, **environment}, check=True,
                               capture_output=True)  # fmt: skip
                fulls.append(measured([HUB, "sync", source], environment))
                if run == 0:
                    first = measured([HUB, "sync", source], change(environment))
                    steady = [measured([HUB, "sync", source], change(environment)) for _ in range(runs)]  # see below
            finally:
                db.drop()
        full, again = median_run(fulls), median_run(steady)
        results[kind] = {
            "full_sync": full,
            "incremental_1pct_first": first,
            "incremental_1pct": again,
            "incremental_share_of_full": round(again["seconds"] / full["seconds"], 3),
        }
        if runs > 1:
            results[kind]["full_sync_runs"] = [r["seconds"] for r in fulls]
            results[kind]["incremental_1pct_runs"] = [r["seconds"] for r in steady]
    return results


def bench_size(size: int, databases: list[str], sources: list[str], ldap_clients: list[str], runs: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"hub-scale-{size}-"))
    academie = generate_academie(persons=size, seed=1, school_year=2026)
    result: dict = {"persons": size, "counts": {str(k): n for k, n in academie.counts().items()}}
    pupils = [p.jointure for p in academie.persons_of("eleve")]
    changed = pupils[:: max(1, len(pupils) // max(1, size // 100))][: size // 100]  # 1 % of the people

    if "aaf" in sources:
        aaf_dir = work / "aaf"
        started = time.perf_counter()
        files = aaf_writer.write_academie(academie, aaf_dir)
        result["aaf_write_seconds"] = round(time.perf_counter() - started, 2)
        config = work / "aaf.toml"
        config.write_text(f'[plugins]\nenabled = ["aaf"]\n[plugins.aaf]\npath = "{aaf_dir}"\nschool_year = 2026\n')
        baseline = measured([sys.executable, "-c", RAW_ITERPARSE, *map(str, files)])

        deltas = iter(range(1, 100))

        def aaf_delta(environment: dict) -> dict:
            n = next(deltas)
            for old in aaf_dir.glob("*Delta*"):
                old.unlink()
            aaf_writer.write_delta(
                aaf_dir, [("modify", "Eleve", j, {"sn": f"CHANGÉ {n}"}) for j in changed], stamp=f"202701{n:02d}"
            )
            return {**environment, "HUB_PLUGINS__AAF__MODE": "delta"}

        syncs = run_source("aaf", config, databases, work, {}, aaf_delta, runs)
        result["aaf"] = {"raw_iterparse": baseline, **syncs}
        for numbers in syncs.values():
            numbers["ratio_to_raw"] = round(numbers["full_sync"]["seconds"] / baseline["seconds"], 2)

    if "ldap" in sources:
        ldif = write_ldif(settings=None, academie=academie, directory=work / "ldap")[0]
        started = time.perf_counter()
        with Slapd(seed=[ldif]) as server:
            result["slapadd_and_start_seconds"] = round(time.perf_counter() - started, 2)
            secret = {"HUB_PLUGINS__LDAP__BIND_PASSWORD": server.root_password}
            login = [server.url, server.root_dn, server.root_password, server.suffix]
            raw = {"PYTHONPATH": str(HERE.parent)}
            names = reader.DEFAULT_ATTRIBUTES
            wanted = " ".join(
                names[n]
                for n in (*reader.STRUCTURE_ATTRIBUTES, *reader.PERSON_ATTRIBUTES, reader.TIMESTAMP)
                if names.get(n)
            )
            result["ldap"] = {
                "raw_ldapsearch": measured(["sh", "-c", RAW_LDAPSEARCH, "ldapsearch", *login, wanted]),
                "raw_ldap3_paged_search": measured([sys.executable, "-c", RAW_LDAP, *login], raw),
            }
            if missing := python_ldap_missing():
                result["ldap"]["raw_python_ldap"] = {"skipped": missing}
                ldap_clients = [c for c in ldap_clients if c != "python-ldap"]
            else:
                result["ldap"]["raw_python_ldap"] = measured([sys.executable, "-c", RAW_PYTHON_LDAP, *login], raw)

            def ldap_modify(environment: dict) -> dict:
                time.sleep(1.1)  # modifyTimestamp has a one-second resolution
                conn = server.connection()
                for jointure in changed:
                    dn = next(
                        iter(
                            conn.extend.standard.paged_search(
                                server.suffix,
                                f"(ENTPersonJointure={jointure})",
                                attributes=["sn"],
                                paged_size=10,
                                generator=False,
                            )
                        )
                    )["dn"]
                    conn.modify(dn, {"sn": [("MODIFY_REPLACE", [f"CHANGÉ {time.time_ns()}"])]})
                conn.unbind()
                return environment

            for client in ldap_clients:
                config = work / f"ldap-{client}.toml"
                config.write_text(
                    textwrap.dedent(f"""\
                    [plugins]
                    enabled = ["ldap"]
                    [plugins.ldap]
                    url = "{server.url}"
                    bind_dn = "{server.root_dn}"
                    base_dn = "{server.suffix}"
                    school_year = 2026
                    client = "{client}"
                    """)
                )
                result["ldap"][client] = run_source("ldap", config, databases, work, secret, ldap_modify, runs)
        raws = result["ldap"]
        for client in ldap_clients:
            for numbers in raws[client].values():
                full = numbers["full_sync"]["seconds"]
                if "seconds" in raws["raw_python_ldap"]:
                    numbers["ratio_to_raw"] = round(full / raws["raw_python_ldap"]["seconds"], 2)
                numbers["ratio_to_raw_ldap3"] = round(full / raws["raw_ldap3_paged_search"]["seconds"], 2)
    subprocess.run(["rm", "-rf", str(work)], check=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--sources", nargs="+", default=["aaf", "ldap"])
    parser.add_argument(
        "--ldap-clients",
        nargs="+",
        default=["ldap3", "python-ldap"],
        choices=["ldap3", "python-ldap"],
        help="the LDAP readers whose hub sync is measured",
    )
    parser.add_argument("--runs", type=int, default=1, help="full syncs and steady incrementals each: medians kept")
    args = parser.parse_args()
    compile_hub()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    for size in args.sizes:
        measured_size = bench_size(size, args.databases, args.sources, args.ldap_clients, args.runs)
        results.setdefault(str(size), {}).update(measured_size)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results[str(size)], indent=2), flush=True)


if __name__ == "__main__":
    main()
