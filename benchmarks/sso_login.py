"""Benchmark: complete SSO logins per second through the hub under gunicorn (2 workers).

Each login is the whole browser path with a fresh cookie jar: app → hub /oidc/authorize →
hub SAML SP → the pysaml2 test IdP (its own process, same machine) → its login form →
the hub's ACS → /oidc/authorize → code → /oidc/token → /oidc/userinfo.
Staff of the demo académie log in in turn (the first login of each links the account,
later ones reuse the link). Sessions, codes and the replay cache are in Redis.

Measured after a warm-up of every worker: logins per second, p50/p90/p99/max latency of
one whole login, and CPU seconds per login spent by the hub's gunicorn processes, apart
from the IdP's and this driver's.

    python benchmarks/sso_login.py --logins 300 --clients 4

Writes benchmarks/results/sso_login.json.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "sso")]

from oidc_rp import authorize_url, pkce  # noqa: E402
from sso_env import free_port, make_key_pair  # noqa: E402

IDP_SCRIPT = """
import logging, sys, time, warnings
warnings.simplefilter("ignore")
logging.getLogger("werkzeug").setLevel(logging.ERROR)
sys.path[:0] = {paths!r}
from pathlib import Path
from saml_idp import TestIdp, serve
idp = TestIdp({port}, Path({key!r}), Path({cert!r}), {sp_metadata!r})
idp.users.update({users!r})
serve(idp.app, {port})
print("ready", flush=True)
time.sleep(10**6)
"""


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {seconds} s")


_local = threading.local()


def _clients() -> tuple[httpx.Client, httpx.Client]:
    """This thread's browser and app (one connection pool each: making clients costs more than a login hop)."""
    if not hasattr(_local, "clients"):
        _local.clients = (httpx.Client(timeout=30), httpx.Client(timeout=30))
    return _local.clients


