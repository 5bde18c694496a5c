"""Read stored entities back as `hub.model` records (for Delta patches and for delivery)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    TeachingAssignment,
)
from hub.store.tables import (
    enrollment,
    establishment,
    group,
    group_membership,
    guardianship,
    person,
    teaching_assignment,
)


def resolve_key(conn: Connection, key: str) -> str | None:
    """The stored identity key for ``key``; ``jnt:X`` also finds a pupil stored under their INE."""
    found = conn.scalar(select(person.c.person_key).where(person.c.person_key == key))
    if found is None and key.startswith("jnt:"):
        found = conn.scalar(select(person.c.person_key).where(person.c.jointure == key[4:]).limit(1))
    return found


def load_person(conn: Connection, key: str) -> Person | None:
    """The stored person with this identity key, relations included, or None."""
    row = conn.execute(select(person).where(person.c.person_key == key)).first()
    if row is None:
        return None
    enrollments = conn.execute(
        select(enrollment).where(enrollment.c.person_id == row.id).order_by(enrollment.c.school_year.desc())
    ).all()
    memberships = conn.execute(
        select(group.c.uai, group.c.code, group.c.kind)
        .join(group_membership, group_membership.c.group_id == group.c.id)
        .where(group_membership.c.person_id == row.id)
    ).all()
    parent = person.alias("parent")
    guardians = conn.execute(
        select(parent.c.person_key, guardianship.c.rank)
        .join(parent, parent.c.id == guardianship.c.parent_id)
        .where(guardianship.c.pupil_id == row.id)
    ).all()
    assignments = conn.execute(
        select(teaching_assignment.c.uai, teaching_assignment.c.group_code, teaching_assignment.c.subject)
        .where(teaching_assignment.c.person_id == row.id)
    ).all()
    e = enrollments[0] if enrollments else None
    return Person(
        kind=PersonKind(row.kind), last_name=row.last_name, first_name=row.first_name, jointure=row.jointure,
        ine=row.ine, birth_date=row.birth_date, email=row.email, uai=row.uai,
        enrollment=e and Enrollment(e.school_year, e.uai, e.mef, e.niveau, e.division),
        memberships=tuple(Membership(m.uai, m.code, GroupKind(m.kind)) for m in memberships),
        guardians=tuple(Guardianship(g.person_key, g.rank) for g in guardians),
        assignments=tuple(TeachingAssignment(a.uai, a.group_code, a.subject) for a in assignments),
    )


def load_establishment(conn: Connection, uai: str) -> Establishment | None:
    row = conn.execute(select(establishment).where(establishment.c.uai == uai)).first()
    if row is None:
        return None
    groups = conn.execute(select(group).where(group.c.uai == uai).order_by(group.c.code)).all()
    return Establishment(
        uai=row.uai, name=row.name, kind=EstablishmentKind(row.kind), commune=row.commune,
        secteur_college=row.secteur_college, zone=row.zone, territorial_unit=row.territorial_unit,
        groups=[Group(g.uai, g.code, GroupKind(g.kind), g.label) for g in groups],
    )
