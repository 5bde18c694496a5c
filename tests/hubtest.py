"""Helpers for driving a hub from tests: its settings file, database and command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from hub.cli import cli

HUB_BIN = str(Path(sys.executable).with_name("hub"))


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
        kwargs = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, **kwargs}
        return subprocess.Popen([HUB_BIN, *args], env={**os.environ, **self.env, **(env or {})}, **kwargs)

    @contextmanager
    def lock_held_elsewhere(self, name: str, ttl_seconds: int = 600):
        """Another process holding lock ``name`` for the block (killed at its end, without releasing it)."""
        holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import time
            from hub.store import make_engine, locks
            with locks.hold(make_engine({self.db_url!r}), {name!r}, {ttl_seconds}):
                print("held", flush=True)
                time.sleep(120)
            """)], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            yield holder
        finally:
            holder.kill()
            holder.wait()

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

    def stored_state(self) -> list:
        """Everything a sync may change, to compare before and after a run that must apply nothing."""
        return [
            self.rows("select person_key, last_name, first_name, uai, status, digest from person order by person_key"),
            self.rows("select uai, name, digest from establishment order by uai"),
            self.scalar("select count(*) from enrollment"),
            self.scalar("select count(*) from group_membership"),
            self.scalar("select count(*) from guardianship"),
            self.scalar("select count(*) from outbox"),
            self.rows("select source, cursor from source_state order by source"),
        ]

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


def synced_demo(root: Path, persons: int = 300) -> HubEnv:
    """A SQLite hub under ``root`` holding the demo académie, synced: what session fixtures build once and share."""
    env = HubEnv(root, f"sqlite:///{root / 'hub.db'}")
    env.write_config()
    env.run("db", "upgrade")
    env.run("demo", "--persons", str(persons), "generate")
    env.run("sync", "aaf")
    return env
