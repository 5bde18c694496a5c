"""Helpers of the console tests: the app served on 127.0.0.1, logins, a held run, logins as the SSO writes them."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import timedelta

import httpx
from aaf_files import drop, records
from hubtest import HubEnv
from sqlalchemy import insert
from werkzeug.serving import make_server

from hub.app import create_app
from hub.clock import now
from hub.settings import load_settings
from hub.store.tables import login_event

SECRET = "console-test-secret-0123456789abcdef"
TOTP_KEY = "bXkgdGVzdCBrZXksIDMyIGJ5dGVzIGxvbmcgLi4uLi4="  # a Fernet key: 32 bytes, URL-safe base64
PASSWORD = "correct-horse-battery-staple"
USERS = {"ada": "admin", "otto": "operator", "vic": "viewer"}
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Console:
    url: str
    env: HubEnv

    def client(self, user: str | None = None, *, password: str = PASSWORD, code: str = "") -> httpx.Client:
        """An HTTP client, logged in as ``user`` when given."""
        client = httpx.Client(base_url=self.url, timeout=60)
        if user:
            response = login(client, user, password, code)
            assert response.status_code == 302, response.text
        return client


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def login(client: httpx.Client, user: str, password: str = PASSWORD, code: str = "") -> httpx.Response:
    token = csrf_token(client.get("/admin/login").text)
    return client.post("/admin/login", data={"username": user, "password": password, "code": code,
                                             "csrf_token": token, "next": "/admin/"})


def add_users(env: HubEnv, users: dict[str, str] = USERS) -> None:
    for name, role in users.items():
        env.run("admin", "add-user", name, "--role", role, env={"HUB_ADMIN_PASSWORD": PASSWORD})


def configure(env: HubEnv, monkeypatch, extra: str = "", enabled: tuple[str, ...] = ("aaf",)) -> None:
    """Settings for a console on plain HTTP; the secret key from the environment, as in production."""
    env.write_config("[console]\nsecure_cookies = false\n" + extra, enabled=enabled)
    monkeypatch.setenv("HUB_CONSOLE__SECRET_KEY", SECRET)
    monkeypatch.setenv("HUB_CONSOLE__TOTP_KEY", TOTP_KEY)
    monkeypatch.setenv("HUB_DATABASE_URL", env.db_url)


def serve(env: HubEnv):
    """The hub's web app (what `hub serve` runs) on a free port of 127.0.0.1, in a thread."""
    server = make_server("127.0.0.1", 0, create_app(load_settings(env.config)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def hold_a_run(env: HubEnv) -> int:
    """Make the next AAF sync delete a third of the biggest collège's pupils: it is held. Returns its run id."""
    structures = {id_: attrs["ENTStructureUAI"][0] for id_, attrs in records(env.aaf_dir, "EtabEducNat")}
    colleges = {row.uai for row in env.rows("select uai from establishment where kind = 'college'")}
    by_uai: dict[str, list[str]] = {}
    for id_, attrs in records(env.aaf_dir, "Eleve"):
        uai = structures.get(attrs["ENTPersonStructRattach"][0])
        if uai in colleges:
            by_uai.setdefault(uai, []).append(id_)
    pupils = max(by_uai.values(), key=len)
    drop(env.aaf_dir, "Eleve", set(pupils[: len(pupils) // 3]))
    env.run("sync", "aaf", expect=3)
    run_id = env.scalar("select max(id) from run")
    assert env.scalar("select status from run where id = :r", r=run_id) == "held"
    return run_id


def add_logins(env: HubEnv, share: float, weeks: int = 3) -> dict[str, int]:
    """Logins (as the SSO broker writes them) of ``share`` of each establishment's pupils, once a week for
    ``weeks`` weeks; returns the number of distinct pupils logged in per UAI."""
    pupils = env.rows("select person_key, uai from person where kind = 'eleve' and status = 'active' "
                      "order by person_key")
    by_uai: dict[str, list[str]] = {}
    for key, uai in pupils:
        by_uai.setdefault(uai, []).append(key)
    moment, rows, counted = now(), [], {}
    for uai, keys in by_uai.items():
        chosen = keys[: round(len(keys) * share)]
        counted[uai] = len(chosen)
        rows += [dict(at=moment - timedelta(days=7 * week, hours=1), person_key=key, uai=uai, profile="eleve",
                      client_id="ent", idp="educonnect") for key in chosen for week in range(weeks)]
    engine = env.engine()
    with engine.begin() as conn:
        conn.execute(insert(login_event), rows)
    engine.dispose()
    return counted
