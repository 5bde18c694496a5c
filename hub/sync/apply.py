"""Apply a plan: write the new state and one outbox row per (change, target), set-based, in the caller's transaction.

Every statement is an INSERT … SELECT or an UPDATE … FROM over the run's staged
rows, so applying 100,000 changes is a handful of statements, and a crash
anywhere leaves the transaction — and the store — as it was.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, case, delete, exists, func, insert, literal, or_, select, update

from hub.hookspecs import Scope
from hub.model import PersonStatus
from hub.store import RUN_SAMPLE, analyze, counted_rows
from hub.store.bulk import indexes_rebuilt
from hub.store.tables import (
    UTCDateTime,
    enrollment,
    establishment,
    group,
    group_membership,
    guardianship,
    nomenclature,
    person,
    person_function,
    plan_change,
    stage_assignment,
    stage_enrollment,
    stage_establishment,
    stage_function,
    stage_group,
    stage_guardianship,
    stage_membership,
    stage_nomenclature,
    stage_person,
    teaching_assignment,
)
from hub.sync.continuity import YearRead, apply_school_years
from hub.sync.outbox import write_outbox

STATISTICS_REFRESH = 10_000  # changes after which PostgreSQL's statistics are refreshed in the same transaction
DOMAIN_TABLES = (establishment, group, person, enrollment, group_membership, guardianship, teaching_assignment,
                 person_function)
PERSON_COLUMNS = ("kind", "ine", "jointure", "last_name", "first_name", "birth_date", "email", "uai", "match_key",
                  "digest", "relations_digest")
ESTABLISHMENT_COLUMNS = ("name", "kind", "commune", "secteur_college", "zone", "territorial_unit", "pseudo", "digest")
NOMENCLATURE_COLUMNS = ("label", "national_code", "niveau", "filiere", "digest")
FIRST_LOAD = 20_000  # people created by a run into a store holding fewer: their indexes are built at the end
LOADED_TABLES = (person, enrollment, group_membership, guardianship, teaching_assignment, person_function)


def apply_plan(conn: Connection, run_id: int, *, now: datetime, grace_days: int, scopes: dict[str, Scope],
               changes: int, creates: int = 0, years: list[YearRead] = ()) -> bool:
    """``changes``: the plan's size; ``creates``: the people it creates; ``years``: the school years the run
    brings (`hub.sync.continuity.school_years`). Returns whether it was applied as a first load (`first_load`)."""
    if conn.dialect.name == "postgresql":  # first: see `_first_id` (runs applying wait for each other, never crosswise)
        conn.exec_driver_sql("LOCK TABLE person IN SHARE ROW EXCLUSIVE MODE")
    big = conn.dialect.name == "postgresql" and changes >= STATISTICS_REFRESH
    if big:
        # the plan's real size, so that applying it joins by hash, not by an index probe per change
        analyze(conn, [plan_change], sample=RUN_SAMPLE)
    _apply_establishments(conn, run_id, now)
    _apply_nomenclatures(conn, run_id)
    _apply_groups(conn, run_id)
    load = first_load(conn, creates)
    with indexes_rebuilt(conn, LOADED_TABLES) if load else nullcontext():
        base = _apply_people(conn, run_id, now)
        _apply_relations(conn, run_id, base)
    _apply_deletes(conn, run_id, now, grace_days)
    apply_school_years(conn, run_id, now, list(years))
    write_outbox(conn, run_id, scopes, now, grace_days)
    if big and changes >= counted_rows(conn, person) / 10:
        # autovacuum would analyze later; the next run (an incremental one, minutes away) needs the real row
        # counts now, or PostgreSQL scans a million people to update a hundred (measured: 17 s instead of 4 s).
        # Counts a tenth off do not mislead it (autovacuum's own rule): a 1 % day skips the 0.8 s it costs.
        analyze(conn, DOMAIN_TABLES)
    return load


def first_load(conn: Connection, creates: int) -> bool:
    """Whether a plan creating ``creates`` people loads a store that is empty or nearly: at least
    `FIRST_LOAD` people, more than it holds. Its indexes are then built once, at the end (`indexes_rebuilt`):
    the tables stay locked until the run commits, which only matters where people already log in."""
    return creates >= FIRST_LOAD and creates > conn.execute(select(func.count()).select_from(person)).scalar()


def _ts(moment: datetime):
    return literal(moment, UTCDateTime())


def _planned(run_id: int, entity: str, ops: tuple[str, ...]):
    pc = plan_change
    return and_(pc.c.run_id == run_id, pc.c.entity == entity, pc.c.op.in_(ops))


def _apply_establishments(conn: Connection, run_id: int, now: datetime) -> None:
    se, e, pc = stage_establishment, establishment, plan_change
    # from the few staged establishments to their plan row (by key): not through the plan's million people. The
    # op is compared as ``op || ''``, which no index serves: SQLite took the op's, and scanned the run's creates
    # for each establishment (0.7 s at a million people)
    planned = exists().where(pc.c.run_id == run_id, pc.c.key == se.c.uai, pc.c.entity == "establishment",
                             pc.c.op.concat("") == "create")
    conn.execute(insert(e).from_select(
        ["uai", *ESTABLISHMENT_COLUMNS, "source", "created_at", "updated_at"],
        select(se.c.uai, *(se.c[c] for c in ESTABLISHMENT_COLUMNS), se.c.source, _ts(now), _ts(now))
        .where(se.c.run_id == run_id, planned),
    ))
    # the secteur may come from the département's file (hub establishments import-sectors): a source that
    # does not carry one (the AAF, ONDE) leaves it
    columns = {**{c: se.c[c] for c in ESTABLISHMENT_COLUMNS},
               "secteur_college": func.coalesce(se.c.secteur_college, e.c.secteur_college)}
    conn.execute(
        update(e).values(**columns, source=se.c.source, updated_at=now)
        .where(pc.c.run_id == run_id, pc.c.entity == "establishment", pc.c.op == "update", pc.c.key == e.c.uai,
               se.c.run_id == run_id, se.c.uai == e.c.uai)
    )


def _apply_nomenclatures(conn: Connection, run_id: int) -> None:
    sn, n, pc = stage_nomenclature, nomenclature, plan_change
    planned = and_(pc.c.run_id == run_id, pc.c.entity == "nomenclature", pc.c.seq == sn.c.seq)
    conn.execute(insert(n).from_select(
        ["kind", "code", *NOMENCLATURE_COLUMNS, "source"],
        select(sn.c.kind, sn.c.code, *(sn.c[c] for c in NOMENCLATURE_COLUMNS), sn.c.source)
        .where(sn.c.run_id == run_id, exists().where(planned, pc.c.op == "create")),
    ))
    conn.execute(
        update(n).values(**{c: sn.c[c] for c in NOMENCLATURE_COLUMNS}, source=sn.c.source)
        .where(sn.c.run_id == run_id, sn.c.kind == n.c.kind, sn.c.code == n.c.code,
               exists().where(planned, pc.c.op == "update"))
    )


def _apply_groups(conn: Connection, run_id: int) -> None:
    """Declared groups are created or relabelled; groups only named by a member are created."""
    sg, g, sm = stage_group, group, stage_membership
    known = exists().where(g.c.uai == sg.c.uai, g.c.code == sg.c.code)
    conn.execute(insert(g).from_select(
        ["uai", "code", "kind", "label"],
        select(sg.c.uai, sg.c.code, sg.c.kind, sg.c.label).where(sg.c.run_id == run_id, ~known),
    ))
    conn.execute(
        update(g).values(kind=sg.c.kind, label=sg.c.label)
        .where(sg.c.run_id == run_id, sg.c.uai == g.c.uai, sg.c.code == g.c.code,
               (g.c.kind != sg.c.kind) | (g.c.label != sg.c.label))
    )
    named_only = exists().where(g.c.uai == sm.c.uai, g.c.code == sm.c.code)
    conn.execute(insert(g).from_select(
        ["uai", "code", "kind", "label"],
        select(sm.c.uai, sm.c.code, sm.c.kind, literal("")).where(sm.c.run_id == run_id, ~named_only)
        .group_by(sm.c.uai, sm.c.code, sm.c.kind),
    ))


def _apply_people(conn: Connection, run_id: int, now: datetime) -> int:
    """Returns ``base``: a created person's id is ``base`` + its staged seq (`_first_id`)."""
    sp, p, pc = stage_person, person, plan_change
    joined = sp.join(pc, and_(pc.c.run_id == sp.c.run_id, pc.c.seq == sp.c.seq))
    base = _first_id(conn)
    created = conn.execute(insert(p).from_select(
        ["id", "person_key", *PERSON_COLUMNS, "source", "status", "status_since", "created_at", "updated_at"],
        select(literal(base) + sp.c.seq, sp.c.person_key, *(sp.c[c] for c in PERSON_COLUMNS), sp.c.source,
               literal(PersonStatus.ACTIVE), _ts(now), _ts(now), _ts(now))
        .select_from(joined).where(sp.c.run_id == run_id, _planned(run_id, "person", ("create",))),
    )).rowcount
    if created and conn.dialect.name == "postgresql":  # its own numbering goes on after them
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('person', 'id'), (SELECT max(id) FROM person))")
    _update_people(conn, run_id, now)
    return base


