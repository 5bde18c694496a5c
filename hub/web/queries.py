"""Read-only questions the console and its API ask the store (runs, plans, people, establishments) and the
enabled plugins (their health).

Nothing here writes; what the sync writes is read as it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, or_, select

from hub.errors import redact
from hub.model import PersonStatus
from hub.store.tables import (
    enrollment,
    establishment,
    group,
    group_membership,
    guardianship,
    login_event,
    outbox,
    person,
    person_alias,
    person_function,
    plan_change,
    run,
    run_event,
    target_link,
)

SEARCH_LIMIT = 50


def runs(conn: Connection, *, limit: int = 50, action: str | None = None, status: str | None = None) -> list:
    query = select(run).order_by(run.c.id.desc()).limit(limit)
    if action:
        query = query.where(run.c.action == action)
    if status:
        query = query.where(run.c.status == status)
    return conn.execute(query).all()


def run_row(conn: Connection, run_id: int):
    return conn.execute(select(run).where(run.c.id == run_id)).first()


def last_runs(conn: Connection) -> list:
    """The latest run of each action and source (sync aaf, deliver, purge…)."""
    latest = select(func.max(run.c.id)).group_by(run.c.action, run.c.source)
    return conn.execute(select(run).where(run.c.id.in_(latest)).order_by(run.c.action, run.c.source)).all()


def held_runs(conn: Connection) -> list:
    """Held sync runs still waiting: the latest run of their sources, whose plan is kept for review."""
    latest = select(func.max(run.c.id)).where(run.c.action == "sync").group_by(run.c.source)
    return conn.execute(select(run).where(run.c.id.in_(latest), run.c.status == "held")
                        .order_by(run.c.id.desc())).all()


def plan_preview(conn: Connection, run_id: int, *, uai: str = "", op: str = "", entity: str = "",
                 limit: int = 200) -> tuple[list, dict[str, int]]:
    """The planned changes of a dry or held run matching the filters (first ``limit``), and counts by op.

    A change's establishment is where it leads or where it leaves; for a delete, where the person is stored.
    """
    p, stored = plan_change, person.alias("stored")
    source = p.outerjoin(stored, stored.c.id == p.c.person_id)
    where = [p.c.run_id == run_id]
    if uai:
        where.append(or_(p.c.uai == uai, p.c.old_uai == uai, stored.c.uai == uai))
    if entity:
        where.append(p.c.entity == entity)
    counts = dict(conn.execute(select(p.c.op, func.count()).select_from(source).where(*where)
                               .group_by(p.c.op)).all())
    if op:
        where.append(p.c.op == op)
    rows = conn.execute(select(p.c.entity, p.c.op, p.c.key, p.c.person_kind,
                               func.coalesce(p.c.old_uai, stored.c.uai).label("old_uai"), p.c.uai)
                        .select_from(source).where(*where).order_by(p.c.entity, p.c.op, p.c.key).limit(limit)).all()
    return rows, counts


def run_events(conn: Connection, run_id: int, limit: int = 500) -> list:
    return conn.execute(select(run_event).where(run_event.c.run_id == run_id).order_by(run_event.c.id)
                        .limit(limit)).all()


def search(conn: Connection, text: str) -> tuple[list, list]:
    """People and establishments matching ``text``: an INE, a key or jointure, a UAI, or the start of a name."""
    text = text.strip()
    if len(text) < 2:
        return [], []
    upper, like = text.upper(), f"{text.lower()}%"
    p, e = person, establishment
    people = conn.execute(
        select(p.c.person_key, p.c.kind, p.c.ine, p.c.last_name, p.c.first_name, p.c.uai, p.c.status)
        .where(or_(p.c.ine == upper, p.c.person_key == text, p.c.jointure == text,
                   func.lower(p.c.last_name).like(like), func.lower(p.c.first_name + " " + p.c.last_name).like(like)))
        .order_by(p.c.last_name, p.c.first_name, p.c.person_key).limit(SEARCH_LIMIT)).all()
    places = conn.execute(
        select(e.c.uai, e.c.name, e.c.kind, e.c.commune)
        .where(or_(e.c.uai == upper, func.lower(e.c.name).like(f"%{text.lower()}%")))
        .order_by(e.c.uai).limit(SEARCH_LIMIT)).all()
    return people, places


def person_detail(conn: Connection, key: str) -> dict | None:
    """A person with where they are, their family, their keys, their links to targets and their history."""
    p = person
    row = conn.execute(select(p).where(p.c.person_key == key)).first()
    if row is None:
        alias = conn.execute(select(person_alias.c.person_key).where(person_alias.c.alias_key == key)).scalar()
        row = alias and conn.execute(select(p).where(p.c.person_key == alias)).first()
        if not row:
            return None
    other = person.alias("other")
    g = guardianship
    family = conn.execute(
        select(other.c.person_key, other.c.kind, other.c.last_name, other.c.first_name, other.c.uai, other.c.status)
        .select_from(g.join(other, or_(and_(g.c.pupil_id == row.id, other.c.id == g.c.parent_id),
                                       and_(g.c.parent_id == row.id, other.c.id == g.c.pupil_id))))
        .order_by(other.c.person_key)).all()
    o = outbox
    history = conn.execute(  # the changes the targets were sent about this person, once per run and op
        select(o.c.run_id, o.c.op, o.c.old_uai, o.c.uai, func.min(o.c.created_at).label("at"),
               func.count().label("targets"))
        .where(o.c.entity == "person", o.c.key == row.person_key)
        .group_by(o.c.run_id, o.c.op, o.c.old_uai, o.c.uai).order_by(func.min(o.c.created_at))).all()
    return {
        "person": row,
        "enrollments": conn.execute(select(enrollment).where(enrollment.c.person_id == row.id)
                                    .order_by(enrollment.c.school_year)).all(),
        "functions": conn.execute(select(person_function).where(person_function.c.person_id == row.id)
                                  .order_by(person_function.c.uai)).all(),
        "groups": conn.execute(select(group.c.uai, group.c.code, group.c.kind, group.c.archived_at)
                               .join(group_membership, group_membership.c.group_id == group.c.id)
                               .where(group_membership.c.person_id == row.id)
                               .order_by(group.c.uai, group.c.code)).all(),
        "family": family,
        "aliases": conn.execute(select(person_alias).where(person_alias.c.person_key == row.person_key)).all(),
        "links": conn.execute(select(target_link).where(target_link.c.entity == "person",
                                                        target_link.c.key == row.person_key)).all(),
        "pending": conn.execute(select(o.c.target, o.c.op, o.c.status, o.c.last_error)
                                .where(o.c.entity == "person", o.c.key == row.person_key,
                                       o.c.status != "delivered").order_by(o.c.id)).all(),
        "history": history,
        "events": conn.execute(select(run_event).where(run_event.c.key == row.person_key)
                               .order_by(run_event.c.id.desc()).limit(50)).all(),
        "logins": conn.execute(select(func.count(), func.max(login_event.c.at))
                               .where(login_event.c.person_key == row.person_key)).first(),
    }


def establishment_detail(conn: Connection, uai: str) -> dict | None:
    e, p = establishment, person
    row = conn.execute(select(e).where(e.c.uai == uai)).first()
    if row is None:
        return None
    kinds = dict(conn.execute(select(p.c.kind, func.count()).where(p.c.uai == uai, p.c.status == PersonStatus.ACTIVE)
                              .group_by(p.c.kind)).all())
    groups = conn.execute(select(group.c.code, group.c.kind, group.c.label, group.c.archived_at)
                          .where(group.c.uai == uai).order_by(group.c.kind, group.c.code)).all()
    ecoles = conn.execute(select(e.c.uai, e.c.name).where(e.c.secteur_college == uai).order_by(e.c.uai)).all()
    return {"establishment": row, "kinds": kinds, "groups": groups, "ecoles": ecoles}


@dataclass
class PluginState:
    name: str
    version: str
    hooks: list[str]
    healthy: bool | None  # None: the plugin has no health check
    detail: str


def enabled_plugins(hub) -> list[PluginState]:
    """The enabled plugins (loading the others takes seconds), each with its health check's answer."""
    plugins, states = hub.plugins, []
    checked = plugins.implementers("hub_health_check")
    for name in hub.settings.plugins.enabled:
        dist = plugins.available[name].dist
        hooks = sorted(h for h in dir(plugins.pm.get_plugin(name)) if h.startswith("hub_"))
        healthy, detail = None, ""
        if name in checked:
            try:
                ok, detail = plugins.call(name, "hub_health_check")
                healthy = bool(ok)
            except Exception as exc:  # a failing check is an answer: not healthy, and why
                healthy, detail = False, f"{type(exc).__name__}: {exc}"
        states.append(PluginState(name, dist.version if dist else "", hooks, healthy, redact(str(detail))))
    return states
