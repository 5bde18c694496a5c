"""Shared fixtures: a hub per test with its own settings file and database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from hub.cli import cli

PG_SERVER = os.environ.get("HUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HUB_BIN = str(Path(sys.executable).with_name("hub"))


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


def as_datetime(value) -> datetime:
    """A timestamp read with raw SQL: SQLite gives text, PostgreSQL a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value.replace(tzinfo=None)


@dataclass
class HubEnv:
    """A hub installation in a temporary folder: its settings file, database and AAF drop folder."""

    root: Path
    db_url: str
    settings: dict = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "hub.toml"

    @property
    def aaf_dir(self) -> Path:
        return self.root / "aaf"

    def write_config(self, extra: str = "", enabled: tuple[str, ...] = ("aaf",)) -> None:
        enabled_list = ", ".join(f'"{name}"' for name in enabled)
        self.config.write_text(textwrap.dedent(f"""\
            data_dir = "{self.root / 'var'}"
            [plugins]
            enabled = [{enabled_list}]
            [plugins.aaf]
            path = "{self.aaf_dir}"
            school_year = 2026
            """) + textwrap.dedent(extra))

    @property
    def env(self) -> dict[str, str]:
        return {"HUB_CONFIG": str(self.config), "HUB_DATABASE_URL": self.db_url, "COLUMNS": "200"}

    def run(self, *args: str, expect: int | None = 0, env: dict | None = None):
        """Run `hub ARGS` in-process through click; check the exit code unless expect is None."""
        result = CliRunner().invoke(cli, list(args), env={**self.env, **(env or {})}, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, f"hub {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        return result

    def spawn(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        """Start `hub ARGS` as a real process (for kill and concurrency tests)."""
        return subprocess.Popen([HUB_BIN, *args], env={**os.environ, **self.env, **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)

    def engine(self):
        from hub.store import make_engine

        return make_engine(self.db_url)

    def scalar(self, sql: str, **params):
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).scalar()
        finally:
            engine.dispose()

    def counts(self, run_id: int | None = None) -> dict:
        """The counts the journal holds for a run (default: the latest)."""
        value = self.scalar("select counts from run where id = coalesce(:r, (select max(id) from run))", r=run_id)
        return json.loads(value) if isinstance(value, str) else value

    def rows(self, sql: str, **params) -> list:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).all()
        finally:
            engine.dispose()


@pytest.fixture
def hub_env(tmp_path, db_url) -> HubEnv:
    """A configured hub with the AAF source enabled and an upgraded, empty database."""
    env = HubEnv(tmp_path, db_url)
    env.write_config()
    env.run("db", "upgrade")
    return env


@pytest.fixture
def sqlite_hub(tmp_path, sqlite_url) -> HubEnv:
    """The same on SQLite only, for tests whose subject is not the database."""
    env = HubEnv(tmp_path, sqlite_url)
    env.write_config()
    env.run("db", "upgrade")
    return env


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
