"""A first load builds its indexes and foreign keys once, after the rows (`hub.store.bulk.indexes_rebuilt`):
the store it leaves must be the one a row-by-row load leaves, its schema whole."""

import shutil

from hubtest import HubEnv
from sqlalchemy import inspect

from hub.store.tables import metadata, plan_change
from hub.sync import apply

PEOPLE = "select person_key, kind, ine, jointure, last_name, first_name, birth_date, uai, digest from person"
RELATIONS = {
    "enrollment": "select p.person_key, e.school_year, e.uai, e.mef, e.division, e.subjects "
    "from enrollment e join person p on p.id = e.person_id",
    "membership": "select p.person_key, g.uai, g.code from group_membership m join person p on p.id = m.person_id "
    "join study_group g on g.id = m.group_id",
    "guardianship": "select c.person_key, a.person_key, g.rank from guardianship g join person c on c.id = g.pupil_id "
    "join person a on a.id = g.parent_id",
    "function": "select p.person_key, f.uai, f.code from person_function f join person p on p.id = f.person_id",
    "assignment": "select p.person_key, t.uai, t.group_code, t.subject, t.principal from teaching_assignment t "
    "join person p on p.id = t.person_id",
}


def _store(env) -> dict:
    """Every person and relation, as text (raw SQL reads dates and booleans from SQLite as text and 0/1)."""
    rows = {name: env.rows(sql) for name, sql in {"people": PEOPLE, **RELATIONS}.items()}
    return {name: sorted(tuple(str(int(v) if isinstance(v, bool) else v) for v in row) for row in found)
            for name, found in rows.items()}


def _reasons(env) -> str:
    return "\n".join(r for (r,) in env.rows("select reason from run_event"))


def test_a_first_load_stores_what_a_row_by_row_load_does_and_leaves_the_schema_whole(hub_env, tmp_path,
                                                                                      monkeypatch):
    hub_env.run("demo", "--persons", "300", "generate")
    (tmp_path / "plain").mkdir()
    plain = HubEnv(tmp_path / "plain", f"sqlite:///{tmp_path / 'plain.db'}")  # the same files, row by row
    plain.write_config()
    plain.run("db", "upgrade")
    shutil.copytree(hub_env.aaf_dir, plain.aaf_dir)
    plain.run("sync", "aaf")
    assert "first load" not in _reasons(plain)  # 300 people are far below the threshold

    monkeypatch.setattr(apply, "FIRST_LOAD", 100)
    hub_env.run("sync", "aaf")
    assert "first load of " in _reasons(hub_env)
    loaded = _store(hub_env)
    assert all(loaded.values()) and loaded == _store(plain)

    engine = hub_env.engine()
    try:
        schema = inspect(engine)
        for table in (*apply.LOADED_TABLES, plan_change):  # the plan's indexes too, built after its rows
            expected = {ix.name for ix in table.indexes}
            assert expected <= {ix["name"] for ix in schema.get_indexes(table.name)}, table.name
            if engine.dialect.name == "postgresql":  # SQLite keeps its foreign keys: it cannot drop them
                keys = {fk["name"] for fk in schema.get_foreign_keys(table.name)}
                assert keys == {fk.name for fk in metadata.tables[table.name].foreign_key_constraints}
    finally:
        engine.dispose()

    # a store that holds people is not loaded so: its tables stay open to readers while a run applies
    hub_env.run("sync", "aaf")
    assert _reasons(hub_env).count("first load of ") == 1


def test_a_run_numbers_the_people_it_creates_after_the_stored_ones(hub_env):
    """Created people take the highest stored id plus their staged seq (`apply._first_id`): a second run's
    people come after the first's, their relations name them, and PostgreSQL's own numbering goes on after."""
    hub_env.run("demo", "--persons", "80", "generate")
    hub_env.run("sync", "aaf")
    highest = hub_env.rows("select max(id) from person")[0][0]
    doomed = ", ".join(f"'{k}'" for (k,) in hub_env.rows("select person_key from person where kind = 'eleve' "
                                                          "order by id limit 5"))
    engine = hub_env.engine()
    try:
        with engine.begin() as conn:  # the store forgets five pupils (and their relations): the next run creates them
            conn.exec_driver_sql(f"delete from person where person_key in ({doomed})")
    finally:
        engine.dispose()

    hub_env.run("sync", "aaf")
    again = [i for (i,) in hub_env.rows(f"select id from person where person_key in ({doomed})")]
    assert len(again) == 5 and min(again) > highest
    enrolled = hub_env.rows(f"select count(*) from enrollment e join person p on p.id = e.person_id "
                            f"where p.person_key in ({doomed})")
    assert enrolled == [(5,)]
    if hub_env.db_url.startswith("postgresql"):
        assert hub_env.rows("select nextval(pg_get_serial_sequence('person', 'id'))")[0][0] > max(again)