def _first_id(conn: Connection) -> int:
    """The ids of the people a run creates are numbered from the highest stored one, by their staged seq:
    their relations then find them by their plan row alone, not by looking their key up among a million
    people (a first load of a million into PostgreSQL: 3 s less). Numbering them itself, the run must be the
    only one creating people until it commits: on PostgreSQL, `apply_plan` locked the person table against
    other writers first (reads go on); SQLite's transaction has held the database's write lock since its
    first write."""
    return conn.execute(select(func.coalesce(func.max(person.c.id), 0))).scalar()


# SQLite rewrites a row's entry in every index on a column its UPDATE sets, changed or not (PostgreSQL compares).
# A 1 % Delta at a million people touched 37,000 pages (150 MB of WAL) to rename 10,000 pupils: there, the
# indexed columns are set only where they change, by groups (the columns of one index); the rows that change
# the same groups are updated by one statement, each row once (the rename: one statement instead of seven,
# 0.45 s -> 0.29 s). PostgreSQL sets them in one statement, as a row updated several times leaves as many dead
# versions.
INDEXED_TOGETHER = (("source", "status", "status_since", "delete_after"), ("person_key",), ("ine",), ("jointure",),
                    ("uai", "kind"), ("match_key",))


def _update_people(conn: Connection, run_id: int, now: datetime) -> None:
    sp, p, pc = stage_person, person, plan_change
    restored = p.c.status != PersonStatus.ACTIVE
    values = {  # an INE once known stays: a source that does not carry it does not erase it
        **{c: sp.c[c] for c in PERSON_COLUMNS}, "ine": func.coalesce(sp.c.ine, p.c.ine),
        "person_key": func.coalesce(sp.c.new_key, p.c.person_key), "source": sp.c.source,
        "status": PersonStatus.ACTIVE, "status_since": case((restored, now), else_=p.c.status_since),
        "delete_after": None, "updated_at": now,
    }
    planned = (pc.c.run_id == run_id, pc.c.entity == "person", pc.c.op.in_(("update", "move", "restore")),
               pc.c.person_id == p.c.id, sp.c.run_id == run_id, sp.c.seq == pc.c.seq)
    if conn.dialect.name != "sqlite":
        conn.execute(update(p).values(values).where(*planned))
        return
    apart = {column for columns in INDEXED_TOGETHER for column in columns}
    plain = [c for c in values if c not in apart]
    # which index groups change, as bits: the rows that change the same groups are updated together, once each
    changes = sum(case((or_(*(p.c[c].is_distinct_from(values[c]) for c in columns)), 1 << bit), else_=0)
                  for bit, columns in enumerate(INDEXED_TOGETHER))
    for (mask,) in conn.execute(select(changes).where(*planned).distinct()).all():
        columns = plain + [c for bit, group in enumerate(INDEXED_TOGETHER) if mask & 1 << bit for c in group]
        conn.execute(update(p).values({c: values[c] for c in columns}).where(*planned, changes == mask))


