"""The continuity rules as tables: school years, rollovers, cycle-3 networks, inclusion, scopes, parents, sectors."""

from datetime import date

import pytest

from hub import continuity as c
from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    GroupKind,
    Membership,
    Person,
    PersonKind,
    TeachingAssignment,
)

ECOLE, COLLEGE, OTHER_ECOLE, LONE_COLLEGE = "0151001G", "0150001V", "0151002H", "0150002W"
NETWORKS = c.Networks({ECOLE: COLLEGE, OTHER_ECOLE: COLLEGE})


@pytest.mark.parametrize("today, rollover, year", [
    (date(2026, 11, 26), "08-25", 2026),
    (date(2026, 8, 24), "08-25", 2025),
    (date(2026, 8, 25), "08-25", 2026),
    (date(2027, 1, 1), "08-01", 2026),
    (date(2026, 8, 1), "08-01", 2026),
    (date(2026, 7, 31), "08-01", 2025),
])
def test_the_school_year_of_a_day_turns_on_the_rollover_day(today, rollover, year):
    assert c.school_year(today, rollover) == year
    assert c.year_starts(year, rollover) <= today < c.year_starts(year + 1, rollover)


@pytest.mark.parametrize("stored, read, complete, rolls", [
    (2025, 2026, True, True),  # the first complete read of the new year
    (2026, 2026, True, False),  # the same year again: a rollover run twice is a no-op
    (2025, 2026, False, False),  # a Delta does not turn the year
    (None, 2026, True, False),  # a first load: nothing to archive
    (2026, 2025, True, False),  # an old feed never turns it back
    (2025, None, True, False),  # nothing read there
])
def test_only_a_complete_read_of_a_later_year_rolls_an_establishment_over(stored, read, complete, rolls):
    assert c.rolls_over(stored, read, complete=complete) is rolls


@pytest.mark.parametrize("read, stored, today, early", [
    (2027, 2026, date(2027, 8, 24), True),  # next year's feed before its first day
    (2027, 2026, date(2027, 8, 25), False),
    (2026, 2026, date(2026, 1, 1), False),  # not a new year
    (2027, None, date(2026, 11, 1), False),  # a first load is not held
])
def test_a_year_that_has_not_started_is_held(read, stored, today, early):
    assert c.too_early(read, stored, today, "08-25") is early


@pytest.mark.parametrize("rolled, declared, members, taught, archived, archives", [
    (True, False, 0, 0, False, True),  # last year's 6A: nobody in it, nobody teaches it
    (True, True, 0, 0, False, False),  # the establishment still declares it
    (True, False, 3, 0, False, False),  # pupils (or a kept record) still name it
    (True, False, 0, 1, False, False),  # a teacher still teaches it
    (True, False, 0, 0, True, False),  # archived already: a rollover run twice is a no-op
    (False, False, 0, 0, False, False),  # no rollover: classes are never archived mid-year
])
def test_a_class_is_archived_at_rollover_only_when_nobody_names_it(rolled, declared, members, taught, archived,
                                                                    archives):
    assert c.archives_group(rolled_over=rolled, declared=declared, members=members, taught=taught,
                            archived=archived) is archives


@pytest.mark.parametrize("niveau, level", [
    ("CM1", "CM1"), ("cm2", "CM2"), ("6EME", "6EME"), ("6e", "6EME"), ("6 EME", "6EME"), ("SIXIÈME", "6EME"),
    ("CE2", None), ("5EME", None), ("", None), (None, None), ("ULIS", None),
])
def test_cycle_3_niveaux(niveau, level):
    assert c.cycle3_level(niveau) == level


@pytest.mark.parametrize("uai, niveau, network", [
    (ECOLE, "CM1", COLLEGE), (OTHER_ECOLE, "CM2", COLLEGE),  # écoles of the secteur
    (COLLEGE, "6EME", COLLEGE),  # the secteur collège's 6e
    (ECOLE, "CE2", None),  # not cycle 3 in its école part
    (COLLEGE, "CM2", None), (ECOLE, "6EME", None),  # a niveau where it is not taught
    (LONE_COLLEGE, "6EME", None),  # a collège no école feeds heads no network
    ("0151003J", "CM2", None),  # an école without secteur
])
def test_each_pupil_of_cycle_3_belongs_to_their_secteur_network(uai, niveau, network):
    assert NETWORKS.network_of(uai, c.cycle3_level(niveau)) == network


def _teacher(*classes, memberships=()):
    return Person(PersonKind.ENSEIGNANT, "Durand", "Paul", jointure="123", uai=classes[0][0],
                  assignments=tuple(TeachingAssignment(uai, code) for uai, code in classes), memberships=memberships)


