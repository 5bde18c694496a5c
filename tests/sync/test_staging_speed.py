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


def test_a_run_starts_on_emptied_staging_tables_unless_another_is_under_way(synced):
    """A row deleted at the end of a run stays in its table until vacuumed: the next run truncates the tables
    (PostgreSQL), except while another sync run holds them or is journaled as under way."""
    if not synced.db_url.startswith("postgresql"):
        return  # SQLite reuses the pages freed by a delete
    size = "select pg_relation_size('stage_person')"
    (synced.root / "empty").mkdir()
    empty = {"HUB_PLUGINS__AAF__PATH": str(synced.root / "empty")}  # runs that stage nothing (no file: exit 1)
    assert synced.scalar(size) > 0  # the demo's sync deleted its rows, and left them there
    engine = synced.engine()
    try:
        with engine.connect() as reader:
            reader.exec_driver_sql("LOCK TABLE stage_person IN ACCESS SHARE MODE")  # held to the end of the block
            synced.run("sync", "aaf", env=empty, expect=1)  # it does not wait for the reader
            assert synced.scalar(size) > 0
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "insert into run (action, trigger, status, dry_run, forced, started_at, records_read, complete, "
                f"counts, pid, host) values ('sync', 'cli', 'running', false, false, now(), 0, false, '{{}}', "
                f"{os.getpid()}, '{socket.gethostname()}')")
        synced.run("sync", "aaf", env=empty, expect=1)
        assert synced.scalar(size) > 0
        with engine.begin() as conn:
            conn.exec_driver_sql("update run set status = 'interrupted' where status = 'running'")
        synced.run("sync", "aaf", env=empty, expect=1)
        assert synced.scalar(size) == 0
    finally:
        engine.dispose()


def test_an_applied_run_empties_the_staging_tables_but_keeps_another_runs_rows(sqlite_hub):
    """SQLite: a run's staged rows go at its end by emptying the tables whole (`clear_stage`), unless another
    run's rows are there too: those stay."""
    sqlite_hub.run("demo", "--persons", "300", "generate")
    other = ("insert into stage_person (run_id, seq, source, person_key, kind, last_name, first_name, match_key, "
             "digest, source_ref) values (999999, 1, 'aaf', 'jnt:X', 'parent', 'A', 'B', 'A|B|', 'd', 'elsewhere')")
    engine = sqlite_hub.engine()
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(other)  # a run under way elsewhere (not journaled: no run clears it)
    finally:
        engine.dispose()
    sqlite_hub.run("sync", "aaf")
    assert sqlite_hub.scalar("select count(*) from person") > 0
    assert sqlite_hub.rows("select run_id, person_key from stage_person") == [(999999, "jnt:X")]
    assert sqlite_hub.scalar("select count(*) from plan_change") == 0
    sqlite_hub.run("sync", "aaf", "--full")
    assert sqlite_hub.scalar("select count(*) from stage_person") == 1
