"""The outbox's one writer: rows for the targets, in the caller's transaction, delivered by `hub.sync.deliver`.

Every change a target must hear of becomes one row per target with an
idempotency key that stays the same across retries: a sync's planned changes
(`write_outbox`), and changes made outside a sync, such as a purge or two
people linked by an admin (`enqueue`). A target receives only what its
`hookspecs.Scope` covers: a person who moves out of it reaches it as ``leave``
now and ``archive`` once the grace period is over (a row due then, dropped if
they ``join`` again before), a person who moves in as ``join``; a person deleted as ``delete`` now
and ``archive`` once the grace period is over (dropped if they are restored before), then
``purge`` when `hub purge` erases them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, and_, case, delete, exists, insert, literal, or_, select, true, union_all

from hub.hookspecs import Scope
from hub.store.tables import UTCDateTime, establishment, guardianship, outbox, person, person_function, plan_change

COLUMNS = ["target", "run_id", "entity", "op", "key", "idempotency_key", "status", "attempts", "next_attempt_at",
           "created_at", "uai", "old_uai"]
PERSON_OPS_IN_NEW = ("create", "update", "restore")


def write_outbox(conn: Connection, run_id: int, scopes: dict[str, Scope], now: datetime, grace_days: int) -> None:
    """One outbox row per planned change in each target's scope; leave, join and archive where scopes are crossed.

    For a scoped target, a parent follows their children (`continuity.parent_served`): a parent whose
    last served child leaves gets ``leave`` (then ``archive``), one whose first served child arrives
    gets ``join``, even when nothing about the parent changed. Inter-establishment groups (cycle-3
    networks, kept under the collège's UAI) and their memberships reach a target serving the collège
    or one of its écoles.
    """
    pc = plan_change
    for target, scope in scopes.items():
        planned = select(
            literal(target), pc.c.run_id, pc.c.entity, _op_for(scope, run_id), pc.c.key,
            literal(f"{target}:{run_id}:") + pc.c.entity + ":" + pc.c.key, *_pending(now), pc.c.uai, pc.c.old_uai,
            _delivery_order().label("rank"),
        ).where(pc.c.run_id == run_id, _in_scope(scope, run_id))
        if _scoped(scope) and "person" in scope.entities and _serves_parents(scope):
            rows = union_all(planned, _parents_crossing(run_id, target, scope, now)).subquery()
        else:
            rows = planned.subquery()
        conn.execute(insert(outbox).from_select(COLUMNS, select(*(rows.c[i] for i in range(len(COLUMNS))))
                                                .order_by(rows.c.rank, rows.c[4])))
        if "person" in scope.entities:
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


def _serves_parents(scope: Scope) -> bool:
    return scope.person_kinds is None or "parent" in scope.person_kinds


def _conditions(scope: Scope) -> list:
    conditions = []
    if scope.establishment_kinds is not None:
        conditions.append(establishment.c.kind.in_(sorted(scope.establishment_kinds)))
    if scope.uais is not None:
        conditions.append(establishment.c.uai.in_(sorted(scope.uais)))
    return conditions


def _served(uai, scope: Scope):
    """SQL: the establishment ``uai`` is served by a target of this scope."""
    if not _scoped(scope):
        return true()
    return uai.in_(select(establishment.c.uai).where(*_conditions(scope)))


def _network_served(uai, scope: Scope):
    """SQL: ``uai`` heads a cycle-3 network (a collège) one of whose écoles this scope serves."""
    e = establishment
    return uai.in_(select(e.c.secteur_college).where(e.c.kind == "ecole", e.c.secteur_college.is_not(None),
                                                      *_conditions(scope)))


def _parent_served_after(parent_id, scope: Scope):
    """SQL: the parent has a child, active, in an establishment this scope serves (after the run)."""
    child = person.alias("child_now")
    return exists().where(guardianship.c.parent_id == parent_id, child.c.id == guardianship.c.pupil_id,
                          child.c.status == "active", _served(child.c.uai, scope))


def _parent_served_before(run_id: int, parent_id, scope: Scope):
    """SQL: the parent had such a child before the run, read back from the children's planned changes.

    A child the run moves or deletes was where its change says it was (``old_uai``); one it updates
    was where it is; one it creates or restores was not there; one it leaves alone is as stored.
    (Family links the run itself changes are read as they are after it.)
    """
    child, g, pcc = person.alias("child_then"), guardianship.alias("g_then"), plan_change.alias("child_change")
    change = [pcc.c.run_id == run_id, pcc.c.entity == "person", pcc.c.key == child.c.person_key]
    was_served = or_(  # one test per op inside one lookup by key: ``op = 'update'`` alone made SQLite
        exists().where(*change, or_(  # scan the run's updates for each parent (30 min for a 100k rollover)
            and_(pcc.c.op.in_(("move", "delete")), _served(pcc.c.old_uai, scope)),
            and_(pcc.c.op == "update", _served(child.c.uai, scope)))),
        and_(~exists().where(*change), child.c.status == "active", _served(child.c.uai, scope)),
    )
    return exists().where(g.c.parent_id == parent_id, child.c.id == g.c.pupil_id, was_served)


def _parent_of_change(run_id: int, scope: Scope):  # run_id a number: a correlated column defeats the index
    """SQL (before, after) for the parent a planned person change is about."""
    parent = person.alias("planned_parent")
    of = [parent.c.person_key == plan_change.c.key]
    return (exists().where(*of, _parent_served_before(run_id, parent.c.id, scope)),
            exists().where(*of, _parent_served_after(parent.c.id, scope)))


def _parents_crossing(run_id: int, target: str, scope: Scope, now: datetime) -> Select:
    """``leave``/``join`` for parents the run does not change, whose children crossed this scope."""
    pcc, child, parent, g = plan_change.alias("crossing"), person.alias("crossing_child"), person.alias("par"), \
        guardianship.alias("crossing_link")
    planned = exists().where(plan_change.c.run_id == run_id, plan_change.c.entity == "person",
                             plan_change.c.key == parent.c.person_key)
    candidates = (select(parent.c.id, parent.c.person_key).distinct()
                  .select_from(pcc.join(child, child.c.person_key == pcc.c.key)
                               .join(g, g.c.pupil_id == child.c.id).join(parent, parent.c.id == g.c.parent_id))
                  .where(pcc.c.run_id == run_id, pcc.c.entity == "person",
                         pcc.c.op.in_(("create", "restore", "move", "delete")),
                         parent.c.status == "active", ~planned).subquery())
    before = _parent_served_before(run_id, candidates.c.id, scope)
    after = _parent_served_after(candidates.c.id, scope)
    op = case((and_(after, ~before), literal("join")), else_=literal("leave"))
    return select(
        literal(target), literal(run_id), literal("person"), op, candidates.c.person_key,
        literal(f"{target}:{run_id}:person:") + candidates.c.person_key, *_pending(now), literal(None),
        literal(None), literal(2).label("rank"),
    ).where(or_(and_(after, ~before), and_(before, ~after)))


def _in_scope(scope: Scope, run_id: int):
    pc = plan_change
    in_new, in_old = _person_served(scope)
    if _scoped(scope):
        before, after = _parent_of_change(run_id, scope)
        parent_rule = case((pc.c.op == "delete", before), else_=or_(before, after))
    else:
        parent_rule = true()
    person_rule = case(
        (pc.c.person_kind == "parent", parent_rule),
        (pc.c.op.in_(PERSON_OPS_IN_NEW), in_new),
        (pc.c.op == "delete", in_old),
        else_=or_(in_new, in_old),  # move: in, out, or within the scope
    )
    kinds = true() if scope.person_kinds is None else or_(pc.c.person_kind.is_(None),
                                                          pc.c.person_kind.in_(sorted(scope.person_kinds)))
    network = and_(pc.c.group_kind == "inter", _network_served(pc.c.uai, scope)) if _scoped(scope) else true()
    return and_(pc.c.entity.in_(sorted(scope.entities)), kinds,
                case((pc.c.entity == "person", person_rule), else_=or_(in_new, network)))


def _person_served(scope: Scope):
    """SQL (after, before): the planned change's establishment (``uai``, ``old_uai``) is served.

    A member of staff is also served through a function held (after the run) in a served
    establishment: a teacher attached to a collège who also teaches in an école reaches the
    écoles' ENT too, as one account, and leaves it only when neither their attachment nor
    any of their functions is there any more.
    """
    pc = plan_change
    in_new, in_old = _served(pc.c.uai, scope), _served(pc.c.old_uai, scope)
    if not _scoped(scope):
        return in_new, in_old
    holder = person.alias("function_holder")
    staff = and_(pc.c.person_kind.in_(("enseignant", "personnel")), exists().where(
        holder.c.person_key == pc.c.key, person_function.c.person_id == holder.c.id,
        _served(person_function.c.uai, scope)))
    return or_(in_new, staff), or_(in_old, staff)


def _op_for(scope: Scope, run_id: int):
    """The op a target receives (`continuity.person_op`): leave and join where its scope is crossed."""
    pc = plan_change
    if not _scoped(scope):
        return pc.c.op
    in_new, in_old = _person_served(scope)
    before, after = _parent_of_change(run_id, scope)
    person = pc.c.entity == "person"
    parent = and_(person, pc.c.person_kind == "parent", pc.c.op != "delete")
    parent_op = case((and_(after, ~before, pc.c.op == "update"), literal("join")),
                     (and_(before, ~after), literal("leave")), else_=pc.c.op)
    return case(  # nested, so the parents' subqueries run for parents only
        (parent, parent_op),
        (and_(person, pc.c.op == "move", ~in_new), literal("leave")),
        (and_(person, pc.c.op == "move", ~in_old), literal("join")),
        else_=pc.c.op,
    )


def _schedule_archives(conn: Connection, run_id: int, target: str, now: datetime, grace_days: int) -> None:
    """``leave`` or ``delete`` now, ``archive`` when the grace period ends; ``join`` or ``restore`` before
    then cancels the archive (the account was never deactivated)."""
    o, joins = outbox, outbox.alias("joins")
    joined = select(joins.c.key).where(joins.c.run_id == run_id, joins.c.target == target,
                                       joins.c.entity == "person", joins.c.op.in_(("join", "restore")))
    conn.execute(delete(o).where(o.c.target == target, o.c.entity == "person", o.c.op == "archive",
                                 o.c.status == "pending", o.c.key.in_(joined)))
    due = literal(now + timedelta(days=grace_days), UTCDateTime())
    conn.execute(insert(outbox).from_select(COLUMNS, select(
        o.c.target, o.c.run_id, o.c.entity, literal("archive"), o.c.key,
        literal(f"{target}:{run_id}:archive:") + o.c.key, literal("pending"), literal(0), due,
        literal(now, UTCDateTime()), o.c.uai, o.c.old_uai,
    ).where(o.c.run_id == run_id, o.c.target == target, o.c.entity == "person", o.c.op.in_(("leave", "delete")))))
