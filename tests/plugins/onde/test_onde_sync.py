"""The ONDE source end to end: `hub demo generate` writes the écoles' exports, `hub sync onde` lands them."""

from __future__ import annotations

import csv
import textwrap

import pytest
from hubtest import HubEnv

from hub.demo import generate_academie
from hub.model import EstablishmentKind, PersonKind
from plugins.onde.reader import fold_name

PERSONS = 300


def configure(env: HubEnv) -> HubEnv:
    env.config.write_text(
        textwrap.dedent(f"""\
        [plugins]
        enabled = ["onde"]
        [plugins.onde]
        path = "{env.root / "onde"}"
        school_year = 2026
        """)
    )
    env.run("db", "upgrade")
    return env


@pytest.fixture
def synced(tmp_path, db_url) -> HubEnv:
    env = configure(HubEnv(tmp_path, db_url))
    env.run("demo", "--persons", str(PERSONS), "generate")
    env.run("sync", "onde")
    return env


def expected() -> dict:
    academie = generate_academie(persons=PERSONS, seed=1, school_year=2026)
    ecoles = {e.uai for e in academie.establishments if e.kind == EstablishmentKind.ECOLE}
    pupils = [p for p in academie.persons_of(PersonKind.ELEVE) if p.uai in ecoles]
    linked = {g.parent_key for p in pupils for g in p.guardians}
    parents = {(fold_name(p.last_name), fold_name(p.first_name), p.email)
               for p in academie.persons_of(PersonKind.PARENT) if f"jnt:{p.jointure}" in linked}  # fmt: skip
    return {"ecoles": len(ecoles), "eleve": len(pupils), "parent": len(parents),
            "links": sum(len(p.guardians) for p in pupils)}  # fmt: skip


def edit(path, change) -> None:
    """Rewrite one export (Windows-1252, as the demo writes it); ``change(rows)`` edits the rows in place."""
    with path.open(encoding="cp1252", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    change(rows)
    with path.open("w", encoding="cp1252", newline="") as f:
        csv.writer(f, delimiter=";", lineterminator="\r\n").writerows(rows)


def test_the_ecoles_land_whole(synced):
    want = expected()
    stored = dict(synced.rows("select kind, count(*) from person where status = 'active' group by kind"))
    assert stored == {"eleve": want["eleve"], "parent": want["parent"]}
    assert synced.scalar("select count(*) from establishment where kind = 'ecole'") == want["ecoles"]
    assert (
        synced.scalar("select count(*) from enrollment where niveau in ('CP','CE1','CE2','CM1','CM2')") == want["eleve"]
    )
    assert synced.scalar("select count(*) from guardianship") == want["links"]
    assert synced.scalar("select count(*) from group_membership") == want["eleve"]
    assert synced.scalar("select count(*) from person where kind = 'eleve' and person_key not like 'ine:%'") == 0
    run = synced.rows("select status, complete from run where action = 'sync'")[0]
    assert run.status == "applied" and run.complete
    assert synced.scalar("select count(*) from run_event") == 0


def test_same_exports_twice_give_an_empty_plan(synced):
    before = synced.stored_state()
    output = synced.run("sync", "onde").output
    assert synced.stored_state() == before
    counts = synced.counts()
    assert not any(key.startswith(("person.", "establishment.")) for key in counts), counts
    assert "applied" in output


def test_a_file_without_a_mandatory_column_aborts_and_applies_nothing(synced):
    before = synced.stored_state()
    victim = sorted((synced.root / "onde").glob("*.csv"))[1]

    def drop_niveau(rows):
        column = rows[0].index("Niveau")
        for row in rows:
            del row[column]

    edit(victim, drop_niveau)
    edit(sorted((synced.root / "onde").glob("*.csv"))[0], lambda rows: rows.pop())  # a change that must not land
    result = synced.run("sync", "onde", expect=1)
    assert victim.name in result.output and "Niveau" in result.output
    assert "nothing was applied" in result.output
    assert synced.stored_state() == before
    assert synced.scalar("select status from run order by id desc limit 1") == "failed"


def test_a_rejected_row_is_journaled_and_its_pupil_kept(synced):
    first = sorted((synced.root / "onde").glob("*.csv"))[0]
    ine = []

    def spoil(rows):
        ine.append(rows[1][rows[0].index("INE")])
        rows[1][rows[0].index("Date naissance")] = "31/02/2016"

    edit(first, spoil)
    synced.run("sync", "onde")
    (event,) = synced.rows("select record, reason from run_event")
    assert event.record == f"{first.name}:2" and "is not a date" in event.reason
    assert synced.scalar("select status from person where person_key = :k", k=f"ine:{ine[0]}") == "active"
    assert synced.scalar("select count(*) from person where status <> 'active'") == 0
