"""The plan's changes to groups, memberships and family links, as entities of their own, for the targets.

Apply replaces a changed person's relations wholesale (when they changed); a target that keeps classes
and parent links as objects of its own (a SCIM Group, an ENT's parent link) needs to
know which ones appeared and which went away. These diffs are computed in SQL
before apply, from the staged records of the people the plan changes, and only for
the entities some target asked for (a first load of a million people would
otherwise write millions of rows nobody reads).
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, case, exists, func, insert, literal, select

from hub.store.tables import (
    establishment,
    group,
    group_membership,
    guardianship,
    person,
    plan_change,
    stage_establishment,
    stage_group,
    stage_guardianship,
    stage_membership,
    stage_person,
)

UPSERTS = ("create", "update", "move", "restore")
COLUMNS = ["run_id", "source", "entity", "op", "key", "uai", "person_kind", "group_kind"]


def plan_relations(conn: Connection, run_id: int, entities: frozenset[str]) -> None:
    """Group creates and relabels always (they are cheap, and apply makes them anyway); the others if wanted."""
    _plan_groups(conn, run_id)
    if "membership" in entities:
        _plan_memberships(conn, run_id)
    if "guardianship" in entities:
        _plan_guardianships(conn, run_id)


def _plan_groups(conn: Connection, run_id: int) -> None:
    """Declared groups created, relabelled, or restored (archived, declared again); groups only named created.

    Groups the continuity rules declare (cycle-3 networks) when their collège is not staged in this run
    are the stored collège's source's.
    """
    sg, g, se, sm, sp = stage_group, group, stage_establishment, stage_membership, stage_person
    stored = g.alias("stored")
    archived = (
        select(stored.c.archived_at).where(stored.c.uai == sg.c.uai, stored.c.code == sg.c.code).scalar_subquery()
    )
    op = case(
        (archived.is_not(None), literal("restore")),
        else_=func.coalesce(
            select(literal("update")).where(stored.c.uai == sg.c.uai, stored.c.code == sg.c.code).scalar_subquery(),
            literal("create"),
        ),
    )
    changed = ~exists().where(
        g.c.uai == sg.c.uai,
        g.c.code == sg.c.code,
        g.c.kind == sg.c.kind,
        g.c.label == sg.c.label,
        g.c.archived_at.is_(None),
    )
    # the source of the establishment record declaring each group: joined on seq, which no index covers, each
    # group scanned every establishment of the run (8 s at a million people); IN lists are hashed once each
    sources = conn.execute(select(se.c.source).where(se.c.run_id == run_id).distinct()).scalars().all()
    declaring = [(sg.c.seq.in_(select(se.c.seq).where(se.c.run_id == run_id, se.c.source == source)), literal(source))
                 for source in sources]  # fmt: skip
    source = case(*declaring, else_=_stored_source(sg.c.uai)) if declaring else _stored_source(sg.c.uai)
    conn.execute(
        insert(plan_change).from_select(
            COLUMNS,
            select(
                literal(run_id),
                source,
                literal("group"),
                op,
                sg.c.uai + "/" + sg.c.code,
                sg.c.uai,
                literal(None),
                sg.c.kind,
            ).where(sg.c.run_id == run_id, changed),
        )
    )
    # the groups members name, one row each (a few hundred), before looking them up: per membership row the
    # lookups would cost as much as the whole sync
    named = (
        select(sm.c.uai, sm.c.code, func.min(sm.c.seq).label("seq"), func.min(sm.c.kind).label("kind"))
        .where(sm.c.run_id == run_id)
        .group_by(sm.c.uai, sm.c.code)
        .subquery()
    )
    # NOT IN one column (the group's key, uai/code: a UAI has no "/"), which both databases hash once; a correlated
    # EXISTS, or a (uai, code) row value in SQLite, scans the run's groups per group named (20 s at a million)
    declared = (named.c.uai + "/" + named.c.code).in_(select(sg.c.uai + "/" + sg.c.code).where(sg.c.run_id == run_id))
    known = exists().where(g.c.uai == named.c.uai, g.c.code == named.c.code)
    named_archived = exists().where(g.c.uai == named.c.uai, g.c.code == named.c.code, g.c.archived_at.is_not(None))
    for op, where in (("create", ~known), ("restore", named_archived)):
        conn.execute(
            insert(plan_change).from_select(
                COLUMNS,
                select(
                    literal(run_id),
                    sp.c.source,
                    literal("group"),
                    literal(op),
                    named.c.uai + "/" + named.c.code,
                    named.c.uai,
                    literal(None),
                    named.c.kind,
                )
                .join(sp, and_(sp.c.run_id == run_id, sp.c.seq == named.c.seq))
                .where(~declared, where),
            )
        )


def _stored_source(uai):
    return func.coalesce(
        select(establishment.c.source).where(establishment.c.uai == uai).scalar_subquery(), literal("continuity")
    )


def _plan_memberships(conn: Connection, run_id: int) -> None:
    pc, sm, gm, g = plan_change, stage_membership, group_membership, group
    people = pc.alias("people")
    stored = exists().where(
        gm.c.person_id == people.c.person_id, gm.c.group_id == g.c.id, g.c.uai == sm.c.uai, g.c.code == sm.c.code
    )
    conn.execute(
        insert(plan_change).from_select(
            COLUMNS,
            select(
                literal(run_id),
                people.c.source,
                literal("membership"),
                literal("add"),
                people.c.key + "|" + sm.c.uai + "/" + sm.c.code,
                sm.c.uai,
                people.c.person_kind,
                sm.c.kind,
            )
            .join(sm, and_(sm.c.run_id == people.c.run_id, sm.c.seq == people.c.seq))
            .where(people.c.run_id == run_id, people.c.entity == "person", people.c.op.in_(UPSERTS), ~stored),
        )
    )
    staged = exists().where(
        sm.c.run_id == people.c.run_id, sm.c.seq == people.c.seq, sm.c.uai == g.c.uai, sm.c.code == g.c.code
    )
    conn.execute(
        insert(plan_change).from_select(
            COLUMNS,
            select(
                literal(run_id),
                people.c.source,
                literal("membership"),
                literal("remove"),
                people.c.key + "|" + g.c.uai + "/" + g.c.code,
                g.c.uai,
                people.c.person_kind,
                g.c.kind,
            )
            .join(gm, gm.c.person_id == people.c.person_id)
            .join(g, g.c.id == gm.c.group_id)
            .where(people.c.run_id == run_id, people.c.entity == "person", people.c.op.in_(UPSERTS), ~staged),
        )
    )


def _plan_guardianships(conn: Connection, run_id: int) -> None:
    pc, sg, gd, p, sp = plan_change, stage_guardianship, guardianship, person, stage_person
    people, parent = pc.alias("people"), p.alias("parent")
    stored = exists().where(
        gd.c.pupil_id == people.c.person_id, gd.c.parent_id == parent.c.id, parent.c.person_key == sg.c.parent_key
    )
    parent_known = exists().where(p.c.person_key == sg.c.parent_key) | exists().where(
        sp.c.run_id == run_id, sp.c.person_key == sg.c.parent_key
    )
    conn.execute(
        insert(plan_change).from_select(
            COLUMNS,
            select(
                literal(run_id),
                people.c.source,
                literal("guardianship"),
                literal("add"),
                people.c.key + "|" + sg.c.parent_key,
                people.c.uai,
                people.c.person_kind,
                literal(None),
            )
            .join(sg, and_(sg.c.run_id == people.c.run_id, sg.c.seq == people.c.seq))
            .where(
                people.c.run_id == run_id, people.c.entity == "person", people.c.op.in_(UPSERTS), ~stored, parent_known
            ),
        )
    )
    staged = exists().where(
        sg.c.run_id == people.c.run_id, sg.c.seq == people.c.seq, sg.c.parent_key == parent.c.person_key
    )
    conn.execute(
        insert(plan_change).from_select(
            COLUMNS,
            select(
                literal(run_id),
                people.c.source,
                literal("guardianship"),
                literal("remove"),
                people.c.key + "|" + parent.c.person_key,
                people.c.uai,
                people.c.person_kind,
                literal(None),
            )
            .join(gd, gd.c.pupil_id == people.c.person_id)
            .join(parent, parent.c.id == gd.c.parent_id)
            .where(people.c.run_id == run_id, people.c.entity == "person", people.c.op.in_(UPSERTS), ~staged),
        )
    )
