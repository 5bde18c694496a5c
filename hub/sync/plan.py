"""The plan: a set-based diff of staged against stored state, computed in SQL, and its safety checks.

Operations on people: create, update (same establishment), move (attachment
changed), restore (a soft-deleted person is back), delete (soft). Establishments
are created or updated, never deleted by a feed.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, case, delete, exists, func, insert, literal, null, or_, select, union

from hub.model import PersonKind, PersonStatus
from hub.settings import Thresholds
from hub.store.bulk import indexes_rebuilt
from hub.store.tables import (
    establishment,
    guardianship,
    nomenclature,
    person,
    plan_change,
    stage_deletion,
    stage_establishment,
    stage_guardianship,
    stage_nomenclature,
    stage_person,
    stage_rejected,
)
from hub.sync.apply import first_load
from hub.sync.continuity import plan_archives
from hub.sync.relations import plan_relations

PERSON_OPS = ("create", "update", "move", "restore", "delete")
SWITCHABLE = {"create": ("create",), "update": ("update", "move", "restore"), "delete": ("delete",)}


@dataclass
class Trip:
    """One safety limit exceeded, for one kind of person in one establishment (or, uai "*", in the directory)."""

    uai: str
    kind: str
    measure: str  # delete | update | move
    count: int
    population: int
    limit: float

    @property
    def ratio(self) -> float:
        return self.count / max(self.population, 1)

    @property
    def scope(self) -> str:
        return f"all {self.kind}" if self.uai == "*" else f"{self.uai} {self.kind}"

    def __str__(self) -> str:
        return f"{self.scope}: {self.measure} {self.count} of {self.population} ({self.ratio:.0%} > {self.limit:.0%})"


@dataclass
class Plan:
    run_id: int
    counts: dict[str, int] = field(default_factory=dict)  # "person.create" -> n
    by_uai: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # (UAI, kind) -> op -> n
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> "person.create" -> n
    skipped: dict[str, int] = field(default_factory=dict)  # ops left out by --no-create & co
    deleted_by_kind: dict[str, int] = field(default_factory=dict)  # person kind -> deletions
    parents_kept: int = 0  # parents a complete read left out, kept for a child still schooled
    rolled_over: list[str] = field(default_factory=list)  # establishments moving to a new school year

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())

    def count(self, entity: str, op: str) -> int:
        return self.counts.get(f"{entity}.{op}", 0)


def compute_plan(
    conn: Connection,
    run_id: int,
    *,
    complete_sources: list[str],
    uai: str | None,
    disabled_ops: tuple[str, ...] = (),
    entities: frozenset[str] = frozenset(),
    rolled_over: list[str] = (),
    staged_people: int = 0,
) -> Plan:
    """Fill plan_change for this run and return its counts.

    ``complete_sources``: the sources whose feed was a full snapshot; the people they
    own and nobody staged in this run are deleted. ``entities``: what the targets
    want beyond people and establishments (groups, memberships, guardianships).
    ``rolled_over``: establishments this run moves to a new school year; their classes
    nobody names any more are archived (`hub.sync.continuity.plan_archives`). ``staged_people``: how many
    people the run staged (a first load's plan is written as one, see below).
    """
    _plan_establishments(conn, run_id)
    _plan_nomenclatures(conn, run_id)
    # PostgreSQL: a first load's million plan rows, their indexes built once after them (2.9 s -> 1.6 s; SQLite
    # gains nothing: it grows them in order)
    loading = conn.dialect.name == "postgresql" and first_load(conn, staged_people)
    with indexes_rebuilt(conn, [plan_change]) if loading else nullcontext():
        _plan_person_upserts(conn, run_id)
    plan = Plan(run_id, rolled_over=list(rolled_over))
    plan.parents_kept = _plan_person_deletes(conn, run_id, complete_sources=complete_sources, uai=uai)
    for op in disabled_ops:
        removed = conn.execute(
            delete(plan_change).where(
                plan_change.c.run_id == run_id, plan_change.c.entity == "person", plan_change.c.op.in_(SWITCHABLE[op])
            )
        ).rowcount
        plan.skipped[op] = removed
    plan_relations(conn, run_id, entities)
    plan_archives(conn, run_id, plan.rolled_over)
    pc = plan_change
    rows = conn.execute(
        select(pc.c.source, pc.c.entity, pc.c.op, func.count())
        .where(pc.c.run_id == run_id)
        .group_by(pc.c.source, pc.c.entity, pc.c.op)
    ).all()
    for source, entity, op, n in rows:
        plan.counts[f"{entity}.{op}"] = plan.counts.get(f"{entity}.{op}", 0) + n
        plan.by_source.setdefault(source, {})[f"{entity}.{op}"] = n
    plan.by_uai = _counts_by_uai(conn, run_id)
    plan.deleted_by_kind = deletions_by_kind(conn, run_id)
    return plan


def _plan_establishments(conn: Connection, run_id: int) -> None:
    se, e = stage_establishment, establishment
    op = case((e.c.id.is_(None), "create"), else_="update")
    conn.execute(
        insert(plan_change).from_select(
            ["run_id", "source", "entity", "op", "key", "uai"],
            select(literal(run_id), se.c.source, literal("establishment"), op, se.c.uai, se.c.uai)
            .select_from(se.outerjoin(e, e.c.uai == se.c.uai))
            .where(se.c.run_id == run_id, or_(e.c.id.is_(None), e.c.digest != se.c.digest, e.c.source != se.c.source)),
        )
    )


def _plan_nomenclatures(conn: Connection, run_id: int) -> None:
    sn, n = stage_nomenclature, nomenclature
    op = case((n.c.id.is_(None), "create"), else_="update")
    conn.execute(
        insert(plan_change).from_select(
            ["run_id", "source", "entity", "op", "key", "seq"],
            select(literal(run_id), sn.c.source, literal("nomenclature"), op, sn.c.kind + ":" + sn.c.code, sn.c.seq)
            .select_from(sn.outerjoin(n, and_(n.c.kind == sn.c.kind, n.c.code == sn.c.code)))
            .where(sn.c.run_id == run_id, or_(n.c.id.is_(None), n.c.digest != sn.c.digest, n.c.source != sn.c.source)),
        )
    )


def _plan_person_upserts(conn: Connection, run_id: int) -> None:
    sp, p = stage_person, person
    op = case(
        (p.c.id.is_(None), "create"),
        (p.c.status != PersonStatus.ACTIVE, "restore"),
        (func.coalesce(p.c.uai, "") != func.coalesce(sp.c.uai, ""), "move"),
        else_="update",
    )
    changed = or_(
        p.c.id.is_(None),
        p.c.digest != sp.c.digest,
        p.c.status != PersonStatus.ACTIVE,
        p.c.source != sp.c.source,
        sp.c.new_key.is_not(None),
    )
    # most updates change a name or an address, not a class or a parent: their stored relations stay
    relations = or_(
        p.c.id.is_(None),
        p.c.relations_digest.is_(None),
        sp.c.relations_digest.is_(None),
        p.c.relations_digest != sp.c.relations_digest,
    )
    conn.execute(
        insert(plan_change).from_select(
            ["run_id", "source", "entity", "op", "key", "seq", "person_id", "uai", "old_uai", "person_kind",
             "relations"],
            select(
                literal(run_id),
                sp.c.source,
                literal("person"),
                op,
                func.coalesce(sp.c.new_key, sp.c.person_key),
                sp.c.seq,
                p.c.id,
                sp.c.uai,
                p.c.uai,
                sp.c.kind,
                relations,
            )
            .select_from(sp.outerjoin(p, p.c.person_key == sp.c.person_key))
            .where(sp.c.run_id == run_id, changed),
        )
    )


def _plan_person_deletes(conn: Connection, run_id: int, *, complete_sources: list[str], uai: str | None) -> int:
    """Deletes: people of a complete source that nobody mentions any more, and people a source says are gone.

    A parent a complete read leaves out is kept while a child of theirs stays active after the
    run (`continuity.parent_kept`): a child staged in this run that still names them, or a stored
    active child this run neither restages nor deletes. A source that names them deleted wins.
    Returns how many parents were kept so.
    """
    p = person
    mentioned = exists().where(stage_person.c.run_id == run_id, stage_person.c.person_key == p.c.person_key)
    named = exists().where(stage_deletion.c.run_id == run_id, stage_deletion.c.person_key == p.c.person_key)
    sr = stage_rejected
    rejected = exists().where(
        sr.c.run_id == run_id, or_(sr.c.person_key == p.c.person_key, sr.c.person_key == literal("jnt:") + p.c.jointure)
    )
    gone = and_(or_(p.c.source.in_(complete_sources), named), ~mentioned)
    scope = [p.c.status == PersonStatus.ACTIVE, gone, ~rejected]
    if not complete_sources:  # a Delta deletes only whom it names: look them up, not every stored person
        named_keys = select(stage_deletion.c.person_key).where(stage_deletion.c.run_id == run_id)
        if not conn.execute(select(named_keys.exists())).scalar():
            return 0
        scope.append(p.c.person_key.in_(named_keys))
    if uai:
        scope.append(p.c.uai == uai)

    def plan_deletes(*where) -> None:
        conn.execute(
            insert(plan_change).from_select(
                ["run_id", "source", "entity", "op", "key", "person_id", "uai", "old_uai", "person_kind"],
                select(
                    literal(run_id),
                    p.c.source,
                    literal("person"),
                    literal("delete"),
                    p.c.person_key,
                    p.c.id,
                    null(),
                    p.c.uai,
                    p.c.kind,
                ).where(*scope, *where),
            )
        )

    plan_deletes(p.c.kind != PersonKind.PARENT)
    # The parents a child keeps, as one set (joined by hash: written as EXISTS inside an OR, PostgreSQL ran
    # it again for each parent once it outgrew work_mem, and planning a million-person re-run took minutes)
    sg, sp, g, child, pc = stage_guardianship, stage_person, guardianship, person.alias("child"), plan_change
    guardian = person.alias("guardian")
    kept_by_a_child = union(
        select(sg.c.parent_key.label("key"))
        .join(sp, and_(sp.c.run_id == run_id, sp.c.seq == sg.c.seq))
        .where(sg.c.run_id == run_id),
        select(guardian.c.person_key)
        .select_from(g.join(child, child.c.id == g.c.pupil_id).join(guardian, guardian.c.id == g.c.parent_id))
        .where(
            child.c.status == PersonStatus.ACTIVE,
            ~exists().where(sp.c.run_id == run_id, sp.c.person_key == child.c.person_key),
            ~exists().where(
                pc.c.run_id == run_id, pc.c.entity == "person", pc.c.op == "delete", pc.c.person_id == child.c.id
            ),
        ),
    ).subquery()
    kept = exists().where(kept_by_a_child.c.key == p.c.person_key)
    parent, not_named = [p.c.kind == PersonKind.PARENT], [p.c.kind == PersonKind.PARENT, ~named]
    plan_deletes(*not_named, ~kept)
    plan_deletes(*parent, named)  # a source says they are gone: that wins
    return conn.execute(select(func.count()).select_from(p).where(*scope, *not_named, kept)).scalar()


def _counts_by_uai(conn: Connection, run_id: int) -> dict[tuple[str, str], dict[str, int]]:
    """Per establishment and kind of person: how many stored people each operation touches.

    Moves and deletes count where people leave. A parent has no establishment of their
    own: they count in each of their children's. An update that only changes which
    source speaks for someone is not counted: their data did not change.
    """
    pc, p, sp, g, pupil = plan_change, person, stage_person, guardianship, person.alias("pupil")
    where_counted = case((pc.c.op.in_(("delete", "move")), pc.c.old_uai), else_=pc.c.uai)
    # an update that changes nothing but the source (another source now speaks for the same data) is no change
    planned = pc.join(p, p.c.id == pc.c.person_id).outerjoin(sp, and_(sp.c.run_id == pc.c.run_id, sp.c.seq == pc.c.seq))
    changed = [
        pc.c.run_id == run_id,
        pc.c.entity == "person",
        pc.c.op.in_(PERSON_OPS[1:]),  # a create touches nobody stored: its rows are not read (a first load's million)
        or_(pc.c.op != "update", sp.c.digest.is_(None), sp.c.digest != p.c.digest),
    ]
    rows = conn.execute(
        select(where_counted.label("uai"), p.c.kind, pc.c.op, func.count())
        .select_from(planned)
        .where(*changed, where_counted.is_not(None))
        .group_by(where_counted, p.c.kind, pc.c.op)
    ).all()
    rows += conn.execute(
        select(pupil.c.uai, p.c.kind, pc.c.op, func.count(pc.c.person_id.distinct()))
        .select_from(planned.join(g, g.c.parent_id == pc.c.person_id).join(pupil, pupil.c.id == g.c.pupil_id))
        .where(*changed, pc.c.uai.is_(None), pc.c.old_uai.is_(None), pupil.c.uai.is_not(None))
        .group_by(pupil.c.uai, p.c.kind, pc.c.op)
    ).all()
    by_uai: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for uai, kind, op, n in rows:
        by_uai[uai, kind][op] = by_uai[uai, kind].get(op, 0) + n
    return dict(by_uai)


def deletions_by_kind(conn: Connection, run_id: int) -> dict[str, int]:
    pc, p = plan_change, person
    return dict(
        conn.execute(
            select(p.c.kind, func.count())
            .join(p, p.c.id == pc.c.person_id)
            .where(pc.c.run_id == run_id, pc.c.op == "delete")
            .group_by(p.c.kind)
        ).all()
    )


def emptied_establishments(conn: Connection, run_id: int, complete_sources: list[str]) -> dict[str, list]:
    """Per complete source: the establishments where the plan deletes every pupil the source had (UAI, count).

    An école export with only its header deletes the whole école otherwise; the run refuses it.
    Counted from the planned deletes, so the cost follows the deletes, not the directory.
    """
    pc, p = plan_change, person
    deleted = conn.execute(
        select(pc.c.source, pc.c.old_uai, func.count())
        .join(p, p.c.id == pc.c.person_id)
        .where(
            pc.c.run_id == run_id,
            pc.c.op == "delete",
            pc.c.old_uai.is_not(None),
            p.c.kind == "eleve",
            pc.c.source.in_(complete_sources),
        )
        .group_by(pc.c.source, pc.c.old_uai)
    ).all()
    emptied: dict[str, list] = {}
    for source, uai, n in deleted:
        had = conn.execute(
            select(func.count()).where(
                p.c.source == source, p.c.uai == uai, p.c.kind == "eleve", p.c.status == PersonStatus.ACTIVE
            )
        ).scalar()
        if n >= had:
            emptied.setdefault(source, []).append((uai, had))
    return emptied


FEW_ESTABLISHMENTS = 500  # a plan touching fewer is counted where it touches (an index lookup each)


def populations(conn: Connection, plan: Plan | None = None, floor: int = 0) -> dict[tuple[str, str], int]:
    """Active people per (establishment, kind), parents counted in each of their children's; ("*", kind) overall.

    With ``plan``, only what `check_thresholds` compares it with: the (establishment, kind) where
    the plan changes more than ``floor`` people (a share of fewer never holds a run: a 1 % Delta
    at a million people changes a pupil or two per school, and counts nothing), looked up one by
    one when they are few (an incremental run then costs what it changes, not the directory's
    size), parents only where it changes parents (counting them goes through every guardianship:
    1.3 s of a 1 % Delta at a million people), and the kinds it deletes.
    """
    p, g, pupil = person, guardianship, person.alias("pupil")
    active = p.c.status == PersonStatus.ACTIVE
    own, theirs = [p.c.uai.is_not(None)], [pupil.c.uai.is_not(None)]
    parents = people = True
    if plan is not None:
        counted = {scope for scope, ops in plan.by_uai.items() if max(_measured(ops).values()) > floor}
        uais = sorted({uai for uai, _ in counted})
        if len(uais) < FEW_ESTABLISHMENTS:
            own, theirs = [p.c.uai.in_(uais)], [pupil.c.uai.in_(uais)]
        people, parents = bool(uais), any(kind == PersonKind.PARENT for _, kind in counted)
    counts = {
        (uai, kind): n
        for uai, kind, n in conn.execute(
            select(p.c.uai, p.c.kind, func.count()).where(active, *own).group_by(p.c.uai, p.c.kind)
        )
    } if people else {}
    for uai, kind, n in conn.execute(
        select(pupil.c.uai, p.c.kind, func.count(g.c.parent_id.distinct()))
        .join(g, g.c.parent_id == p.c.id)
        .join(pupil, pupil.c.id == g.c.pupil_id)
        .where(active, p.c.uai.is_(None), pupil.c.status == PersonStatus.ACTIVE, *theirs)
        .group_by(pupil.c.uai, p.c.kind)
    ) if parents else ():
        counts[uai, kind] = counts.get((uai, kind), 0) + n
    if plan is None or plan.deleted_by_kind:
        for kind, n in conn.execute(select(p.c.kind, func.count()).where(active).group_by(p.c.kind)):
            counts["*", kind] = n
    return counts


def check_thresholds(plan: Plan, population: dict[tuple[str, str], int], limits: Thresholds) -> list[Trip]:
    """Shares of deleted, updated or moved people over a limit: per establishment and kind, and per kind overall.

    A share counts only when it concerns more than ``limits.floor`` people.
    """
    trips = []
    ratios = {"delete": limits.delete_ratio, "update": limits.update_ratio, "move": limits.move_ratio}
    for (uai, kind), ops in sorted(plan.by_uai.items()):
        measured = {measure: (n, ratios[measure]) for measure, n in _measured(ops).items()}
        trips += _over(uai, kind, measured, population.get((uai, kind), 0), limits.floor)
    for kind, deleted in sorted(plan.deleted_by_kind.items()):
        trips += _over(
            "*", kind, {"delete": (deleted, limits.delete_ratio)}, population.get(("*", kind), 0), limits.floor
        )
    return trips


def _measured(ops: dict[str, int]) -> dict[str, int]:
    """The people an establishment's planned ops count against each limit (a move or restore is an update too)."""
    return {"delete": ops.get("delete", 0), "update": ops.get("update", 0) + ops.get("move", 0) + ops.get("restore", 0),
            "move": ops.get("move", 0)}


def _over(uai: str, kind: str, measured: dict, size: int, floor: int) -> list[Trip]:
    return [
        Trip(uai, kind, measure, count, size, limit)
        for measure, (count, limit) in measured.items()
        if count > floor and count > limit * size
    ]


def plan_rows(conn: Connection, run_id: int, limit: int = 50) -> list:
    """A sample of planned changes, for the dry-run listing."""
    return conn.execute(
        select(plan_change.c.entity, plan_change.c.op, plan_change.c.key, plan_change.c.old_uai, plan_change.c.uai)
        .where(plan_change.c.run_id == run_id)
        .order_by(plan_change.c.entity, plan_change.c.op, plan_change.c.key)
        .limit(limit)
    ).all()