def _apply_relations(conn: Connection, run_id: int, base: int) -> None:
    """Replace the relations of every created person, and of every updated one whose relations changed
    (``plan_change.relations``), by the staged ones. Keeping the others' rows took a third off a 1 % Delta
    at a million people: such a Delta changes names, rarely classes or parents. ``base``: see `_apply_people`."""
    pc, p = plan_change, person
    # only a created or updated person's plan row has ``relations`` set: with no condition on the op, SQLite
    # reaches it by the staged row's seq (ix_plan_change_run_seq), not by scanning the run's creates for each
    rewritten = pc.c.relations.is_(True)
    changed_ids = select(pc.c.person_id).where(_planned(run_id, "person", ("update", "move", "restore")), rewritten)
    for table, column in ((enrollment, "person_id"), (group_membership, "person_id"),
                          (guardianship, "pupil_id"), (teaching_assignment, "person_id"),
                          (person_function, "person_id")):
        conn.execute(delete(table).where(table.c[column].in_(changed_ids)))

    def staged(stage):  # staged child rows of planned people
        return stage.join(pc, and_(pc.c.run_id == stage.c.run_id, pc.c.seq == stage.c.seq))

    person_id = func.coalesce(pc.c.person_id, literal(base) + pc.c.seq)  # stored, or created (`_apply_people`)

    se, sm, sg, sa, sf, g = (stage_enrollment, stage_membership, stage_guardianship, stage_assignment, stage_function,
                             group)
    conn.execute(insert(enrollment).from_select(
        ["person_id", "school_year", "uai", "mef", "niveau", "division", "subjects"],
        select(person_id, se.c.school_year, se.c.uai, se.c.mef, se.c.niveau, se.c.division, se.c.subjects)
        .select_from(staged(se)).where(se.c.run_id == run_id, rewritten),
    ))
    conn.execute(insert(group_membership).from_select(
        ["group_id", "person_id"],
        select(g.c.id, person_id).select_from(staged(sm).join(g, and_(g.c.uai == sm.c.uai, g.c.code == sm.c.code)))
        .where(sm.c.run_id == run_id, rewritten),
    ))
    parent = p.alias("parent")
    conn.execute(insert(guardianship).from_select(
        ["pupil_id", "parent_id", "rank"],
        select(person_id, parent.c.id, sg.c.rank)
        .select_from(staged(sg).join(parent, parent.c.person_key == sg.c.parent_key))
        .where(sg.c.run_id == run_id, rewritten),
    ))
    conn.execute(insert(teaching_assignment).from_select(
        ["person_id", "uai", "group_code", "subject", "principal"],
        select(person_id, sa.c.uai, sa.c.group_code, sa.c.subject, sa.c.principal)
        .select_from(staged(sa)).where(sa.c.run_id == run_id, rewritten),
    ))
    conn.execute(insert(person_function).from_select(
        ["person_id", "uai", "code", "label", "discipline"],
        select(person_id, sf.c.uai, sf.c.code, sf.c.label, sf.c.discipline)
        .select_from(staged(sf)).where(sf.c.run_id == run_id, rewritten),
    ))


