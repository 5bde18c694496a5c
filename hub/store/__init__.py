"""The database: engine set-up and Alembic migrations. SQLite by default, PostgreSQL through HUB_DATABASE_URL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import ARRAY, Connection, Engine, Table, any_, bindparam, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hub.errors import HubError, redact

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Every command compares the database with it, without loading Alembic and reading its
# scripts (a tenth of a second); `test_schema` checks that it is the scripts' head.
HEAD = "0016"


def make_engine(url: str) -> Engine:
    """An engine with the settings the sync relies on (foreign keys and WAL on SQLite, no JIT on PostgreSQL)."""
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
        if not in_memory(parsed):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "connect", _postgresql_settings)
    return engine


def in_memory(url: URL) -> bool:
    """A SQLite database held in its process's memory: no other connection or process can open it."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def among(conn: Connection, column, values):
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``, one parameter however many values: a
    Delta's batch of 2,000 keys as 2,000 parameters cost more to write and parse than the lookup itself."""
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _postgresql_settings(dbapi_connection, _record) -> None:
    """JIT off: the planner costs the sync's NOT EXISTS queries in millions, so PostgreSQL compiled them, and
    compiling took 0.45 s of a 0.64 s query (100k people). The hub's queries are too short to repay it.

    Random reads priced as on SSD or in cache (1.1, not the spinning disks' 4): an incremental run's 10,000
    changes then reach the million people by index instead of reading them all for a hash join, once per
    statement (a 1 % AAF Delta at a million people: 9.0 s, 5.9 s with it); the full runs keep their plans."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET jit = off")
    dbapi_connection.execute("SET random_page_cost = 1.1")
    dbapi_connection.autocommit = autocommit


RUN_SAMPLE = 3_000  # rows of each of a run's own tables (staging, plan) that ANALYZE reads: see `analyze`


def analyze(conn: Connection, tables: Iterable[Table], *, sample: int | None = None) -> None:
    """PostgreSQL's statistics of ``tables``, refreshed now (autovacuum would do it later). ``sample``: the
    rows ANALYZE reads of each table (300 per unit of statistics target), inside the caller's transaction;
    None keeps the server's own target (30,000 rows by default). A run's own tables (staging, plan) are read
    once, by joins that mostly need their row counts: 3,000 rows tell those as well, for a tenth of the cost."""
    if sample is not None:
        conn.exec_driver_sql(f"SET LOCAL default_statistics_target = {max(1, sample // 300)}")
    conn.exec_driver_sql("ANALYZE " + ", ".join(t.name for t in tables))
    if sample is not None:
        conn.exec_driver_sql("SET LOCAL default_statistics_target TO DEFAULT")


def counted_rows(conn: Connection, table: Table) -> float:
    """How many rows PostgreSQL's statistics say ``table`` holds, what its planner goes by (0 before any
    ANALYZE): far below the real count, it plans for an almost empty table."""
    return max(conn.execute(text(f"SELECT reltuples FROM pg_class WHERE oid = '{table.name}'::regclass")).scalar(), 0)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class CheckpointBehind:
    """SQLite: the pages a big transaction wrote to the WAL are copied into the database file by a thread while
    the caller goes on, instead of by its commit (a million staged people: 1.1-1.4 s of the run's).

    SQLite's commit checkpoints the WAL in the committing thread once it passes 1,000 pages. The transaction of
    `begin` turns that off on its connection (on again after its commit); then a thread checkpoints on a
    connection of its own (PASSIVE: it waits for nobody; a commit meanwhile, whose own checkpoint finds it
    running, skips it). `join` before the next big commit, whose checkpoint a running one would skip. Nothing
    to do on PostgreSQL, or for a database in memory.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.active = engine.dialect.name == "sqlite" and not in_memory(engine.url)
        self.thread: threading.Thread | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """As ``engine.begin()``; after a commit, the checkpoint is left to a thread."""
        if not self.active:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            conn.commit()
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")  # SQLite's default, for the pool's next user
                conn.commit()
        started = threading.Event()
        self.thread = threading.Thread(target=self._checkpoint, args=(started,), name="wal-checkpoint", daemon=True)
        self.thread.start()
        started.wait()  # its connection open: it checkpoints before the caller's next commit would try to

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def _checkpoint(self, started: threading.Event) -> None:
        try:
            with self.engine.connect() as conn:
                started.set()
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except SQLAlchemyError:
            pass  # the next commit's own checkpoint copies the pages instead
        finally:
            started.set()


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    """The head of the migration scripts, as Alembic finds it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision, from Alembic's own table; None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or behind the code."""
    current = current_revision(engine)
    if current != HEAD:
        state = "is empty" if current is None else f"is at revision {current}, the code needs {HEAD}"
        raise HubError(f"the database {engine.url.render_as_string(hide_password=True)} {state}: "
                       "run `hub db upgrade`")
