"""The ONDE source end to end: `hub demo generate` (or the test) writes the écoles' exports, `hub sync onde` lands them.

The first tests use the single-file layout with INE (``demo_layout = "ecole"``); the later ones the
extraction as the écoles really export it (a folder per école, three files, no INE).
"""

from __future__ import annotations

import csv
import textwrap

import pytest
from hubtest import HubEnv
from onde_exports import FOLDER, UAI, eleve, header_line, responsable, write_ecole

from hub.demo import generate_academie
from hub.model import EstablishmentKind, PersonKind
from plugins.onde.reader import fold_name

PERSONS = 300


def configure(env: HubEnv, layout: str = "ecole") -> HubEnv:
    env.config.write_text(
        textwrap.dedent(f"""\
        [plugins]
        enabled = ["onde"]
        [plugins.onde]
        path = "{env.root / "onde"}"
        school_year = 2026
        demo_layout = "{layout}"
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


# --- the extraction as the écoles really export it: a folder per école, three files, no INE ---


@pytest.fixture
def extraction(tmp_path, db_url) -> HubEnv:
    """The demo académie's écoles written as their real extraction, synced once."""
    env = configure(HubEnv(tmp_path, db_url), layout="extraction")
    env.run("demo", "--persons", str(PERSONS), "generate")
    env.run("sync", "onde")
    return env


def test_the_real_extraction_lands_whole(extraction):
    want = expected()
    academie = generate_academie(persons=PERSONS, seed=1, school_year=2026)
    sites = [s for u in academie.units for s in u.sites if s.establishment.kind == EstablishmentKind.ECOLE]
    teachers = sum(s.teachers for s in sites)
    stored = dict(extraction.rows("select kind, count(*) from person where status = 'active' group by kind"))
    assert stored == {"eleve": want["eleve"], "parent": want["parent"], "enseignant": teachers}
    assert extraction.scalar("select count(*) from person where kind = 'eleve' and person_key like 'jnt:onde-%'") \
        == want["eleve"]  # fmt: skip
    assert extraction.scalar("select count(*) from establishment where kind = 'ecole'") == want["ecoles"]
    assert extraction.scalar("select count(*) from guardianship") == want["links"]
    functions = dict(extraction.rows("select code, count(*) from person_function group by code"))
    assert functions == {"ENS": teachers, "DIR": want["ecoles"]}
    assert extraction.scalar("select count(*) from teaching_assignment") == sum(len(s.divisions) for s in sites)
    run = extraction.rows("select status, complete from run where action = 'sync'")[0]
    assert run.status == "applied" and run.complete
    assert extraction.scalar("select count(*) from run_event where level <> 'info'") == 0
    before = extraction.stored_state()
    extraction.run("sync", "onde")
    assert extraction.stored_state() == before
    assert not any(key.startswith(("person.", "establishment.")) for key in extraction.counts())


def one_ecole(env: HubEnv, eleves, responsables=(), enseignants=(), *, folder: str = FOLDER) -> HubEnv:
    write_ecole(env.root / "onde", eleves, responsables, enseignants, folder=folder)
    return env


def test_notices_are_journaled_as_warnings_and_the_people_kept(tmp_path, db_url):
    """Needs the core to journal `Notice` items as warnings (hub/sync/stage.py)."""
    env = one_ecole(configure(HubEnv(tmp_path, db_url), "extraction"), [
        eleve("Petit", "Léa", classe="CP"), eleve("Morel", "Tom", niveau="NIVEAU X", classe="CP"),
    ], [
        responsable("Petit", "Anne", ("Petit", "Léa", "CP"), ("Petit", "Zoé", "CP"), courriel="anne@@example.fr"),
    ])  # fmt: skip
    env.run("sync", "onde")
    events = env.rows("select level, record, reason from run_event where level <> 'info' order by id")
    responsables, eleves = f"{FOLDER}/CSVExtraction-responsables.csv", f"{FOLDER}/CSVExtraction-eleves.csv"
    assert [(e.level, e.record, e.reason.split(":")[0]) for e in events] == [
        ("warning", f"{responsables}:2", "e-mail 'anne@@example.fr' left out"),
        ("warning", f"{responsables}:2", "child 2 'Zoé Petit' of class 'CP' is not among the école's pupils"),
        ("warning", f"{eleves}:3", "unknown niveau 'NIVEAU X'"),
    ]
    assert env.scalar("select count(*) from person where kind = 'eleve' and status = 'active'") == 2
    assert env.scalar("select niveau from enrollment e join person p on p.id = e.person_id "
                      "where p.first_name = 'Tom'") == ""  # fmt: skip
    assert env.scalar("select count(*) from guardianship") == 1
    assert env.scalar("select email from person where kind = 'parent'") is None


def test_core_rule_an_ecole_export_emptied_to_its_header_is_refused_like_an_empty_source(tmp_path, db_url):
    """Core rule (hub/sync, not the plugin): the reader yields nothing for a header-only file; the core
    refuses a complete run in which an establishment that had pupils of this source gets none."""
    env = configure(HubEnv(tmp_path, db_url), "extraction")
    one_ecole(env, [eleve("Petit", "Léa", classe="CP"), eleve("Morel", "Tom", classe="CP")])
    one_ecole(env, [eleve("Roy", "Zoé", classe="CM2")], folder="0151002H École du Bourg")
    env.run("sync", "onde")
    before = env.stored_state()
    (env.root / "onde" / FOLDER / "CSVExtraction-eleves.csv").write_bytes(header_line())
    result = env.run("sync", "onde", expect=3)
    assert UAI in result.output
    assert env.stored_state() == before


def test_a_pupil_carries_on_when_the_ine_becomes_known(tmp_path, db_url):
    """The export without INE, then the same école with INE (single-file layout): the same people.

    The reader gives both records the same jointure; the core matches the INE record to the
    person stored under that jointure.
    """
    env = one_ecole(configure(HubEnv(tmp_path, db_url), "extraction"), [
        eleve("Petit", "Léa", classe="CP"), eleve("Morel", "Tom", born="2016-01-31", classe="CP"),
    ])  # fmt: skip
    env.run("sync", "onde")
    before = dict(env.rows("select jointure, id from person where kind = 'eleve'"))
    assert len(before) == 2
    for path in (env.root / "onde" / FOLDER).iterdir():
        path.unlink()
    (env.root / "onde" / FOLDER).rmdir()
    header = ["UAI école", "Nom école", "INE", "Nom élève", "Prénom élève", "Date naissance", "Niveau", "Classe"]
    rows = [[UAI, "École Jules Ferry", "0000000001B", "Petit", "Léa", "14/03/2016", "CE2", "CP"],
            [UAI, "École Jules Ferry", "0000000002C", "Morel", "Tom", "31/01/2016", "CE2", "CP"]]  # fmt: skip
    with (env.root / "onde" / f"ONDE_{UAI}.csv").open("w", encoding="cp1252", newline="") as f:
        csv.writer(f, delimiter=";", lineterminator="\r\n").writerows([header, *rows])
    env.run("sync", "onde")
    after = {j: (i, k) for j, i, k in env.rows("select jointure, id, person_key from person where kind = 'eleve' "
                                                "and status = 'active'")}  # fmt: skip
    assert {j: i for j, (i, _) in after.items()} == before
    assert sorted(k for _, k in after.values()) == ["ine:0000000001B", "ine:0000000002C"]
