"""A SCIM server per test (scim_server.py) and a hub with the AAF source and the ent_kosmos target enabled."""

from __future__ import annotations

import pytest
from kosmos_env import prepare
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


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("HUB_PLUGINS__ENT_KOSMOS__TOKEN", TOKEN)


@pytest.fixture
def kosmos_env(hub_env, scim):
    return prepare(hub_env, scim)
