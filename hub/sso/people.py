"""The store as the linking rules see it: stored links first, then people by INE, jointure or children.

Only active people are candidates; every answer is a list so a rule can tell none from several.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, insert, select, update

from hub.clock import now
from hub.model import Person, PersonStatus
from hub.store.records import load_people
from hub.store.tables import account_link, guardianship, person

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
        tickets)."""
        with self.engine.connect() as conn:
            return load_people(conn, [key], active_only=True).get(key)

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
