"""Read stored entities back as `hub.model` records (for Delta patches and for delivery), many at a time."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import cache

from sqlalchemy import Connection, String, Table, bindparam, cast, literal, null, or_, select, union_all

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
    PersonStatus,
    TeachingAssignment,
)
from hub.store import among
from hub.store.tables import (
    SUBJECT_SEPARATOR,
    enrollment,
    establishment,
    group,
    group_membership,
    guardianship,
    person,
    person_function,
    stage_assignment,
    stage_enrollment,
    stage_function,
    stage_guardianship,
    stage_membership,
    stage_person,
    teaching_assignment,
)

LOAD_BATCH = 2000  # keys per `load_people` query


def split_subjects(stored: str) -> tuple[str, ...]:
    """A pupil's subject codes as the enrollment row keeps them (joined by SUBJECT_SEPARATOR)."""
    return tuple(stored.split(SUBJECT_SEPARATOR)) if stored else ()


def resolve_keys(conn: Connection, keys: list[str]) -> dict[str, tuple[str, int]]:
    """Stored identity key and id of the person each key names; ``jnt:X`` also finds a pupil stored under their
    INE (a key names its own person first)."""
    rows = conn.execute(select(person.c.person_key, person.c.jointure, person.c.id)
                        .where(_naming(conn, person, keys))).all()  # fmt: skip
    found = {row.person_key: (row.person_key, row.id) for row in rows}
    for row in rows:
        if row.jointure:
            found.setdefault(f"jnt:{row.jointure}", (row.person_key, row.id))
    return {key: found[key] for key in keys if key in found}


def _naming(conn: Connection, table: Table, keys: list[str]):
    """Rows of ``table`` (person, stage_person) under one of ``keys``, or ``jnt:X`` for jointure X."""
    jointures = [key[4:] for key in keys if key.startswith("jnt:")]
    return or_(among(conn, table.c.person_key, keys), among(conn, table.c.jointure, jointures))


def load_people(conn: Connection, keys: list[str], *, active_only: bool = False) -> dict[str, Person]:
    """The stored people with these identity keys (with ``active_only``, only those active), relations included,
    in two queries per `LOAD_BATCH` keys: every login asks for one person, a Delta or a delivery for hundreds."""
    keys, people = list(keys), {}
    active = [person.c.status == PersonStatus.ACTIVE] if active_only else []
    for start in range(0, len(keys), LOAD_BATCH):
        wanted = among(conn, person.c.person_key, keys[start : start + LOAD_BATCH])
        people.update(people_by_id(conn, conn.execute(select(person.c.id).where(wanted, *active)).scalars().all()))
    return people


def people_by_id(conn: Connection, ids: list[int]) -> dict[str, Person]:
    """The stored people with these ids (`LOAD_BATCH` at most), by identity key, relations included: one query."""
    parts: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))  # person id -> tag -> rows
    for tag, pid, *values in conn.execute(_people_query(), {"ids": ids}) if ids else ():
        parts[pid][tag].append(values)
    return dict(_person(found) for found in parts.values())


@cache
def _people_query():
    """The person rows and each kind of relation, as rows of one UNION ALL: (tag, person id, up to 9 texts).
    Built once: SQLAlchemy then reuses its compiled form. The ids are written into the statement (they are
    the store's own integers): PostgreSQL then plans six short index walks instead of hashing whole tables,
    and neither database parses thousands of parameters (a 1 % Delta at a million people on PostgreSQL spent
    2.1 s in these queries, 1.2 s now)."""
    ids = bindparam("ids", expanding=True, literal_execute=True)

    def part(tag: str, owner, *columns, joined=None):
        texts = [cast(c, String) for c in columns] + [cast(null(), String)] * (9 - len(columns))
        query = select(literal(tag).label("tag"), owner, *texts)
        return (query.select_from(joined) if joined is not None else query).where(owner.in_(ids))

    p, e, m, t, f = person.c, enrollment.c, group_membership.c, teaching_assignment.c, person_function.c
    parent = person.alias("parent")
    return union_all(
        part("p", p.id, p.person_key, p.kind, p.last_name, p.first_name, p.jointure, p.ine, p.birth_date, p.email,
             p.uai),
        part("e", e.person_id, e.school_year, e.uai, e.mef, e.niveau, e.division, e.subjects),
        part("m", m.person_id, group.c.uai, group.c.code, group.c.kind,
             joined=group_membership.join(group, group.c.id == m.group_id)),
        part("g", guardianship.c.pupil_id, parent.c.person_key, guardianship.c.rank,
             joined=guardianship.join(parent, parent.c.id == guardianship.c.parent_id)),
        part("a", t.person_id, t.uai, t.group_code, t.subject, t.principal),
        part("f", f.person_id, f.uai, f.code, f.label, f.discipline),
    )


