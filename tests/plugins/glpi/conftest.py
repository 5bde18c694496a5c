"""The GLPI double on 127.0.0.1 (glpi_double.py) and a synced hub routing seed 001's tickets to it."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "helpdesk"))
from glpi_double import Glpi, serve  # noqa: E402
from helpdesk_env import configure, token_env  # noqa: E402
from hubtest import HubEnv, synced_demo  # noqa: E402


@pytest.fixture
def glpi():
    server = serve(Glpi())
    yield server.glpi
    server.shutdown()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A folder holding the 300-person demo académie (AAF files) synced into SQLite, once per session."""
    root = tmp_path_factory.mktemp("glpi-demo")
    synced_demo(root)
    return root


def _desk(env, glpi, monkeypatch):
    configure(env, glpi.url, timeout=0.5)
    for name, value in token_env().items():
        monkeypatch.setenv(name, value)
    college = env.scalar("select uai from establishment where kind = 'college'")
    zones = env.root / "zones.csv"
    zones.write_text(f"UAI;ZA reprise;UT\n{college};non;UT2\n")
    env.run("establishments", "import-zones", str(zones))
    env.college = college
    return env


@pytest.fixture
def desk(tmp_path, demo_store, glpi, monkeypatch):
    """A copy of the synced demo store (SQLite), seed 001's routing with every destination on the double, and
    a zones file giving the collège UT2, its ZA not taken over."""
    shutil.copytree(demo_store / "aaf", tmp_path / "aaf")
    with sqlite3.connect(demo_store / "hub.db") as source, sqlite3.connect(tmp_path / "hub.db") as copy:
        source.backup(copy)  # consistent even in WAL mode
    return _desk(HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}"), glpi, monkeypatch)


@pytest.fixture
def desk_any_db(hub_env, glpi, monkeypatch):
    """The same, synced afresh, on SQLite and on PostgreSQL."""
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    return _desk(hub_env, glpi, monkeypatch)