@pytest.mark.parametrize("teacher, networks", [
    (_teacher((ECOLE, "CE2-CM1")), {(COLLEGE, "CYCLE3-CM1")}),
    (_teacher((ECOLE, "CP-CE1-CE2-CM1-CM2")), {(COLLEGE, "CYCLE3-CM1"), (COLLEGE, "CYCLE3-CM2")}),
    (_teacher((ECOLE, "CP"), (ECOLE, "CE1")), set()),
    (_teacher((COLLEGE, "601"), (COLLEGE, "6B"), (COLLEGE, "4A")), {(COLLEGE, "CYCLE3-6EME")}),
    (_teacher((COLLEGE, "5A"), memberships=(Membership(COLLEGE, "CYCLE3-6EME", GroupKind.INTER),)), set()),  # stale
    (_teacher((LONE_COLLEGE, "6A")), set()),  # a collège no école feeds heads no network
    (_teacher((OTHER_ECOLE, "CM2"), (COLLEGE, "6A")), {(COLLEGE, "CYCLE3-CM2"), (COLLEGE, "CYCLE3-6EME")}),
])
def test_a_teacher_of_a_cycle_3_class_joins_its_network_group(teacher, networks):
    derived = c.derived_memberships(teacher, NETWORKS)
    assert {(m.uai, m.code) for m in derived if m.kind == GroupKind.INTER} == networks
    assert not [m for m in c.derived_memberships(teacher, c.Networks({}, enabled=False)) if m.kind == GroupKind.INTER]


def test_a_network_has_one_inter_group_per_cycle_3_niveau_under_the_college():
    groups = c.network_groups(Establishment(COLLEGE, "Collège Jean Moulin", EstablishmentKind.COLLEGE))
    assert [(g.uai, g.code, g.kind) for g in groups] == [
        (COLLEGE, "CYCLE3-CM1", GroupKind.INTER), (COLLEGE, "CYCLE3-CM2", GroupKind.INTER),
        (COLLEGE, "CYCLE3-6EME", GroupKind.INTER)]
    assert groups[2].label == "Cycle 3 6e — réseau Collège Jean Moulin"


@pytest.mark.parametrize("niveau, division, scheme", [
    ("ULIS", "ULIS-ECOLE", "ULIS"), ("CLIS", "", "ULIS"), ("6EME SEGPA", "6SEGPA", "SEGPA"),
    ("4EME", "4SEGPA", "SEGPA"), ("UPE2A", "UPE2A", "UPE2A"), ("CM2", "CM2-A", None), ("6EME", "6A", None),
    ("CM1", "ULIS école", "ULIS"),
])
def test_inclusion_schemes_are_read_from_the_niveau_or_the_division(niveau, division, scheme):
    assert c.scheme_of(niveau, division) == scheme


def _pupil(uai, niveau, division, *memberships):
    return Person(PersonKind.ELEVE, "Martin", "Léa", ine="1234567890A", uai=uai,
                  enrollment=Enrollment(2026, uai, "", niveau, division),
                  memberships=(Membership(uai, division, GroupKind.DIVISION), *memberships))


@pytest.mark.parametrize("pupil, added", [
    (_pupil(ECOLE, "CM2", "CM2-A"), {(COLLEGE, "CYCLE3-CM2", GroupKind.INTER)}),
    (_pupil(COLLEGE, "6EME", "6A"), {(COLLEGE, "CYCLE3-6EME", GroupKind.INTER)}),
    (_pupil(ECOLE, "ULIS", "ULIS-ECOLE"), {(ECOLE, "ULIS", GroupKind.GROUPE)}),  # ONDE: niveau ULIS
    (_pupil(ECOLE, "ULIS", "ULIS"), set()),  # a division coded ULIS is the scheme's group itself
    (_pupil(COLLEGE, "6EME SEGPA", "6SEGPA"), {(COLLEGE, "SEGPA", GroupKind.GROUPE),
                                              (COLLEGE, "CYCLE3-6EME", GroupKind.INTER)}),
    (_pupil(COLLEGE, "5EME", "5A", Membership(COLLEGE, "ULIS")), set()),  # AAF names the ULIS group already
    (_pupil(COLLEGE, "5EME", "5A", Membership(COLLEGE, "CYCLE3-6EME", GroupKind.INTER)), set()),  # stale: dropped
    (_pupil(ECOLE, "CE1", "CE1"), set()),
])
def test_a_pupil_gains_their_network_and_scheme_groups_beside_the_division(pupil, added):
    derived = c.derived_memberships(pupil, NETWORKS)
    assert (pupil.enrollment.uai, pupil.enrollment.division, GroupKind.DIVISION) in {
        (m.uai, m.code, m.kind) for m in derived}  # the division stays
    kept = {(m.uai, m.code, m.kind) for m in pupil.memberships if m.kind != GroupKind.INTER}
    assert {(m.uai, m.code, m.kind) for m in derived} - kept == added
    off = {(m.uai, m.code, m.kind) for m in c.derived_memberships(pupil, c.Networks({}, enabled=False))}
    assert off - kept == {a for a in added if a[2] != GroupKind.INTER}  # networks off: schemes only


