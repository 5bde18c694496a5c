"""Shared fixtures: a hub per test with its own settings file and database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("COLUMNS", "200")  # rich sizes the CLI's tables from it: wide enough for the tests to read
from click.testing import CliRunner  # noqa: E402
from hubtest import HubEnv
from sqlalchemy import create_engine, text

from hub.cli import cli

PG_SERVER = os.environ.get("HUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        with create_engine(PG_SERVER).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own in database `test`."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_SERVER}")
        pytest.skip("PostgreSQL is not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'hub.db'}"


def _ready_hub(root: Path, url: str) -> HubEnv:
    env = HubEnv(root, url)
    env.write_config()
    env.run("db", "upgrade")
    return env


@pytest.fixture
def hub_env(tmp_path, db_url) -> HubEnv:
    """A configured hub with the AAF source enabled and an upgraded, empty database."""
    return _ready_hub(tmp_path, db_url)


@pytest.fixture
def sqlite_hub(tmp_path, sqlite_url) -> HubEnv:
    """The same on SQLite only, for tests whose subject is not the database."""
    return _ready_hub(tmp_path, sqlite_url)


@pytest.fixture
def synced(hub_env):
    """A hub whose store holds a 300-person demo académie (first AAF sync applied)."""
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    return hub_env


@pytest.fixture
def hub_cli_env(tmp_path):
    """Run `hub` with a given settings file and a throwaway SQLite database."""

    def run(config: Path, *args: str, expect: int = 0, env: dict | None = None):
        full_env = {"HUB_CONFIG": str(config), "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                    "COLUMNS": "200", **(env or {})}
        result = CliRunner().invoke(cli, list(args), env=full_env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    return run


@pytest.fixture
def receiver():
    """A running webhook receiver on 127.0.0.1 (see tests/receiver.py)."""
    from receiver import Receiver, serve

    target = Receiver()
    server = serve(target)
    yield target
    server.shutdown()
