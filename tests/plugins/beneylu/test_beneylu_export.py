"""The files of one école, from a hand-made roster (pure functions, no server, no database)."""

from __future__ import annotations

import csv
import io
from datetime import date

from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    TeachingAssignment,
)
from hub.queries import Roster
from plugins.beneylu.export import ecole_files

UAI, COLLEGE = "0151001G", "0151000F"


def rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("cp1252"), newline=""), delimiter=";"))


def pupil(n: int, first: str, division: str, *, guardians=(), memberships=()) -> Person:
    return Person(PersonKind.ELEVE, f"Élève{n}", first, jointure=f"p{n}", birth_date=date(2016, 3, n),
                  uai=UAI, enrollment=Enrollment(2026, UAI, "", "CM2", division),
                  guardians=tuple(guardians), memberships=tuple(memberships))  # fmt: skip


def roster(guardian_order=(1, 2)) -> Roster:
    ecole = Establishment(UAI, "École Jules Ferry", EstablishmentKind.ECOLE, secteur_college=COLLEGE,
                          groups=[Group(UAI, "CM1/CM2", GroupKind.DIVISION, "CM1-CM2 Mme Roux")])
    links = {1: Guardianship("jnt:m1", 1), 2: Guardianship("jnt:m2", 2)}
    people = [
        pupil(1, "Łukasz", "CM1/CM2", guardians=[links[r] for r in guardian_order],
              memberships=[Membership(COLLEGE, "CYCLE3-CM2", GroupKind.INTER)]),
        pupil(2, "Zoë", "CM1/CM2"),
        Person(PersonKind.ENSEIGNANT, "Roux", "Anne", jointure="t1", uai=UAI,
               assignments=(TeachingAssignment(UAI, "CM1/CM2"), TeachingAssignment("0151002H", "CP")),
               functions=(Function(UAI, "ENS"), Function(UAI, "DIR"))),
        Person(PersonKind.ENSEIGNANT, "Abel", "Marc", jointure="t2", uai=UAI,
               assignments=(TeachingAssignment(UAI, "CM1/CM2"),), functions=(Function(UAI, "ENS"),)),
    ]
    parents = [Person(PersonKind.PARENT, "Mère", "Ana", jointure="m1", email="ana@example.net"),
               Person(PersonKind.PARENT, "Père", "Luc", jointure="m2")]
    return Roster(ecole, people, parents)


COLLEGE_RECORD = Establishment(COLLEGE, "Collège Camus", EstablishmentKind.COLLEGE,
                               groups=[Group(COLLEGE, "CYCLE3-CM2", GroupKind.INTER, "Cycle 3 CM2"),
                                       Group(COLLEGE, "CYCLE3-6EME", GroupKind.INTER, "Cycle 3 6e")])  # fmt: skip


def test_the_extraction_marks_the_directeur_and_keeps_only_the_ecoles_classes():
    files = ecole_files(roster(), COLLEGE_RECORD)
    teachers = rows(files["CSVExtraction-enseignants.csv"])[1:]
    assert [(r[1], r[11], r[12]) for r in teachers] == [("Roux", "oui", "CM1-CM2 Mme Roux"),
                                                        ("Abel", "non", "CM1-CM2 Mme Roux")]
    responsables = rows(files["CSVExtraction-responsables.csv"])[1:]
    assert [(r[1], r[3], r[8], r[13], r[14], r[15]) for r in responsables] == [
        ("Mère", "Ana", "ana@example.net", "Élève1", "?ukasz", "CM1-CM2 Mme Roux"),
        ("Père", "Luc", "", "Élève1", "?ukasz", "CM1-CM2 Mme Roux")]


def test_characters_windows_1252_lacks_lose_their_accent_or_become_a_question_mark():
    eleves = rows(ecole_files(roster(), None)["CSVExtraction-eleves.csv"])[1:]
    assert [(r[0], r[2], r[3], r[15]) for r in eleves] == [("Élève1", "?ukasz", "2016-03-01", "CM1-CM2 Mme Roux"),
                                                           ("Élève2", "Zoë", "2016-03-02", "CM1-CM2 Mme Roux")]
    alone = Roster(roster().establishment, [pupil(3, "Ődön", "CM1/CM2")], [])
    assert rows(ecole_files(alone, None)["CSVExtraction-eleves.csv"])[1][2] == "Odön"  # ö is in Windows-1252, Ő is not


def test_the_same_roster_gives_the_same_bytes_whatever_the_order_of_relations():
    assert ecole_files(roster((1, 2)), COLLEGE_RECORD) == ecole_files(roster((2, 1)), COLLEGE_RECORD)


def test_the_network_file_lists_the_collèges_groups_and_only_the_ecoles_people():
    network = rows(ecole_files(roster(), COLLEGE_RECORD)["CSVExtraction-reseau.csv"])
    assert network[1:] == [
        [UAI, "École Jules Ferry", COLLEGE, "Collège Camus", "CYCLE3-6EME", "Cycle 3 6e", COLLEGE, "", "", "", "", ""],
        [UAI, "École Jules Ferry", COLLEGE, "Collège Camus", "CYCLE3-CM2", "Cycle 3 CM2", COLLEGE, "élève",
         "Élève1", "?ukasz", "01/03/2016", "CM1-CM2 Mme Roux"]]
    alone = Roster(Establishment(UAI, "École", EstablishmentKind.ECOLE), [], [])
    assert rows(ecole_files(alone, None)["CSVExtraction-reseau.csv"])[1:] == [[UAI, "École", "", "", *[""] * 8]]


def test_the_fast_input_layout_is_one_headerless_file_per_class():
    files = ecole_files(roster(), COLLEGE_RECORD, "fast_input")
    (name,) = [n for n in files if n.startswith("saisie-rapide-")]
    assert name.startswith("saisie-rapide-CM1_CM2-") and name.endswith(".csv")  # "/" made safe, hashed apart
    assert rows(files[name]) == [["Élève1", "?ukasz", "", "01/03/2016"], ["Élève2", "Zoë", "", "02/03/2016"]]
    assert set(files) == {name, "CSVExtraction-reseau.csv"}
