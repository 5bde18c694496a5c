"""The outbox's one writer: rows for the targets, in the caller's transaction, delivered by `hub.sync.deliver`.

Every change a target must hear of becomes one row per target with an
idempotency key that stays the same across retries: a sync's planned changes
(`write_outbox`), and changes made outside a sync, such as a purge or two
people linked by an admin (`enqueue`). A target receives only what its
`hookspecs.Scope` covers: a person who moves out of it reaches it as ``leave``
now and ``archive`` once the grace period is over (a row due then, dropped if
they ``join`` again before), a person who moves in as ``join``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, and_, case, delete, exists, insert, literal, or_, select, true

from hub.hookspecs import Scope
from hub.store.tables import UTCDateTime, establishment, guardianship, outbox, person, plan_change

COLUMNS = ["target", "run_id", "entity", "op", "key", "idempotency_key", "status", "attempts", "next_attempt_at",
           "created_at", "uai", "old_uai"]
PERSON_OPS_IN_NEW = ("create", "update", "restore")


def write_outbox(conn: Connection, run_id: int, scopes: dict[str, Scope], now: datetime, grace_days: int) -> None:
    """One outbox row per planned change in each target's scope; leave, join and archive where scopes are crossed."""
    pc = plan_change
    for target, scope in scopes.items():
        op = _op_for(scope)
        conn.execute(insert(outbox).from_select(COLUMNS, select(
            literal(target), pc.c.run_id, pc.c.entity, op, pc.c.key,
            literal(f"{target}:{run_id}:") + pc.c.entity + ":" + pc.c.key, *_pending(now), pc.c.uai, pc.c.old_uai,
        ).where(pc.c.run_id == run_id, _in_scope(scope)).order_by(_delivery_order(), pc.c.key)))
        if _scoped(scope) and "person" in scope.entities:
            _schedule_archives(conn, run_id, target, now, grace_days)


def enqueue(conn: Connection, run_id: int, targets: list[str], now: datetime, *, entity: str, op: str,
            keys: Select) -> None:
    """One outbox row per target for each key ``keys`` selects (one column: the entity's key)."""
    keyed = keys.subquery()
    key = keyed.c[0]
    for target in targets:
        conn.execute(insert(outbox).from_select(COLUMNS, select(
            literal(target), literal(run_id), literal(entity), literal(op), key,
            literal(f"{target}:{run_id}:{op}:") + key, *_pending(now), literal(None), literal(None),
        )))


def _pending(now: datetime) -> tuple:
    moment = literal(now, UTCDateTime())
    return literal("pending"), literal(0), moment, moment


def _delivery_order():
    """Establishments and groups before people, people before their memberships and family links."""
    pc = plan_change
    return case((pc.c.entity == "establishment", 0), (pc.c.entity == "group", 1), (pc.c.entity == "person", 2),
                (pc.c.entity == "membership", 3), else_=4)


def _scoped(scope: Scope) -> bool:
    return scope.establishment_kinds is not None or scope.uais is not None


def _served(uai, scope: Scope):
    """SQL: the establishment ``uai`` is served by a target of this scope."""
    if not _scoped(scope):
        return true()
    conditions = []
    if scope.establishment_kinds is not None:
        conditions.append(establishment.c.kind.in_(sorted(scope.establishment_kinds)))
    if scope.uais is not None:
        conditions.append(establishment.c.uai.in_(sorted(scope.uais)))
    return uai.in_(select(establishment.c.uai).where(*conditions))


def _parent_served(scope: Scope):
    """SQL: the planned parent has a child, active, in an establishment this scope serves."""
    if not _scoped(scope):
        return true()
    parent, child = person.alias("parent"), person.alias("child")
    return exists().where(parent.c.person_key == plan_change.c.key, guardianship.c.parent_id == parent.c.id,
                          child.c.id == guardianship.c.pupil_id, child.c.status == "active",
                          _served(child.c.uai, scope))


def _in_scope(scope: Scope):
    pc = plan_change
    in_new, in_old = _served(pc.c.uai, scope), _served(pc.c.old_uai, scope)
    person_rule = case(
        (pc.c.person_kind == "parent", _parent_served(scope)),
        (pc.c.op.in_(PERSON_OPS_IN_NEW), in_new),
        (pc.c.op == "delete", in_old),
        else_=or_(in_new, in_old),  # move: in, out, or within the scope
    )
    kinds = true() if scope.person_kinds is None else or_(pc.c.person_kind.is_(None),
                                                          pc.c.person_kind.in_(sorted(scope.person_kinds)))
    return and_(pc.c.entity.in_(sorted(scope.entities)), kinds,
                case((pc.c.entity == "person", person_rule), else_=in_new))


def _op_for(scope: Scope):
    pc = plan_change
    if not _scoped(scope):
        return pc.c.op
    in_new, in_old = _served(pc.c.uai, scope), _served(pc.c.old_uai, scope)
    return case(
        (and_(pc.c.entity == "person", pc.c.op == "move", ~in_new), literal("leave")),
        (and_(pc.c.entity == "person", pc.c.op == "move", ~in_old), literal("join")),
        else_=pc.c.op,
    )


def _schedule_archives(conn: Connection, run_id: int, target: str, now: datetime, grace_days: int) -> None:
    """``leave`` now, ``archive`` when the grace period ends; a ``join`` before then cancels the archive."""
    o, joins = outbox, outbox.alias("joins")
    joined = select(joins.c.key).where(joins.c.run_id == run_id, joins.c.target == target,
                                       joins.c.entity == "person", joins.c.op == "join")
    conn.execute(delete(o).where(o.c.target == target, o.c.entity == "person", o.c.op == "archive",
                                 o.c.status == "pending", o.c.key.in_(joined)))
    due = literal(now + timedelta(days=grace_days), UTCDateTime())
    conn.execute(insert(outbox).from_select(COLUMNS, select(
        o.c.target, o.c.run_id, o.c.entity, literal("archive"), o.c.key,
        literal(f"{target}:{run_id}:archive:") + o.c.key, literal("pending"), literal(0), due,
        literal(now, UTCDateTime()), o.c.uai, o.c.old_uai,
    ).where(o.c.run_id == run_id, o.c.target == target, o.c.entity == "person", o.c.op == "leave")))
