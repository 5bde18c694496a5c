"""What a person's SCIM account carries: pupils only what they need (they are minors), staff their functions."""

from datetime import date

import pytest

from hub.model import Enrollment, Function, Guardianship, Membership, Person, PersonKind, TeachingAssignment
from plugins.ent_kosmos.mapping import ENTERPRISE, HUB_USER, parents_patch, profile, user_resource

PUPIL = Person(PersonKind.ELEVE, "Martin", "Léa", jointure="1001", ine="1234567890A", uai="0150001A",
               birth_date=date(2014, 3, 2), email="lea@example.fr", enrollment=Enrollment(2026, "0150001A", "", "6EME"),
               memberships=(Membership("0150001A", "6A", "division"),),
               guardians=(Guardianship("jnt:2001", 1), Guardianship("jnt:2002", 0)))
TEACHER = Person(PersonKind.ENSEIGNANT, "Durand", "Paul", jointure="3001", uai="0150001A", email="p@ac.fr",
                 functions=(Function("0150001A", "ENS", "ENSEIGNEMENT"),),
                 assignments=(TeachingAssignment("0150001A", "6A", "MATHS"),))


@pytest.mark.parametrize("released, present, absent", [
    ((), set(), {"emails", "birthDate"}),
    (("email",), {"emails"}, {"birthDate"}),
    (("birth_date",), {"birthDate"}, {"emails"}),
])
def test_a_pupil_gets_only_what_a_setting_releases(released, present, absent):
    user = user_resource(PUPIL, {"jnt:2001": "p-1"}.get, pupil_attributes=released)
    keys = set(user) | set(user[HUB_USER])
    assert present <= keys and not absent & keys
    assert user["userName"] == "1001" and user["externalId"] == "ine:1234567890A" and ENTERPRISE not in user
    assert user[HUB_USER]["parents"] == [{"key": "jnt:2001", "rank": 1, "value": "p-1"}, {"key": "jnt:2002", "rank": 0}]
    assert user[HUB_USER]["classes"] == [{"value": "0150001A/6A", "type": "division"}]
    assert user[HUB_USER]["niveau"] == "6EME" and user[HUB_USER]["profile"] == "National_ELV"


def test_staff_carry_their_functions_classes_and_the_enterprise_extension():
    user = user_resource(TEACHER, {}.get)
    assert user[ENTERPRISE] == {"employeeNumber": "3001", "organization": "0150001A", "department": "ENSEIGNEMENT"}
    assert user[HUB_USER]["classes"] == [{"value": "0150001A/6A", "type": "teaching", "subject": "MATHS"}]
    assert user["emails"][0]["value"] == "p@ac.fr"


@pytest.mark.parametrize("kind, codes, expected", [
    (PersonKind.ELEVE, (), "National_ELV"), (PersonKind.PARENT, (), "National_TUT"),
    (PersonKind.ENSEIGNANT, ("ENS",), "National_ENS"), (PersonKind.ENSEIGNANT, ("DOC",), "National_DOC"),
    (PersonKind.PERSONNEL, ("DIR",), "National_DIR"), (PersonKind.PERSONNEL, ("EDU",), "National_EVS"),
    (PersonKind.PERSONNEL, ("ADF",), "National_ETA"),
])
def test_profiles(kind, codes, expected):
    functions = tuple(Function("0150001A", c) for c in codes)
    person = Person(kind, "A", "B", jointure="1", uai="0150001A", functions=functions)
    assert profile(person) == expected


def test_a_pupil_without_parents_has_them_removed():
    alone = Person(PersonKind.ELEVE, "A", "B", jointure="1", uai="0150001A")
    assert parents_patch(alone, {}.get)["Operations"] == [{"op": "remove", "path": f"{HUB_USER}:parents"}]
