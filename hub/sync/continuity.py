"""The continuity step of a sync (the rules are `hub.continuity`): networks, school years, archived classes.

- Before staging, `load_networks` reads which collège each école feeds; the stager adds
  each pupil's network and scheme groups to their record as it stages it (so a changed
  sectorisation changes the pupils' records, and the plan sees it like any change).
- After resolution, `stage_network_groups` declares the networks' inter groups, so they
  are planned, applied and delivered like the groups a source declares.
- `school_years` reads the years a run brings per establishment; `too_early` holds a run
  whose year has not started; a complete read of a later year *rolls the establishment
  over*: `plan_archives` plans last year's classes that nobody names any more as group
  ``archive`` changes, and `apply_school_years` archives them and records the new year.

Everything is one statement over the run's rows or over the establishments (a few
thousand), never a loop over people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, and_, case, exists, func, insert, literal, select, update

from hub import continuity
from hub.model import Establishment, EstablishmentKind, PersonStatus
from hub.store.tables import (
    UTCDateTime,
    establishment,
    group,
    group_membership,
    person,
    plan_change,
    stage_assignment,
    stage_enrollment,
    stage_establishment,
    stage_group,
    stage_membership,
    stage_person,
    teaching_assignment,
)

REPLANNED = ("update", "move", "restore", "delete")  # people whose stored relations this run replaces or ends


def load_networks(conn: Connection, enabled: bool = True) -> continuity.Networks:
    """École → secteur collège, as stored (empty when networks are off)."""
    if not enabled:
        return continuity.Networks({}, enabled=False)
    e = establishment
    rows = conn.execute(select(e.c.uai, e.c.secteur_college).where(
        e.c.kind == EstablishmentKind.ECOLE, e.c.secteur_college.is_not(None), ~e.c.pseudo))
    return continuity.Networks(dict(rows.all()))


def stage_network_groups(conn: Connection, run_id: int, networks: continuity.Networks) -> int:
    """Declare every network's inter groups in this run, as if the collège's record did (seq 0 when not staged)."""
    if not (networks.enabled and networks.secteur):
        return 0
    se, e = stage_establishment, establishment
    colleges = sorted(networks.colleges)
    names = dict(conn.execute(select(e.c.uai, e.c.name).where(e.c.uai.in_(colleges), e.c.kind == "college")).all())
    seqs = {}
    for uai, name, seq in conn.execute(select(se.c.uai, se.c.name, se.c.seq).where(
            se.c.run_id == run_id, se.c.uai.in_(colleges), se.c.kind == "college")):
        names[uai], seqs[uai] = name, seq
    rows = [{"run_id": run_id, "seq": seqs.get(uai, 0), "uai": g.uai, "code": g.code, "kind": str(g.kind),
             "label": g.label}
            for uai in colleges if uai in names
            for g in continuity.network_groups(Establishment(uai, names[uai], EstablishmentKind.COLLEGE))]
    if rows:
        conn.execute(insert(stage_group), rows)
    return len(rows)


@dataclass
class YearRead:
    """The school year a run brings one establishment, and what the store holds for it."""

    uai: str
    read: int  # the newest year of its staged enrollments
    complete: int | None  # the same, counting only complete feeds
    stored: int | None


def school_years(conn: Connection, run_id: int, complete_sources: list[str]) -> list[YearRead]:
    """Per establishment with staged enrollments: the years this run brings and the stored one."""
    sp, se, e = stage_person, stage_enrollment, establishment
    from_complete = func.max(case((sp.c.source.in_(complete_sources or [""]), se.c.school_year), else_=None))
    rows = conn.execute(
        select(se.c.uai, func.max(se.c.school_year), from_complete)
        .join(sp, and_(sp.c.run_id == se.c.run_id, sp.c.seq == se.c.seq))
        .where(se.c.run_id == run_id).group_by(se.c.uai)).all()
    stored = dict(conn.execute(select(e.c.uai, e.c.school_year).where(e.c.school_year.is_not(None))).all())
    return [YearRead(uai, read, complete, stored.get(uai)) for uai, read, complete in rows]


def local_today(settings) -> date:
    """Today in the hub's time zone (``timezone``), where the rollover day is read."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(settings.timezone)).date()


