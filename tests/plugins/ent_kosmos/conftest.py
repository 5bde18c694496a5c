"""A SCIM server per test (scim_server.py) and a hub with the AAF source and the ent_kosmos target enabled."""

from __future__ import annotations

import pytest
from scim_server import TOKEN, serve


@pytest.fixture
def scim():
    """The real SCIM server (scim2-server), advertising Bulk."""
    server = serve()
    yield server
    server.stop()


@pytest.fixture
def scim_one_by_one():
    """The same server, without Bulk: one request per change, so faults can aim at one resource."""
    server = serve(bulk=False)
    yield server
    server.stop()


def configure(env, server, extra: str = "") -> None:
    """``extra``: more keys of the [plugins.ent_kosmos] section."""
    env.write_config(f"""
        [sync]
        grace_days = 0
        [plugins.ent_kosmos]
        scim_url = "{server.url}"
        timeout_seconds = 2
        """ + extra, enabled=("aaf", "ent_kosmos"))


def prepare(env, server, extra: str = ""):
    """The hub synced from the 300-person demo académie, the ENT configured, nothing delivered yet."""
    configure(env, server, extra)
    env.run("demo", "--persons", "300", "generate")
    env.run("sync", "aaf")
    return env


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("HUB_PLUGINS__ENT_KOSMOS__TOKEN", TOKEN)


@pytest.fixture
def kosmos_env(hub_env, scim):
    return prepare(hub_env, scim)
