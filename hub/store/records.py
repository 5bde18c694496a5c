"""Read stored entities back as `hub.model` records (for Delta patches and for delivery), many at a time."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, or_, select

from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    FamilyLink,
    Function,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    MembershipLink,
    Person,
    PersonKind,
    TeachingAssignment,
)
from hub.store.tables import (
    SUBJECT_SEPARATOR,
    enrollment,
    establishment,
    group,
    group_membership,
    guardianship,
    person,
    person_function,
    teaching_assignment,
)


def split_subjects(stored: str) -> tuple[str, ...]:
    """A pupil's subject codes as the enrollment row keeps them (joined by SUBJECT_SEPARATOR)."""
    return tuple(stored.split(SUBJECT_SEPARATOR)) if stored else ()


def resolve_keys(conn: Connection, keys: list[str]) -> dict[str, str]:
    """Stored identity key for each given key; ``jnt:X`` also finds a pupil stored under their INE."""
    jointures = [key[4:] for key in keys if key.startswith("jnt:")]
    rows = conn.execute(select(person.c.person_key, person.c.jointure).where(
        or_(person.c.person_key.in_(keys), person.c.jointure.in_(jointures)))).all()
    found = {row.person_key: row.person_key for row in rows if row.person_key in set(keys)}
    for row in rows:
        if row.jointure:
            found.setdefault(f"jnt:{row.jointure}", row.person_key)
    return {key: found[key] for key in keys if key in found}


def load_people(conn: Connection, keys: list[str]) -> dict[str, Person]:
    """The stored people with these identity keys, relations included (six queries whatever the count)."""
    rows = conn.execute(select(person).where(person.c.person_key.in_(keys))).all()
    ids = [row.id for row in rows]
    enrollments: dict[int, list] = defaultdict(list)
    for e in conn.execute(select(enrollment).where(enrollment.c.person_id.in_(ids))
                          .order_by(enrollment.c.school_year.desc())):
        enrollments[e.person_id].append(Enrollment(e.school_year, e.uai, e.mef, e.niveau, e.division,
                                                    split_subjects(e.subjects)))
    memberships: dict[int, list] = defaultdict(list)
    for m in conn.execute(select(group_membership.c.person_id, group.c.uai, group.c.code, group.c.kind)
                          .join(group, group_membership.c.group_id == group.c.id)
                          .where(group_membership.c.person_id.in_(ids))):
        memberships[m.person_id].append(Membership(m.uai, m.code, GroupKind(m.kind)))
    parent = person.alias("parent")
    guardians: dict[int, list] = defaultdict(list)
    for g in conn.execute(select(guardianship.c.pupil_id, parent.c.person_key, guardianship.c.rank)
                          .join(parent, parent.c.id == guardianship.c.parent_id)
                          .where(guardianship.c.pupil_id.in_(ids))):
        guardians[g.pupil_id].append(Guardianship(g.person_key, g.rank))
    assignments: dict[int, list] = defaultdict(list)
    for a in conn.execute(select(teaching_assignment).where(teaching_assignment.c.person_id.in_(ids))):
        assignments[a.person_id].append(TeachingAssignment(a.uai, a.group_code, a.subject, a.principal))
    functions: dict[int, list] = defaultdict(list)
    for f in conn.execute(select(person_function).where(person_function.c.person_id.in_(ids))):
        functions[f.person_id].append(Function(f.uai, f.code, f.label, f.discipline))
    return {row.person_key: Person(
        kind=PersonKind(row.kind), last_name=row.last_name, first_name=row.first_name, jointure=row.jointure,
        ine=row.ine, birth_date=row.birth_date, email=row.email, uai=row.uai,
        enrollment=enrollments[row.id][0] if enrollments[row.id] else None,
        memberships=tuple(memberships[row.id]), guardians=tuple(guardians[row.id]),
        assignments=tuple(assignments[row.id]), functions=tuple(functions[row.id]),
    ) for row in rows}


def load_establishment(conn: Connection, uai: str) -> Establishment | None:
    row = conn.execute(select(establishment).where(establishment.c.uai == uai)).first()
    if row is None:
        return None
    groups = conn.execute(select(group).where(group.c.uai == uai).order_by(group.c.code)).all()
    return Establishment(
        uai=row.uai, name=row.name, kind=EstablishmentKind(row.kind), commune=row.commune,
        secteur_college=row.secteur_college, zone=row.zone, territorial_unit=row.territorial_unit,
        groups=[Group(g.uai, g.code, GroupKind(g.kind), g.label) for g in groups], pseudo=row.pseudo,
    )


def load_links(conn: Connection, entity: str, keys: list[str]) -> dict[str, Group | MembershipLink | FamilyLink]:
    """Groups (key ``UAI/code``), memberships (``person_key|UAI/code``) or family links (``pupil_key|parent_key``)
    as stored now, one query for all the keys; a key whose link is gone is left out."""
    wanted = set(keys)
    if entity == "group":
        uais = {key.partition("/")[0] for key in wanted}
        rows = conn.execute(select(group).where(group.c.uai.in_(uais))).all()
        found = {f"{r.uai}/{r.code}": Group(r.uai, r.code, GroupKind(r.kind), r.label) for r in rows}
    elif entity == "membership":
        owners = {key.partition("|")[0] for key in wanted}
        rows = conn.execute(select(person.c.person_key, group.c.uai, group.c.code, group.c.kind)
                            .join(group_membership, group_membership.c.group_id == group.c.id)
                            .join(person, person.c.id == group_membership.c.person_id)
                            .where(person.c.person_key.in_(owners))).all()
        found = {f"{r.person_key}|{r.uai}/{r.code}": MembershipLink(r.person_key, r.uai, r.code, GroupKind(r.kind))
                 for r in rows}
    elif entity == "guardianship":
        parent = person.alias("parent")
        owners = {key.partition("|")[0] for key in wanted}
        rows = conn.execute(select(person.c.person_key, parent.c.person_key.label("parent_key"), guardianship.c.rank)
                            .join(person, person.c.id == guardianship.c.pupil_id)
                            .join(parent, parent.c.id == guardianship.c.parent_id)
                            .where(person.c.person_key.in_(owners))).all()
        found = {f"{r.person_key}|{r.parent_key}": FamilyLink(r.person_key, r.parent_key, r.rank) for r in rows}
    else:
        raise ValueError(f"unknown entity {entity}")
    return {key: link for key, link in found.items() if key in wanted}