def test_staff_and_parents_gain_nothing():
    teacher = Person(PersonKind.ENSEIGNANT, "Roux", "Paul", jointure="7", uai=ECOLE)
    assert c.with_continuity(teacher, NETWORKS) is teacher


@pytest.mark.parametrize("op, was, now, heard", [
    ("create", False, True, "create"), ("create", False, False, None),
    ("update", True, True, "update"), ("update", False, True, "join"), ("update", True, False, "leave"),
    ("move", True, True, "move"), ("move", True, False, "leave"), ("move", False, True, "join"),
    ("move", False, False, None),
    ("delete", True, False, "delete"), ("delete", False, False, None),
    ("restore", False, True, "restore"),
])
def test_what_a_scoped_target_hears_of_a_person(op, was, now, heard):
    assert c.person_op(op, was_served=was, is_served=now) == heard


@pytest.mark.parametrize("children, served, result", [
    ([(ECOLE, True)], {ECOLE}, True),
    ([(ECOLE, False)], {ECOLE}, False),  # the child is deleted (grace period): the parent is no longer served
    ([(COLLEGE, True)], {ECOLE}, False),  # CM2 → 6e: the école target loses the parent…
    ([(COLLEGE, True)], {COLLEGE}, True),  # …the collège target gains them
    ([(COLLEGE, True), (ECOLE, True)], {ECOLE}, True),  # a younger sibling stays at the école
    ([(None, True)], None, False),
    ([(ECOLE, True)], None, True),  # an unscoped target serves every establishment
])
def test_a_parent_is_served_while_one_child_is_active_in_a_served_establishment(children, served, result):
    assert c.parent_served(children, served) is result


@pytest.mark.parametrize("named_deleted, mentioned, complete, children, kept", [
    (False, False, True, 1, True),  # left out of a Complet, a child still schooled: kept
    (False, False, True, 0, False),  # left out, no child left: deleted
    (True, False, False, 1, False),  # the source says they are gone (Delta deleteRequest): deleted
    (False, True, True, 0, True),  # still in the feed
    (False, False, False, 0, True),  # a Delta that does not mention them
])
def test_the_core_keeps_a_parent_while_a_child_is_schooled(named_deleted, mentioned, complete, children, kept):
    assert c.parent_kept(named_deleted=named_deleted, mentioned=mentioned, complete=complete,
                         active_children=children) is kept


@pytest.mark.parametrize("uai, functions, served, result", [
    (COLLEGE, [ECOLE], {ECOLE}, True),  # a teacher attached to the collège who teaches in an école
    (COLLEGE, [], {ECOLE}, False),
    (None, [ECOLE], {ECOLE}, True),
    (COLLEGE, [COLLEGE, LONE_COLLEGE], None, True),
])
def test_staff_are_served_wherever_they_work(uai, functions, served, result):
    assert c.staff_served(uai, functions, served) is result


@pytest.mark.parametrize("rows, pairs, problems", [
    ([(2, [ECOLE, COLLEGE])], [(ECOLE, COLLEGE)], []),
    ([(2, [f" {ECOLE.lower()} ", COLLEGE])], [(ECOLE, COLLEGE)], []),
    ([(2, ["", ""]), (3, [ECOLE, COLLEGE])], [(ECOLE, COLLEGE)], []),  # blank lines are skipped
    ([(2, ["0151001A", COLLEGE])], [], ["line 2: UAI 0151001A has check letter A, expected G"]),
    ([(2, [ECOLE])], [], ["line 2: 1 field(s), expected 2 (UAI école; UAI collège)"]),
    ([(2, [ECOLE, COLLEGE]), (5, [ECOLE, LONE_COLLEGE])], [(ECOLE, COLLEGE)],
     [f"line 5: école {ECOLE} is already on line 2"]),
    ([(4, ["école", COLLEGE])], [], ["line 4: UAI 'école' is not 7 digits and a letter"]),
])
def test_sector_file_lines(rows, pairs, problems):
    found, errors = c.parse_sector_rows(rows)
    assert [(p.ecole, p.college) for p in found] == pairs
    assert errors == problems


def test_sector_pairs_name_known_ecoles_and_colleges():
    kinds = {ECOLE: "ecole", COLLEGE: "college", LONE_COLLEGE: "college"}
    pairs = [c.SectorLine(2, ECOLE, COLLEGE), c.SectorLine(3, COLLEGE, LONE_COLLEGE),
             c.SectorLine(4, OTHER_ECOLE, COLLEGE)]
    assert c.check_sector_pairs(pairs, kinds) == [
        f"line 3: {COLLEGE} is a college, not an école", f"line 4: {OTHER_ECOLE} is not a known establishment"]
