"""Migrations on both databases; commands refuse a database whose schema is not current."""

from hubtest import HubEnv

from hub import store
from hub.store.tables import metadata


def test_upgrade_creates_every_table_and_is_idempotent(hub_env):
    hub_env.run("db", "upgrade")  # the fixture already ran it once
    engine = hub_env.engine()
    try:
        from sqlalchemy import inspect

        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
    assert hub_env.scalar("select version_num from alembic_version") == store.HEAD == store.head_revision(engine)


def test_commands_refuse_an_empty_database(tmp_path, db_url):
    env = HubEnv(tmp_path, db_url)
    env.write_config()
    result = env.run("sync", "aaf", expect=1)
    assert "is empty: run `hub db upgrade`" in result.output


def test_the_engine_settings_hold_on_every_connection(hub_env):
    """SQLite: WAL and foreign keys. PostgreSQL: no JIT (compiling the sync's planning queries cost more than
    running them)."""
    from sqlalchemy import text

    engine = hub_env.engine()
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            else:
                assert conn.execute(text("SHOW jit")).scalar() == "off"
                assert conn.execute(text("SHOW random_page_cost")).scalar() == "1.1"
                assert conn.execute(text("SHOW search_path")).scalar().startswith("t_")  # the URL's options hold
    finally:
        engine.dispose()