def too_early(years: list[YearRead], today: date, rollover: str) -> list[YearRead]:
    """Establishments this run would move to a school year that has not started."""
    return [y for y in years if continuity.too_early(y.read, y.stored, today, rollover)]


def rolled_over(years: list[YearRead]) -> list[str]:
    return sorted(y.uai for y in years if continuity.rolls_over(y.stored, y.complete, complete=True))


def plan_archives(conn: Connection, run_id: int, rolled: list[str]) -> None:
    """Plan ``archive`` for the classes of rolled-over establishments that, after this run, nobody names.

    Named after the run: declared by a staged establishment, or named by a staged membership or
    teaching assignment, or by the stored ones of an active person this run leaves as they are.
    Each of these is one query for the names it gives (a correlated test per class was quadratic:
    30 minutes for a 100k académie); the classes left are planned.
    """
    if not rolled:
        return
    g, gm, ta, p, pc = group, group_membership, teaching_assignment, person, plan_change
    sg, sm, sa = stage_group, stage_membership, stage_assignment
    replanned = select(pc.c.person_id).where(pc.c.run_id == run_id, pc.c.entity == "person",
                                             pc.c.op.in_(REPLANNED), pc.c.person_id.is_not(None))
    kept = and_(p.c.status == PersonStatus.ACTIVE, p.c.id.not_in(replanned))
    for start in range(0, len(rolled), 500):
        chunk = rolled[start:start + 500]
        naming = (
            select(sg.c.uai, sg.c.code).where(sg.c.run_id == run_id, sg.c.uai.in_(chunk)),
            select(sm.c.uai, sm.c.code).where(sm.c.run_id == run_id, sm.c.uai.in_(chunk)),
            select(sa.c.uai, sa.c.group_code).where(sa.c.run_id == run_id, sa.c.uai.in_(chunk)),
            select(g.c.uai, g.c.code).join(gm, gm.c.group_id == g.c.id).join(p, p.c.id == gm.c.person_id)
            .where(g.c.uai.in_(chunk), kept),
            select(ta.c.uai, ta.c.group_code).join(p, p.c.id == ta.c.person_id).where(ta.c.uai.in_(chunk), kept),
        )
        named = {tuple(row) for query in naming for row in conn.execute(query.distinct())}
        classes = conn.execute(
            select(func.coalesce(establishment.c.source, literal("continuity")).label("source"), g.c.uai, g.c.code,
                   g.c.kind)
            .select_from(g.outerjoin(establishment, establishment.c.uai == g.c.uai))
            .where(g.c.uai.in_(chunk), g.c.archived_at.is_(None))).all()
        archived = [{"run_id": run_id, "source": c.source, "entity": "group", "op": "archive",
                     "key": f"{c.uai}/{c.code}", "uai": c.uai, "group_kind": c.kind}
                    for c in classes if (c.uai, c.code) not in named]
        if archived:
            conn.execute(insert(plan_change), archived)


def apply_school_years(conn: Connection, run_id: int, now: datetime, years: list[YearRead]) -> None:
    """Archive the planned classes, bring archived ones that are named again back, record each new year."""
    g, pc = group, plan_change
    moment = literal(now, UTCDateTime())
    conn.execute(update(g).values(archived_at=moment).where(
        g.c.archived_at.is_(None), exists().where(
            pc.c.run_id == run_id, pc.c.entity == "group", pc.c.op == "archive", pc.c.uai == g.c.uai,
            pc.c.key == g.c.uai + "/" + g.c.code)))
    conn.execute(update(g).values(archived_at=None).where(
        g.c.archived_at.is_not(None), exists().where(
            pc.c.run_id == run_id, pc.c.entity == "group", pc.c.op == "restore", pc.c.uai == g.c.uai,
            pc.c.key == g.c.uai + "/" + g.c.code)))
    newer: dict[int, list[str]] = {}
    for y in years:
        if y.complete is not None and (y.stored is None or y.complete > y.stored):
            newer.setdefault(y.complete, []).append(y.uai)
    for year, uais in newer.items():
        for start in range(0, len(uais), 500):
            conn.execute(update(establishment).values(school_year=year)
                         .where(establishment.c.uai.in_(uais[start:start + 500])))
