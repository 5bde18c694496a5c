"""Fixtures of the SSO tests (tests/sso, tests/plugins/educonnect): keys, the demo académie in a store, a real
pysaml2 IdP and the hub served over HTTP.

The demo académie is synced once per session into a template SQLite file; each test
gets its own copy, its own ports and its own Redis prefix.
"""

from __future__ import annotations

import html
import re
import sqlite3
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hubtest import HubEnv, synced_demo
from ports import free_port
from saml_idp import BINDING_HTTP_REDIRECT, TestIdp, serve

from hub.app import create_app
from hub.settings import load_settings

REDIS_URL = "redis://127.0.0.1:6379/5"


def make_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    found = {}
    for name in ("sp", "idp", "other_idp", "oidc1", "oidc2"):
        found[f"{name}_key"], found[f"{name}_cert"] = make_key_pair(folder, name)
    both = folder / "oidc_keys.pem"  # rotation: the older key first, the newest (last) signs
    both.write_text(found["oidc1_key"].read_text() + found["oidc2_key"].read_text())
    found["oidc_keys"] = both
    return found


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A store holding the 300-person demo académie, synced once."""
    root = tmp_path_factory.mktemp("demo")
    synced_demo(root)
    return root / "hub.db"


def _require_redis() -> None:
    import os

    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy (the store runs in WAL mode: the file alone may miss the last writes)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@dataclass
class SsoEnv:
    """The hub (served on ``base``) with its store, and the test IdP it trusts."""

    env: HubEnv
    base: str
    idp: TestIdp
    app: object
    servers: list = field(default_factory=list)
    educonnect: TestIdp | None = None

    def browser(self) -> httpx.Client:
        return httpx.Client(timeout=20)

    def rows(self, sql: str, **params) -> list:
        return self.env.rows(sql, **params)

    def person(self, sql: str) -> object:
        """One stored person picked by a ``where`` clause."""
        return self.rows(f"select * from person where {sql} order by person_key limit 1")[0]


SSO_CONFIG = """
[sso]
enabled = true
base_url = "{base}"
sp_cert_file = "{sp_cert}"
clock_skew_seconds = 30
{extra_sso}
[sso.idps.agents]
label = "Personnels"
metadata_url = "{idp_url}/metadata"
profiles = ["enseignant", "personnel"]
{extra}
"""


CLIENTS_CONFIG = """
[sso.clients.ent]
redirect_uris = ["https://ent.test/callback"]
post_logout_redirect_uris = ["https://ent.test/bye"]
claims = ["given_name", "family_name", "profile", "uai", "classes"]

[sso.clients.mobile]
public = true
redirect_uris = ["https://app.test/cb"]
claims = ["uai"]

[sso.clients.vie_scolaire]
protocol = "cas"
services = ["https://pronote.test/cas", '^https://[a-z0-9-]+\\.vie-scolaire\\.test/login$']
claims = ["family_name", "profile", "uai"]
"""
CLIENT_SECRET = "ent-secret-from-the-environment"

EDUCONNECT_CONFIG = """
[sso.idps.educonnect]
label = "Élèves et parents"
metadata_file = "{metadata}"
plugin = "educonnect"
profiles = ["eleve", "parent"]
"""


@pytest.fixture
def make_sso(tmp_path, demo_db, keys, monkeypatch):
    """Build and serve a hub: ``make_sso(extra=..., extra_sso=..., redis=False)``; the IdP is the académie's."""
    started = []

    def build(extra: str = "", extra_sso: str = "", redis: bool = False, educonnect: bool = False,
              clients: str = CLIENTS_CONFIG, idp_binding: str = BINDING_HTTP_REDIRECT) -> SsoEnv:
        _copy_sqlite(demo_db, tmp_path / "hub.db")
        env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
        hub_port, idp_port = free_port(), free_port()
        base = f"http://127.0.0.1:{hub_port}"
        idp = TestIdp(idp_port, keys["idp_key"], keys["idp_cert"], f"{base}/saml/metadata", idp_binding)
        enabled = ("aaf",)
        if educonnect:  # a second IdP, known by a metadata file, and its plugin
            educonnect = TestIdp(free_port(), keys["other_idp_key"], keys["other_idp_cert"], f"{base}/saml/metadata")
            (tmp_path / "educonnect.xml").write_text(educonnect.metadata())
            extra += EDUCONNECT_CONFIG.format(metadata=tmp_path / "educonnect.xml")
            enabled = ("aaf", "educonnect")
        if redis:
            _require_redis()
            extra_sso += f'\nredis_url = "{REDIS_URL}"\nredis_prefix = "test:{uuid.uuid4().hex}:"\n'
        env.write_config(textwrap.dedent(SSO_CONFIG).format(
            base=base, sp_cert=keys["sp_cert"], idp_url=idp.url, extra=textwrap.dedent(extra),
            extra_sso=textwrap.dedent(extra_sso)) + textwrap.dedent(clients), enabled=enabled)
        for name, value in {"HUB_DATABASE_URL": env.db_url, "HUB_SSO__SP_PRIVATE_KEY_FILE": str(keys["sp_key"]),
                            "HUB_SSO__OIDC_SIGNING_KEYS_FILE": str(keys["oidc_keys"]),
                            "HUB_SSO__PAIRWISE_SALT": "test-salt", "HUB_SSO__CLIENTS__ENT__SECRET": CLIENT_SECRET,
                            }.items():
            monkeypatch.setenv(name, value)
        app = create_app(load_settings(env.config))
        sso = SsoEnv(env, base, idp, app, educonnect=educonnect or None)
        sso.servers = [serve(idp.app, idp_port), serve(app, hub_port)]
        if educonnect:
            sso.servers.append(serve(educonnect.app, educonnect.port))
        started.extend(sso.servers)
        return sso

    yield build
    for server in started:
        server.shutdown()


@pytest.fixture
def sso(make_sso) -> SsoEnv:
    return make_sso()


def saml_login(browser: httpx.Client, sso: SsoEnv, start: str, username: str, idp: TestIdp | None = None,
               post_back: bool = True) -> httpx.Response:
    """Drive the browser from ``start`` (a hub URL) through the IdP's login form and back to the hub;
    return the hub's first answer after the ACS (or the IdP's refusal; or, without ``post_back``, the
    IdP's answer, whose form ``idp.last_post`` holds)."""
    idp = idp or sso.idp
    response = browser.get(start)
    while response.status_code in (301, 302, 303) and not response.headers["location"].startswith(idp.url):
        response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
    assert response.status_code == 302, response.text
    form = browser.get(response.headers["location"])
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', form.text)}
    answer = browser.post(f"{idp.url}/sso", data={**fields, "username": username})
    if answer.status_code != 200 or not post_back:
        return answer
    return browser.post(idp.last_post["action"], data=idp.last_post["data"])
