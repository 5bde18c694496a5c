"""The database: engine set-up and Alembic migrations. SQLite by default, PostgreSQL through HUB_DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hub.errors import HubError, redact

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine with the settings the sync relies on (foreign keys and WAL on SQLite)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise HubError(f"database URL {redact(url)!r} is not a URL: use sqlite:///PATH or "
                       "postgresql://USER@HOST/DATABASE") from None
    if parsed.drivername in ("postgres", "postgresql"):  # postgres:// is the common spelling of hosting services
        parsed = parsed.set(drivername="postgresql+psycopg")
        url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise HubError(f"database {parsed.get_backend_name()!r} is not supported: use sqlite:///PATH or "
                       "postgresql://USER@HOST/DATABASE")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or behind the code."""
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        state = "is empty" if current is None else f"is at revision {current}, the code needs {head}"
        raise HubError(f"the database {engine.url.render_as_string(hide_password=True)} {state}: "
                       "run `hub db upgrade`")