def _left_out_links(run_id: int, *columns):
    """The staged guardian links that name a parent who is not stored: apply leaves them out."""
    sg, sp = stage_guardianship, stage_person
    known = exists().where(person.c.person_key == sg.c.parent_key)
    return (select(*columns).select_from(sg).join(sp, and_(sp.c.run_id == sg.c.run_id, sp.c.seq == sg.c.seq))
            .where(sg.c.run_id == run_id, ~known))


def missing_parents(conn: Connection, run_id: int, limit: int = 100) -> tuple[int, list]:
    """Guardian links naming a parent who is not stored (the link is left out): how many, and the first ones."""
    sp, sg = stage_person, stage_guardianship
    missing = _left_out_links(run_id, sp.c.source_ref, sp.c.person_key, sg.c.parent_key)
    total = conn.execute(select(func.count()).select_from(missing.subquery())).scalar()
    return total, conn.execute(missing.limit(limit)).all() if total else []


def forget_left_out_links(conn: Connection, run_id: int) -> None:
    """The children whose guardian link was left out (`missing_parents`) lose their relations digest: the next
    run that updates them writes the link, once the parent is stored, even if their relations read the same."""
    sp = stage_person
    children = _left_out_links(run_id, func.coalesce(sp.c.new_key, sp.c.person_key))
    conn.execute(update(person).where(person.c.person_key.in_(children)).values(relations_digest=None))


def _apply_deletes(conn: Connection, run_id: int, now: datetime, grace_days: int) -> None:
    doomed = select(plan_change.c.person_id).where(_planned(run_id, "person", ("delete",)))
    conn.execute(update(person).where(person.c.id.in_(doomed)).values(
        status=PersonStatus.PENDING_DELETION, status_since=now, delete_after=now + timedelta(days=grace_days),
        updated_at=now))
