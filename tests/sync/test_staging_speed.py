"""What the speed work on staging must not change: the person digest's format, the continuity networks;
and the staging tables PostgreSQL loads without a write-ahead log (migration 0013)."""

import os
import socket
from datetime import date

import pytest

from hub.continuity import Networks, derived_memberships
from hub.model import (
    Enrollment,
    Function,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    TeachingAssignment,
)
from hub.sync.stage import STAGE_TABLES

STAGING = tuple(sorted({*(t.name for t in STAGE_TABLES), "plan_change"}))  # every table a run stages into

# Digests made by the first format (each field through str, None as "", joined by \x1f): a new format would
# make every stored person look changed to the planner, and send everyone to the targets once.
PEOPLE = {
    "6e9c0acf673d2998789e94ac7155cfe3": Person(
        PersonKind.ELEVE, "Dupré", "Zoé", "J1", "1234567890A", date(2014, 3, 9), None, "0750001A",
        Enrollment(2026, "0750001A", "10010012110", "6EME", "6A", ("AGL1", "ESP2")),
        (Membership("0750001A", "6A", GroupKind.DIVISION), Membership("0750001A", "G1", GroupKind.GROUPE)),
        (Guardianship("jnt:P2", 2), Guardianship("jnt:P1", 1))),
    "3cafb5508e676ce36468170f76472b4e": Person(
        PersonKind.ENSEIGNANT, "Martin", "Paul", "T9", None, None, "p.martin@ac-x.fr", "0750001A", None, (), (),
        (TeachingAssignment("0750001A", "6A", "MATHS", True), TeachingAssignment("0750001A", "5B")),
        (Function("0750001A", "ENS", "ENSEIGNEMENT", "L1300"),)),
    "03b7e8abf850f66ab0b12cfc3c04d89c": Person(PersonKind.PARENT, "Dupré", "Anne", "P1"),
    "da8ddb4e267d16d8ea40242345e849e8": Person(PersonKind.ELEVE, "A", "B", "J2", None, None, "", "0750001A",
                                               Enrollment(2026, "0750001A")),
}  # fmt: skip


@pytest.mark.parametrize("expected", PEOPLE)
def test_person_digest_keeps_its_format(expected):
    assert PEOPLE[expected].digest() == expected


def test_person_digest_ignores_the_order_of_relations():
    pupil = next(iter(PEOPLE.values()))
    reordered = Person(
        **{
            **{f: getattr(pupil, f) for f in pupil.__slots__},
            "memberships": pupil.memberships[::-1],
            "guardians": pupil.guardians[::-1],
        }
    )
    assert reordered.digest() == pupil.digest()


def test_networks_added_during_a_run_count_at_once():
    networks = Networks({"0750001A": "0750002B"})
    assert networks.colleges == {"0750002B"}
    networks.add("0750003C", "0750004D")
    assert networks.colleges == {"0750002B", "0750004D"}
    pupil = Person(PersonKind.ELEVE, "A", "B", "J3", enrollment=Enrollment(2026, "0750004D", niveau="6EME"))
    assert Membership("0750004D", "CYCLE3-6EME", GroupKind.INTER) in derived_memberships(pupil, networks)


def test_staging_tables_are_unlogged_on_postgresql_only(synced):
    """Their rows live only while a run does: PostgreSQL loads them without writing them twice."""
    assert synced.scalar("select count(*) from person") > 0  # the demo's first sync went through them
    if not synced.db_url.startswith("postgresql"):
        return  # SQLite has no unlogged tables: the migration leaves them as they were
    query = "select relpersistence from pg_class where oid = cast(:name as regclass)"
    assert {table: synced.scalar(query, name=table) for table in STAGING} == dict.fromkeys(STAGING, "u")
    assert synced.scalar(query, name="person") == "p"  # the store itself stays logged