def one_login(hub: str, idp: str, username: str) -> float:
    started = time.perf_counter()
    verifier, challenge = pkce()
    browser, app = _clients()
    browser.cookies.clear()  # a new browser for each login
    answer = browser.get(
        authorize_url(
            type("S", (), {"base": hub}),
            "bench",
            challenge,
            nonce=uuid.uuid4().hex,
            redirect_uri="https://app.bench/cb",
        )
    )
    while not answer.headers["location"].startswith(idp):
        answer = browser.get(httpx.URL(str(answer.url)).join(answer.headers["location"]))
    form = browser.get(answer.headers["location"])
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', form.text)}
    posted = browser.post(f"{idp}/sso", data={**fields, "username": username})
    action = html.unescape(re.search(r'action="([^"]+)"', posted.text).group(1))
    data = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', posted.text)}
    answer = browser.post(action, data=data)
    answer = browser.get(f"{hub}{answer.headers['location']}")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = app.post(
        f"{hub}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://app.bench/cb",
            "code_verifier": verifier,
            "client_id": "bench",
        },
    ).json()
    info = app.get(f"{hub}/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and "uai" in info.json(), info.text
    return time.perf_counter() - started


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()  # with the reaped children (pysaml2 may run xmlsec1)
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4, help="browsers logging in at the same time")
    parser.add_argument("--persons", type=int, default=2000, help="size of the demo académie")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="sso-bench-"))
    keys = {}
    for name in ("sp", "idp", "oidc"):
        keys[f"{name}_key"], keys[f"{name}_cert"] = make_key_pair(root, name)
    hub_port, idp_port = free_port(), free_port()
    hub, idp = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{idp_port}"
    (root / "hub.toml").write_text(
        textwrap.dedent(f"""
        [plugins]
        enabled = ["aaf"]
        [plugins.aaf]
        path = "{root / "aaf"}"
        school_year = 2026
        [sso]
        enabled = true
        base_url = "{hub}"
        sp_cert_file = "{keys["sp_cert"]}"
        redis_url = "redis://127.0.0.1:6379/6"
        redis_prefix = "bench:{uuid.uuid4().hex}:"
        [sso.idps.agents]
        metadata_url = "{idp}/metadata"
        profiles = ["enseignant", "personnel"]
        [sso.clients.bench]
        public = true
        redirect_uris = ["https://app.bench/cb"]
        claims = ["given_name", "family_name", "profile", "uai", "classes"]
        """)
    )
    env = {
        **os.environ,
        "HUB_CONFIG": str(root / "hub.toml"),
        "HUB_DATABASE_URL": f"sqlite:///{root / 'hub.db'}",
        "HUB_SSO__SP_PRIVATE_KEY_FILE": str(keys["sp_key"]),
        "HUB_SSO__OIDC_SIGNING_KEYS_FILE": str(keys["oidc_key"]),
        "HUB_SSO__PAIRWISE_SALT": uuid.uuid4().hex,
    }
    hub_bin = str(Path(sys.executable).with_name("hub"))
    for step in (["db", "upgrade"], ["demo", "--persons", str(args.persons), "generate"], ["sync", "aaf"]):
        subprocess.run([hub_bin, *step], env=env, check=True, capture_output=True)
    import sqlite3

    with sqlite3.connect(root / "hub.db") as conn:
        staff = [
            j
            for (j,) in conn.execute(
                "select jointure from person where kind in ('enseignant', 'personnel') "
                "and status = 'active' order by jointure"
            )
        ]
    users = {f"u{i}": {"ENTPersonJointure": [j]} for i, j in enumerate(staff)}

    idp_process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            IDP_SCRIPT.format(
                paths=[str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "sso")],
                port=idp_port,
                key=str(keys["idp_key"]),
                cert=str(keys["idp_cert"]),
                sp_metadata=f"{hub}/saml/metadata",
                users=users,
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-w",
            str(args.workers),
            "-k",
            "gthread",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{hub_port}",
            "--log-level",
            "warning",
            "hub.app:create_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        assert idp_process.stdout.readline().strip() == "ready"
        wait_for(f"{hub}/healthz")
        # warm up every worker (imports, the IdP's metadata, compiled schemas and queries) with the same number
        # of browsers as the measure: a worker's first login costs ~100× a later one, and it is not a login rate
        warm_up = [
            threading.Thread(target=lambda n=n: [one_login(hub, idp, f"u{(n * 4 + i) % len(users)}") for i in range(4)])
            for n in range(args.clients)
        ]
        for t in warm_up:
            t.start()
        for t in warm_up:
            t.join()
        hub_processes = [psutil.Process(gunicorn.pid), *psutil.Process(gunicorn.pid).children(recursive=True)]
        idp_ps = psutil.Process(idp_process.pid)
        hub_cpu, idp_cpu = cpu_seconds(hub_processes), cpu_seconds([idp_ps, *idp_ps.children(recursive=True)])
        latencies: list[float] = []
        errors: list[str] = []
        counter = iter(range(args.logins))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                try:
                    latencies.append(one_login(hub, idp, f"u{n % len(users)}"))
                except Exception as exc:  # counted, and the first ones shown
                    errors.append(repr(exc)[:200])

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        hub_cpu = cpu_seconds(hub_processes) - hub_cpu
        idp_cpu = cpu_seconds([idp_ps, *idp_ps.children(recursive=True)]) - idp_cpu
    finally:
        gunicorn.terminate()
        idp_process.terminate()
        gunicorn.wait()
        idp_process.wait()
        shutil.rmtree(root, ignore_errors=True)
    latencies.sort()
    done = len(latencies)
    result = {
        "benchmark": "sso_login",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "workers": args.workers,
        "clients": args.clients,
        "persons": args.persons,
        "logins": done,
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(wall, 2),
        "logins_per_second": round(done / wall, 1),
        "latency_ms": {
            "p50": round(latencies[done // 2] * 1000, 1),
            "p90": round(latencies[int(done * 0.9)] * 1000, 1),
            "p99": round(latencies[min(done - 1, int(done * 0.99))] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
        "hub_cpu_ms_per_login": round(hub_cpu / done * 1000, 1),
        "idp_cpu_ms_per_login": round(idp_cpu / done * 1000, 1),
        "note": "hub CPU = the gunicorn master and workers; the IdP (pysaml2, signing with python-xmlsec) "
        "and this driver apart",
    }
    out = HERE / "results" / "sso_login.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
