"""The store as the linking rules see it: stored links first, then people by INE, jointure or children.

Only active people are candidates; every answer is a list so a rule can tell none from several.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, String, and_, bindparam, cast, func, insert, literal, null, select, union_all, update

from hub.clock import now
from hub.model import (
    Enrollment,
    Function,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    PersonStatus,
    TeachingAssignment,
)
from hub.store.records import split_subjects
from hub.store.tables import (
    account_link,
    enrollment,
    group,
    group_membership,
    guardianship,
    person,
    person_function,
    teaching_assignment,
)

STAFF_KINDS = ("enseignant", "personnel")


@dataclass(frozen=True)
class Candidate:
    """A stored person a rule may link to: enough to check, not the whole record."""

    key: str
    kind: str
    last_name: str
    first_name: str
    uai: str | None
    ine: str | None
    jointure: str | None


class PeopleLookup:
    def __init__(self, engine: Engine):
        self.engine = engine

    def linked(self, idp: str, subject: str) -> str | None:
        """The person a previous login linked this upstream subject to, if they are still active."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(account_link.c.person_key)
                .join(person, person.c.person_key == account_link.c.person_key)
                .where(
                    account_link.c.idp == idp, account_link.c.subject == subject, person.c.status == PersonStatus.ACTIVE
                )
            ).scalar()

    def _candidates(self, *where) -> list[Candidate]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(person).where(person.c.status == PersonStatus.ACTIVE, *where).order_by(person.c.person_key)
            ).all()
        return [Candidate(r.person_key, r.kind, r.last_name, r.first_name, r.uai, r.ine, r.jointure) for r in rows]

    def pupils_by_ine(self, ine: str) -> list[Candidate]:
        return self._candidates(person.c.kind == "eleve", person.c.ine == ine.strip().upper())

    def pupils_by_jointure(self, jointure: str, uai: str | None = None) -> list[Candidate]:
        where = [person.c.kind == "eleve", person.c.jointure == jointure]
        return self._candidates(*where, person.c.uai == uai) if uai else self._candidates(*where)

    def staff_by_jointure(self, jointure: str) -> list[Candidate]:
        return self._candidates(person.c.kind.in_(STAFF_KINDS), person.c.jointure == jointure)

    def parents_of_all(self, pupil_keys: list[str]) -> list[Candidate]:
        """The active parents who are guardians of every one of these pupils."""
        pupil = person.alias("pupil")
        parent_ids = (
            select(guardianship.c.parent_id)
            .join(pupil, pupil.c.id == guardianship.c.pupil_id)
            .where(pupil.c.person_key.in_(pupil_keys))
            .group_by(guardianship.c.parent_id)
            .having(func.count(func.distinct(pupil.c.id)) == len(set(pupil_keys)))
        )
        return self._candidates(person.c.kind == "parent", person.c.id.in_(parent_ids))

    def person(self, key: str) -> Person | None:
        """The person with their relations, while active (a suspended or departing person gets no more codes or
        tickets): one query (`_ONE_PERSON`), since every login asks."""
        with self.engine.connect() as conn:
            rows = conn.execute(_ONE_PERSON, {"key": key}).all()
        return _person_from_rows(rows)

    def remember(self, idp: str, subject: str, person_key: str, how: str) -> None:
        """Store the link at first login; later logins only touch it."""
        at = now()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(account_link)
                .where(and_(account_link.c.idp == idp, account_link.c.subject == subject))
                .values(person_key=person_key, last_login_at=at)
            ).rowcount
            if not done:
                conn.execute(
                    insert(account_link).values(
                        idp=idp, subject=subject, person_key=person_key, how=how, linked_at=at, last_login_at=at
                    )
                )


def _one_person_query():
    """The person row and each of its relations as rows of one UNION ALL: (tag, up to 8 texts)."""
    pid = (
        select(person.c.id)
        .where(person.c.person_key == bindparam("key"), person.c.status == PersonStatus.ACTIVE)
        .scalar_subquery()
    )

    def part(tag: str, *columns, where, joined=None):
        texts = [cast(c, String) for c in columns] + [cast(null(), String)] * (8 - len(columns))
        query = select(literal(tag).label("tag"), *texts)
        return (query.select_from(joined) if joined is not None else query).where(where)

    parent = person.alias("parent")
    p = person.c
    return union_all(
        part(
            "p", p.kind, p.last_name, p.first_name, p.jointure, p.ine, p.birth_date, p.email, p.uai, where=p.id == pid
        ),
        part(
            "e",
            enrollment.c.school_year,
            enrollment.c.uai,
            enrollment.c.mef,
            enrollment.c.niveau,
            enrollment.c.division,
            enrollment.c.subjects,
            where=enrollment.c.person_id == pid,
        ),
        part(
            "m",
            group.c.uai,
            group.c.code,
            group.c.kind,
            where=group_membership.c.person_id == pid,
            joined=group_membership.join(group, group.c.id == group_membership.c.group_id),
        ),
        part(
            "g",
            parent.c.person_key,
            guardianship.c.rank,
            where=guardianship.c.pupil_id == pid,
            joined=guardianship.join(parent, parent.c.id == guardianship.c.parent_id),
        ),
        part(
            "a",
            teaching_assignment.c.uai,
            teaching_assignment.c.group_code,
            teaching_assignment.c.subject,
            teaching_assignment.c.principal,
            where=teaching_assignment.c.person_id == pid,
        ),
        part(
            "f",
            person_function.c.uai,
            person_function.c.code,
            person_function.c.label,
            person_function.c.discipline,
            where=person_function.c.person_id == pid,
        ),
    )


_ONE_PERSON = _one_person_query()  # built once: SQLAlchemy then reuses its compiled form


def _person_from_rows(rows) -> Person | None:
    by_tag = defaultdict(list)
    for row in rows:
        by_tag[row[0]].append(row[1:])
    if not by_tag["p"]:
        return None
    kind, last_name, first_name, jointure, ine, birth_date, email, uai = by_tag["p"][0]
    enrollments = sorted(by_tag["e"], key=lambda e: int(e[0]), reverse=True)  # the latest school year
    return Person(
        kind=PersonKind(kind),
        last_name=last_name,
        first_name=first_name,
        jointure=jointure,
        ine=ine,
        birth_date=date.fromisoformat(birth_date[:10]) if birth_date else None,
        email=email,
        uai=uai,
        enrollment=Enrollment(int(enrollments[0][0]), *enrollments[0][1:5], split_subjects(enrollments[0][5] or ""))
        if enrollments
        else None,
        memberships=tuple(Membership(m[0], m[1], GroupKind(m[2])) for m in by_tag["m"]),
        guardians=tuple(Guardianship(g[0], int(g[1])) for g in by_tag["g"]),
        assignments=tuple(TeachingAssignment(a[0], a[1], a[2], a[3] in ("1", "true", "t")) for a in by_tag["a"]),
        functions=tuple(Function(*f[:4]) for f in by_tag["f"]),
    )