def _other_run(engine) -> int:
    """Journal a sync run under way (this process's: alive) with one staged row; its id."""
    with engine.begin() as conn:
        run_id = conn.exec_driver_sql(
            "insert into run (action, trigger, status, dry_run, forced, started_at, records_read, complete, "
            f"counts, pid, host) values ('sync', 'cli', 'running', false, false, CURRENT_TIMESTAMP, 0, false, '{{}}', "
            f"{os.getpid()}, '{socket.gethostname()}') returning id").scalar()
        conn.exec_driver_sql(
            "insert into stage_person (run_id, seq, source, person_key, kind, last_name, first_name, match_key, "
            f"digest, source_ref) values ({run_id}, 1, 'aaf', 'jnt:X', 'parent', 'A', 'B', 'A|B|', 'd', 'elsewhere')")
    return run_id


def test_a_run_empties_the_staging_tables_it_holds_alone_and_waits_for_nobody(synced):
    """PostgreSQL keeps a deleted row in its table until vacuumed: a run truncates the staging tables at its
    start if no other sync run is under way, and at its end those that hold no other run's rows; either
    only with their lock, taken without waiting (a reader or a run staging keeps them as they are)."""
    if not synced.db_url.startswith("postgresql"):
        return  # SQLite reuses the pages freed by a delete
    size = "select pg_relation_size('{}')"
    (synced.root / "empty").mkdir()
    empty = {"HUB_PLUGINS__AAF__PATH": str(synced.root / "empty")}  # runs that stage nothing (no file: exit 1)
    engine = synced.engine()
    try:
        with engine.begin() as conn:  # a row staged, then deleted: it stays in the table's pages
            conn.exec_driver_sql("insert into stage_enrollment (run_id, seq, school_year, uai, mef, niveau, division, "
                                 "subjects) values (999999, 1, 2026, '0000000A', '', '', '', '')")
            conn.exec_driver_sql("delete from stage_enrollment")
        assert synced.scalar(size.format("stage_enrollment")) > 0
        with engine.connect() as reader:
            reader.exec_driver_sql("LOCK TABLE stage_person IN ACCESS SHARE MODE")  # held to the end of the block
            synced.run("sync", "aaf", env=empty, expect=1)  # it does not wait for the reader
            assert synced.scalar(size.format("stage_enrollment")) > 0

        other = _other_run(engine)
        synced.run("sync", "aaf", env=empty, expect=1)
        assert synced.rows("select run_id from stage_person") == [(other,)]  # under way: its row stays
        assert synced.scalar(size.format("stage_enrollment")) == 0  # held alone: truncated at the end

        with engine.begin() as conn:
            conn.exec_driver_sql("update run set status = 'interrupted' where status = 'running'")
        synced.run("sync", "aaf", env=empty, expect=1)
        assert synced.scalar(size.format("stage_person")) == 0
    finally:
        engine.dispose()


def test_an_applied_run_empties_the_staging_tables_but_keeps_another_runs_rows(hub_env):
    """A run's staged rows go at its end by emptying the tables whole (`clear_stage`: SQLite's DELETE without
    condition, PostgreSQL's TRUNCATE), unless another run's rows are there too: those stay."""
    hub_env.run("demo", "--persons", "300", "generate")
    engine = hub_env.engine()
    try:
        other = _other_run(engine)
    finally:
        engine.dispose()
    hub_env.run("sync", "aaf")
    assert hub_env.scalar("select count(*) from person") > 0
    assert hub_env.rows("select run_id, person_key from stage_person") == [(other, "jnt:X")]
    assert hub_env.scalar("select count(*) from plan_change") == 0
    if hub_env.db_url.startswith("postgresql"):  # the tables it held alone were truncated: no dead rows left
        assert hub_env.scalar("select pg_relation_size('stage_enrollment')") == 0
    hub_env.run("sync", "aaf", "--full")
    assert hub_env.scalar("select count(*) from stage_person") == 1