def _person(parts: dict[str, list]) -> tuple[str, Person]:
    """(key, person) from one person's rows of `_people_query` (every value a text)."""
    key, kind, last_name, first_name, jointure, ine, birth_date, email, uai = parts["p"][0][:9]
    latest = max(parts["e"], key=lambda e: int(e[0]), default=None)  # the latest school year's enrollment
    return key, Person(
        kind=PersonKind(kind), last_name=last_name, first_name=first_name, jointure=jointure, ine=ine,
        birth_date=date.fromisoformat(birth_date[:10]) if birth_date else None, email=email, uai=uai,
        enrollment=Enrollment(int(latest[0]), *latest[1:5], split_subjects(latest[5] or "")) if latest else None,
        memberships=tuple(Membership(m[0], m[1], GroupKind(m[2])) for m in parts["m"]),
        guardians=tuple(Guardianship(g[0], int(g[1])) for g in parts["g"]),
        assignments=tuple(TeachingAssignment(a[0], a[1], a[2], a[3] in ("1", "true", "t")) for a in parts["a"]),
        functions=tuple(Function(*f[:4]) for f in parts["f"]),
    )


def staged_seqs(conn: Connection, run_id: int, source: str, keys: list[str]) -> dict[str, list[int]]:
    """The people a run staged from a source under each key (or ``jnt:X``: with jointure X), as their seqs in
    order."""
    sp = stage_person.c
    named = select(sp.seq, sp.person_key, sp.jointure).where(sp.run_id == run_id, sp.source == source,
                                                             _naming(conn, stage_person, keys))
    rows = conn.execute(named.order_by(sp.seq)).all()
    wanted, found = set(keys), defaultdict(list)
    for row in rows:
        for key in ({row.person_key, f"jnt:{row.jointure}"} if row.jointure else {row.person_key}) & wanted:
            found[key].append(row.seq)
    return found


def staged_people(conn: Connection, run_id: int, seqs: list[int]) -> dict[int, Person]:
    """People a run staged, as records, by seq: a Delta's later request about one of them applies on top."""
    relations: dict[int, dict[Table, list]] = defaultdict(lambda: defaultdict(list))
    for table in (stage_enrollment, stage_membership, stage_guardianship, stage_assignment, stage_function):
        for row in conn.execute(select(table).where(table.c.run_id == run_id, among(conn, table.c.seq, seqs))):
            relations[row.seq][table].append(row)
    people = {}
    staged = select(stage_person).where(stage_person.c.run_id == run_id, among(conn, stage_person.c.seq, seqs))
    for p in conn.execute(staged):
        rows = relations[p.seq]
        e = rows[stage_enrollment][0] if rows[stage_enrollment] else None
        people[p.seq] = Person(
            kind=PersonKind(p.kind), last_name=p.last_name, first_name=p.first_name, jointure=p.jointure, ine=p.ine,
            birth_date=p.birth_date, email=p.email, uai=p.uai, source_ref=p.source_ref,
            enrollment=e and Enrollment(e.school_year, e.uai, e.mef, e.niveau, e.division, split_subjects(e.subjects)),
            memberships=tuple(Membership(m.uai, m.code, GroupKind(m.kind)) for m in rows[stage_membership]),
            guardians=tuple(Guardianship(g.parent_key, g.rank) for g in rows[stage_guardianship]),
            assignments=tuple(TeachingAssignment(a.uai, a.group_code, a.subject, a.principal)
                              for a in rows[stage_assignment]),
            functions=tuple(Function(f.uai, f.code, f.label, f.discipline) for f in rows[stage_function]),
        )  # fmt: skip
    return people


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
