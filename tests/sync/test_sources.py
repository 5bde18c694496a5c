"""Several sources over one académie: ONDE speaks for the écoles, AAF for collèges and lycées."""

import pytest
from aaf_files import records, rewrite, set_attr

from hub.demo import generate_academie


@pytest.fixture
def both(hub_env):
    hub_env.write_config(f"""
        [plugins.onde]
        path = "{hub_env.root / 'onde'}"
        school_year = 2026
        demo_layout = "ecole"  # single files with INEs: the écoles' pupils are the AAF's, by INE
        [sync]
        owners = {{ ecole = "onde" }}
        """, enabled=("aaf", "onde"))
    hub_env.run("demo", "--persons", "300", "generate")  # AAF files (écoles included) and ONDE files
    return hub_env


def test_one_run_reads_every_source_and_the_owner_wins(both):
    academie = generate_academie(persons=300, seed=1, school_year=2026)
    ecoles = {e.uai for e in academie.establishments if e.kind == "ecole"}
    pupils = list(academie.persons_of("eleve"))
    output = both.run("sync", "--all").output
    assert "people from aaf" in output and "people from onde" in output
    assert "superseded by another source" in output
    stored = dict(both.rows("select person_key, source from person where kind = 'eleve'"))
    assert len(stored) == len(pupils)  # one person per INE, whichever source carried it
    for pupil in pupils:
        assert stored[pupil.key] == ("onde" if pupil.uai in ecoles else "aaf"), pupil.key
    assert {uai: src for uai, src in both.rows("select uai, source from establishment where kind = 'ecole'")} \
        == dict.fromkeys(ecoles, "onde")
    counts = both.counts()
    assert set(counts["plan_by_source"]) == {"aaf", "onde"}
    assert counts["sources"]["aaf"]["superseded"] > 0

    both.run("sync", "--all")
    assert not any(k.startswith("person.") for k in both.counts())
    for source in ("aaf", "onde"):  # each alone agrees: nothing to take from the other
        both.run("sync", source)
        assert not any(k.startswith("person.") for k in both.counts()), source


def test_a_pupil_moving_up_to_the_college_is_not_pulled_back(both):
    both.run("sync", "--all")
    ecoles = {uai for (uai,) in both.rows("select uai from establishment where kind = 'ecole'")}
    college = both.scalar("select uai from establishment where kind = 'college' order by uai")
    structures = {attrs["ENTStructureUAI"][0]: id_ for id_, attrs in records(both.aaf_dir, "EtabEducNat")}
    mover = next(id_ for id_, attrs in records(both.aaf_dir, "Eleve")
                 if attrs["ENTEleveNivFormation"] == ["CM2"]
                 and any(structures.get(u) == attrs["ENTPersonStructRattach"][0] or u == attrs[
                     "ENTPersonStructRattach"][0] for u in ecoles))
    ine = dict(records(both.aaf_dir, "Eleve"))[mover]["ENTEleveINE"][0]

    def to_sixth_grade(id_, attrs, request):
        if id_ == mover:
            set_attr(request, "ENTPersonStructRattach", college)
            set_attr(request, "ENTEleveClasses", f"{college}$6A")
            set_attr(request, "ENTEleveNivFormation", "6EME")

    rewrite(both.aaf_dir, "Eleve", to_sixth_grade)
    both.run("sync", "--all")  # ONDE still lists the pupil in CM2: the collège's record wins (aaf is first)
    assert both.rows("select uai, source from person where person_key = :k", k=f"ine:{ine}")[0] == (college, "aaf")
    both.run("sync", "onde")
    assert both.rows("select uai, source from person where person_key = :k", k=f"ine:{ine}")[0] == (college, "aaf")
    assert both.counts()["sources"]["onde"]["superseded"] >= 1
