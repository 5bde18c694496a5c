"""Checks on the stored identities, and the one repair a person decides: two records are one person.

`hub doctor duplicates` lists people who may be one person under two keys (same
names and birth date; for staff and parents also the same e-mail) and the
identity conflicts the syncs journaled. Names never merge anyone automatically:
`hub doctor link KEEP OTHER` is a person's decision. OTHER's key becomes an alias
of KEEP (table person_alias), so every later record under OTHER's key updates
KEEP; OTHER's family links move to KEEP; OTHER is deleted (targets are told) and
erased by the next purge; the decision is journaled with who took it and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, func, insert, literal, select, update

from hub.clock import now
from hub.errors import HubError
from hub.model import PersonKind, PersonStatus
from hub.store.tables import guardianship, person, person_alias, run_event
from hub.sync.journal import Journal
from hub.sync.outbox import enqueue
from hub.sync.resolve import CONFLICT


@dataclass
class DuplicateGroup:
    reason: str  # "same names and birth date" | "same e-mail"
    people: list


def duplicate_groups(conn: Connection, limit: int = 200) -> list[DuplicateGroup]:
    """Active people who may be one person under two keys: same names and birth date, or (adults) same e-mail."""
    p = person
    active = p.c.status == PersonStatus.ACTIVE
    columns = (p.c.person_key, p.c.kind, p.c.last_name, p.c.first_name, p.c.birth_date, p.c.email, p.c.uai, p.c.source)
    groups = []
    shared = (select(p.c.kind, p.c.match_key).where(active, p.c.birth_date.is_not(None))
              .group_by(p.c.kind, p.c.match_key).having(func.count() > 1).limit(limit).subquery())
    rows = conn.execute(select(*columns).join(shared, and_(shared.c.match_key == p.c.match_key,
                                                           shared.c.kind == p.c.kind))
                        .where(active).order_by(p.c.kind, p.c.match_key, p.c.person_key)).all()
    groups += _grouped(rows, lambda row: (row.kind, row.last_name.upper(), row.first_name.upper(), row.birth_date),
                       "same names and birth date")
    email = func.lower(p.c.email)
    adults = p.c.kind != PersonKind.ELEVE
    shared = (select(email.label("email")).where(active, adults, p.c.email.is_not(None))
              .group_by(email).having(func.count() > 1).limit(limit).subquery())
    rows = conn.execute(select(*columns).join(shared, shared.c.email == email).where(active, adults)
                        .order_by(email, p.c.person_key)).all()
    groups += _grouped(rows, lambda row: row.email.lower(), "same e-mail")
    return groups


def _grouped(rows: list, key, reason: str) -> list[DuplicateGroup]:
    groups: dict = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [DuplicateGroup(reason, members) for members in groups.values() if len(members) > 1]


def recent_conflicts(conn: Connection, limit: int = 200) -> list:
    """The latest identity conflicts the journal holds (INE reuse, homonyms), newest first."""
    return conn.execute(select(run_event).where(run_event.c.level == CONFLICT)
                        .order_by(run_event.c.id.desc()).limit(limit)).all()


def link_people(engine: Engine, keep: str, other: str, *, by: str, reason: str, targets: list[str]) -> int:
    """Make OTHER one person with KEEP (see the module docstring); returns the journal run id."""
    with engine.connect() as conn:
        kept, merged = _stored(conn, keep), _stored(conn, other)
    if kept.id == merged.id:
        raise HubError(f"{keep} and {other} are already the same person")
    if kept.kind != merged.kind:
        raise HubError(f"{keep} is a {kept.kind} and {other} a {merged.kind}: not one person")
    if merged.ine and not kept.ine:
        raise HubError(f"{other} has the INE {merged.ine} and {keep} none: keep the one with the INE "
                       f"(hub doctor link {other} {keep})")
    if merged.ine and kept.ine and merged.ine != kept.ine:
        raise HubError(f"{keep} and {other} have two INEs ({kept.ine}, {merged.ine}): an INE is one child")
    journal, moment = Journal(engine), now()
    run_id = journal.start("link", source="doctor", trigger=f"cli:{by}")
    journal.event(run_id, "info", f"{other} -> {keep}", f"linked by {by}: {reason or 'no reason given'}", key=keep)
    with engine.begin() as conn:
        aliases = [other, *conn.execute(select(person_alias.c.alias_key)
                                        .where(person_alias.c.person_key == other)).scalars()]
        conn.execute(delete(person_alias).where(person_alias.c.alias_key.in_(aliases)))
        conn.execute(insert(person_alias), [dict(alias_key=alias, person_key=keep, linked_at=moment, linked_by=by,
                                                 reason=reason) for alias in aliases])
        _move_family_links(conn, merged.id, kept.id)
        conn.execute(update(person).where(person.c.id == merged.id).values(
            status=PersonStatus.PENDING_DELETION, status_since=moment, delete_after=moment, updated_at=moment))
        enqueue(conn, run_id, targets, moment, entity="person", op="delete", keys=select(literal(other)))
        enqueue(conn, run_id, targets, moment, entity="person", op="update", keys=select(literal(keep)))
        journal.finish(run_id, "applied", counts={"person.link": 1}, conn=conn)
    return run_id


def _stored(conn: Connection, key: str):
    row = conn.execute(select(person).where(person.c.person_key == key)).first()
    if row is None:
        raise HubError(f"no stored person has the key {key} (keys as `hub doctor duplicates` shows them)")
    if row.status != PersonStatus.ACTIVE:
        raise HubError(f"{key} is {row.status}: only active people can be linked")
    return row


def _move_family_links(conn: Connection, from_id: int, to_id: int) -> None:
    """The merged person's children (as parent) and parents (as pupil) become the kept person's, without repeats."""
    g = guardianship
    for column, other in ((g.c.parent_id, g.c.pupil_id), (g.c.pupil_id, g.c.parent_id)):
        already = select(other).where(column == to_id)
        conn.execute(update(g).where(column == from_id, other.not_in(already), other != to_id)
                     .values({column.name: to_id}))
