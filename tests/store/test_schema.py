"""Migrations on both databases; commands refuse a database whose schema is not current."""

from hubtest import HubEnv

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
    assert hub_env.scalar("select version_num from alembic_version") == "0013"


def test_commands_refuse_an_empty_database(tmp_path, db_url):
    env = HubEnv(tmp_path, db_url)
    env.write_config()
    result = env.run("sync", "aaf", expect=1)
    assert "is empty: run `hub db upgrade`" in result.output
