"""The plan: a set-based diff of staged against stored state, computed in SQL, and its safety checks.

Operations on people: create, update (same establishment), move (attachment
changed), restore (a soft-deleted person is back), delete (soft). Establishments
are created or updated, never deleted by a feed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, case, delete, exists, func, insert, literal, null, or_, select

from hub.model import PersonStatus
from hub.settings import Thresholds
from hub.store.tables import (
    establishment,
    person,
    plan_change,
    stage_deletion,
    stage_establishment,
    stage_person,
    stage_rejected,
)

PERSON_OPS = ("create", "update", "move", "restore", "delete")
SWITCHABLE = {"create": ("create",), "update": ("update", "move", "restore"), "delete": ("delete",)}


@dataclass
class Trip:
    """One establishment over one safety limit."""

    uai: str
    measure: str  # delete | update | move
    count: int
    population: int
    limit: float

    @property
    def ratio(self) -> float:
        return self.count / self.population

    def __str__(self) -> str:
        return (f"{self.uai}: {self.measure} {self.count} of {self.population} people "
                f"({self.ratio:.0%} > {self.limit:.0%})")


@dataclass
class Plan:
    run_id: int
    counts: dict[str, int] = field(default_factory=dict)  # "person.create" -> n
    by_uai: dict[str, dict[str, int]] = field(default_factory=dict)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> "person.create" -> n
    skipped: dict[str, int] = field(default_factory=dict)  # ops left out by --no-create & co

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())

    def count(self, entity: str, op: str) -> int:
        return self.counts.get(f"{entity}.{op}", 0)


def compute_plan(conn: Connection, run_id: int, *, complete_sources: list[str], uai: str | None,
                 disabled_ops: tuple[str, ...] = ()) -> Plan:
    """Fill plan_change for this run and return its counts.

    ``complete_sources``: the sources whose feed was a full snapshot; the people they
    own and nobody staged in this run are deleted.
    """
    _plan_establishments(conn, run_id)
    _plan_person_upserts(conn, run_id)
    _plan_person_deletes(conn, run_id, complete_sources=complete_sources, uai=uai)
    plan = Plan(run_id)
    for op in disabled_ops:
        removed = conn.execute(delete(plan_change).where(
            plan_change.c.run_id == run_id, plan_change.c.op.in_(SWITCHABLE[op]))).rowcount
        plan.skipped[op] = removed
    pc = plan_change
    rows = conn.execute(
        select(pc.c.source, pc.c.entity, pc.c.op, func.count())
        .where(pc.c.run_id == run_id).group_by(pc.c.source, pc.c.entity, pc.c.op)
    ).all()
    for source, entity, op, n in rows:
        plan.counts[f"{entity}.{op}"] = plan.counts.get(f"{entity}.{op}", 0) + n
        plan.by_source.setdefault(source, {})[f"{entity}.{op}"] = n
    plan.by_uai = _counts_by_uai(conn, run_id)
    return plan


def _plan_establishments(conn: Connection, run_id: int) -> None:
    se, e = stage_establishment, establishment
    op = case((e.c.id.is_(None), "create"), else_="update")
    conn.execute(insert(plan_change).from_select(
        ["run_id", "source", "entity", "op", "key", "uai"],
        select(literal(run_id), se.c.source, literal("establishment"), op, se.c.uai, se.c.uai)
        .select_from(se.outerjoin(e, e.c.uai == se.c.uai))
        .where(se.c.run_id == run_id, or_(e.c.id.is_(None), e.c.digest != se.c.digest, e.c.source != se.c.source)),
    ))


def _plan_person_upserts(conn: Connection, run_id: int) -> None:
    sp, p = stage_person, person
    op = case(
        (p.c.id.is_(None), "create"),
        (p.c.status != PersonStatus.ACTIVE, "restore"),
        (func.coalesce(p.c.uai, "") != func.coalesce(sp.c.uai, ""), "move"),
        else_="update",
    )
    changed = or_(p.c.id.is_(None), p.c.digest != sp.c.digest, p.c.status != PersonStatus.ACTIVE,
                  p.c.source != sp.c.source)
    conn.execute(insert(plan_change).from_select(
        ["run_id", "source", "entity", "op", "key", "seq", "person_id", "uai", "old_uai"],
        select(literal(run_id), sp.c.source, literal("person"), op, sp.c.person_key, sp.c.seq, p.c.id, sp.c.uai,
               p.c.uai)
        .select_from(sp.outerjoin(p, p.c.person_key == sp.c.person_key))
        .where(sp.c.run_id == run_id, changed),
    ))


def _plan_person_deletes(conn: Connection, run_id: int, *, complete_sources: list[str], uai: str | None) -> None:
    """Deletes: people of a complete source that nobody mentions any more, and people a source says are gone."""
    p = person
    mentioned = exists().where(stage_person.c.run_id == run_id, stage_person.c.person_key == p.c.person_key)
    named = exists().where(stage_deletion.c.run_id == run_id, stage_deletion.c.person_key == p.c.person_key)
    sr = stage_rejected
    rejected = exists().where(sr.c.run_id == run_id, or_(sr.c.person_key == p.c.person_key,
                                                          sr.c.person_key == literal("jnt:") + p.c.jointure))
    gone = and_(or_(p.c.source.in_(complete_sources), named), ~mentioned)
    scope = [p.c.status == PersonStatus.ACTIVE, gone, ~rejected]
    if uai:
        scope.append(p.c.uai == uai)
    conn.execute(insert(plan_change).from_select(
        ["run_id", "source", "entity", "op", "key", "person_id", "uai", "old_uai"],
        select(literal(run_id), p.c.source, literal("person"), literal("delete"), p.c.person_key, p.c.id, null(),
               p.c.uai)
        .where(*scope),
    ))


def _counts_by_uai(conn: Connection, run_id: int) -> dict[str, dict[str, int]]:
    """Per establishment: how many people each operation touches (moves count where people leave)."""
    pc = plan_change
    where_counted = case((pc.c.op.in_(("delete", "move")), pc.c.old_uai), else_=pc.c.uai)
    rows = conn.execute(
        select(where_counted.label("uai"), pc.c.op, func.count())
        .where(pc.c.run_id == run_id, pc.c.entity == "person")
        .group_by(where_counted, pc.c.op)
    ).all()
    by_uai: dict[str, dict[str, int]] = defaultdict(dict)
    for uai, op, n in rows:
        by_uai[uai or "-"][op] = n
    return dict(by_uai)


def populations(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(person.c.uai, func.count()).where(person.c.status == PersonStatus.ACTIVE)
                        .group_by(person.c.uai)).all()
    return {uai: n for uai, n in rows if uai}


def check_thresholds(plan: Plan, population: dict[str, int], limits: Thresholds) -> list[Trip]:
    """Establishments whose share of deleted, updated or moved people is over the limit."""
    trips = []
    for uai, ops in sorted(plan.by_uai.items()):
        size = population.get(uai, 0)
        if size < max(limits.min_population, 1):
            continue
        measured = {
            "delete": (ops.get("delete", 0), limits.delete_ratio),
            "update": (ops.get("update", 0) + ops.get("move", 0) + ops.get("restore", 0), limits.update_ratio),
            "move": (ops.get("move", 0), limits.move_ratio),
        }
        for measure, (count, limit) in measured.items():
            if count / size > limit:
                trips.append(Trip(uai, measure, count, size, limit))
    return trips


def plan_rows(conn: Connection, run_id: int, limit: int = 50) -> list:
    """A sample of planned changes, for the dry-run listing."""
    return conn.execute(
        select(plan_change.c.entity, plan_change.c.op, plan_change.c.key, plan_change.c.old_uai, plan_change.c.uai)
        .where(plan_change.c.run_id == run_id).order_by(plan_change.c.entity, plan_change.c.op, plan_change.c.key)
        .limit(limit)
    ).all()
