"""The synthetic académie (hub.demo) that the AAF writer turns into files: determinism, size, validity."""

from __future__ import annotations

from collections import Counter

import pytest

from hub.demo import generate_academie
from hub.model import EstablishmentKind, GroupKind, Membership, PersonKind, validate_ine, validate_uai


@pytest.fixture(scope="module")
def small_academie():
    return generate_academie(persons=300, seed=7, school_year=2026)


def test_same_arguments_give_the_same_academie():
    first, second = generate_academie(500, seed=3), generate_academie(500, seed=3)
    assert first.establishments == second.establishments
    assert list(first.persons()) == list(second.persons())
    assert list(first.persons()) == list(first.persons())  # regenerated, not consumed


def test_another_seed_gives_another_academie():
    first, second = generate_academie(500, seed=3), generate_academie(500, seed=4)
    assert [p.last_name for p in first.persons()] != [p.last_name for p in second.persons()]
    assert {p.ine for p in first.persons() if p.ine}.isdisjoint({p.ine for p in second.persons() if p.ine})


@pytest.mark.parametrize("persons", [300, 2000, 20_000])
def test_size_is_close_to_the_request_and_counts_are_exact(persons):
    academie = generate_academie(persons)
    counts = academie.counts()
    assert abs(sum(counts.values()) - persons) <= 0.05 * persons
    assert Counter(p.kind for p in academie.persons()) == counts
    staff = counts[PersonKind.ENSEIGNANT] + counts[PersonKind.PERSONNEL]
    assert 0.02 * persons <= staff <= 0.08 * persons


def test_a_million_is_planned_without_generating_anyone():
    academie = generate_academie(1_000_000)
    assert abs(sum(academie.counts().values()) - 1_000_000) <= 50_000
    assert len({e.uai for e in academie.establishments}) == len(academie.establishments)


def test_persons_of_is_persons_filtered():
    academie = generate_academie(400)
    for kind in PersonKind:
        assert list(academie.persons_of(kind)) == [p for p in academie.persons() if p.kind == kind]


def test_establishments_are_valid_and_organised_in_secteurs(small_academie):
    kinds = Counter(e.kind for e in small_academie.establishments)
    assert kinds[EstablishmentKind.COLLEGE] >= 1 and kinds[EstablishmentKind.LYCEE] >= 1
    assert kinds[EstablishmentKind.ECOLE] >= 2
    colleges = {e.uai for e in small_academie.establishments if e.kind == EstablishmentKind.COLLEGE}
    for e in small_academie.establishments:
        assert validate_uai(e.uai) == e.uai and e.name and e.commune
        assert all(g.uai == e.uai for g in e.groups)
        assert any(g.kind == GroupKind.DIVISION for g in e.groups)
        if e.kind == EstablishmentKind.ECOLE:
            assert e.secteur_college in colleges
        if e.kind == EstablishmentKind.COLLEGE:
            assert e.zone.startswith(("ZP-", "ZA-")) and e.territorial_unit.startswith("Bassin")
            assert {"LATIN", "ULIS"} <= {g.code for g in e.groups if g.kind == GroupKind.GROUPE}


def test_people_are_valid_and_linked(small_academie):
    people = list(small_academie.persons())
    groups = {(g.uai, g.code): g.kind for e in small_academie.establishments for g in e.groups}
    parents = {p.jointure for p in people if p.kind == PersonKind.PARENT}
    children = Counter(g.parent_key for p in people for g in p.guardians)
    assert len({p.jointure for p in people}) == len(people)
    assert all(p.source_ref == "" for p in people)
    pupils = [p for p in people if p.kind == PersonKind.ELEVE]
    assert len({p.ine for p in pupils}) == len(pupils)
    for p in pupils:
        assert validate_ine(p.ine) == p.ine and len(p.jointure) >= 7
        e = p.enrollment
        assert e.uai == p.uai and e.school_year == 2026 and len(e.mef) == 11 and e.mef.isdigit()
        assert p.memberships[0] == Membership(p.uai, e.division, GroupKind.DIVISION)
        assert all(groups[(m.uai, m.code)] == m.kind for m in p.memberships)
        assert [g.rank for g in p.guardians] in ([1], [1, 2])
        assert all(g.parent_key.removeprefix("jnt:") in parents for g in p.guardians)
    assert all(children[f"jnt:{j}"] >= 1 for j in parents)
    assert any(n == 2 for n in children.values())  # siblings share their parents
    for p in people:
        if p.kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
            assert p.uai and p.email.endswith("@ac-clermont.example")
            assert all((a.uai, a.group_code) in groups for a in p.assignments)
        if p.kind == PersonKind.PARENT:
            assert p.uai is None and "@" in p.email


@pytest.mark.parametrize(
    ("niveau", "age"), [("CP", 6), ("CM2", 10), ("6EME", 11), ("3EME", 14), ("2NDE", 15), ("TLE", 17)]
)
def test_birth_dates_fit_the_niveau(niveau, age):
    academie = generate_academie(3000)
    ages = {2026 - p.birth_date.year for p in academie.persons_of("eleve") if p.enrollment.niveau == niveau}
    assert ages and ages <= {age, age + 1}


@pytest.mark.parametrize(("category", "low", "high"), [("Eleve", 2000, 3200), ("PersEducNat", 1300, 2400)])
def test_demo_records_are_as_wide_as_real_ones(small_aaf, category, low, high):
    """A real pupil record is about 2.5 KB, a member of staff's about 1.7 KB, with 25 to 40 attributes."""
    from aaf_files import records

    files = sorted(small_aaf.glob(f"*_{category}_*.xml"))
    found = records(small_aaf, category)
    size = sum(f.stat().st_size for f in files) / len(found)
    assert low <= size <= high
    widths = sorted(len(attrs) for _, attrs in found)
    assert 25 <= widths[len(widths) // 2] <= 40
    assert all(
        len(set(attrs["ENTEleveCodeEnseignements"])) > 1
        for _, attrs in found
        if category == "Eleve" and attrs["ENTEleveMEF"][0][:1] in "12"
    )  # several values where the académie sends several
