"""Identity resolution over a run's staged records, before the plan: who is who, and who wins.

- One identity key, one person: the INE for pupils (so an école pupil from ONDE
  and the same pupil in a collège's AAF are one Person), the jointure for staff
  and parents. Names never merge anyone.
- A key staged twice by one source is a duplicate: the first record is kept,
  the others are rejected by name. Staged by several sources, the record of the
  source that owns the person's establishment wins, then the source listed first.
- Ambiguities are never merged silently; they become `conflict` journal events,
  listed by `hub doctor duplicates`: an INE that arrives with another birth date
  than the stored pupil's (the record is held back, the stored pupil kept), and
  a new pupil with the same names and birth date as someone under another INE
  (created, and flagged).
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, case, exists, func, literal, or_, select

from hub.store.tables import establishment, person, stage_establishment, stage_person
from hub.sync.journal import Journal
from hub.sync.stage import STAGE_TABLES, Stager, remove_staged

CONFLICT = "conflict"


def resolve(stager: Stager, precedence: list[str]) -> None:
    """Settle the run's staged records; `stager.results` gets the rejections and supersessions."""
    conn, run_id = stager.conn, stager.run_id
    if conn.dialect.name == "postgresql":  # fresh statistics, so the joins below are hash joins
        conn.exec_driver_sql("ANALYZE " + ", ".join(t.name for t in STAGE_TABLES))
    _settle_establishments(stager, precedence)
    _settle_people(stager, precedence)
    _drop_unknown_establishments(stager)
    _hold_reused_ines(stager)
    _flag_homonyms(conn, run_id, stager.journal)
    stager.flush()
    _recount(stager)


def _rank(table, precedence: list[str], owns=None):
    order = [case({name: i for i, name in enumerate(precedence)}, value=table.c.source, else_=len(precedence))]
    if owns is not None:
        order.insert(0, case((owns, 0), else_=1))
    return func.row_number().over(partition_by=table.c.person_key if table is stage_person else table.c.uai,
                                  order_by=[*order, table.c.seq])


def _losers(conn: Connection, run_id: int, table, key_column, precedence: list[str], owns=None) -> list:
    """Staged rows whose key another row of the run also has, except the winner of each key."""
    repeated = (select(key_column).where(table.c.run_id == run_id).group_by(key_column)
                .having(func.count() > 1))
    ranked = (select(table, _rank(table, precedence, owns).label("rank"))
              .where(table.c.run_id == run_id, key_column.in_(repeated)).subquery())
    rows = conn.execute(select(ranked).order_by(ranked.c.rank)).all()
    winners = {getattr(r, key_column.name): r for r in rows if r.rank == 1}
    return [(r, winners[getattr(r, key_column.name)]) for r in rows if r.rank > 1]


def _settle_establishments(stager: Stager, precedence: list[str]) -> None:
    se = stage_establishment
    losers = _losers(stager.conn, stager.run_id, se, se.c.uai, precedence)
    for row, winner in losers:
        if row.source == winner.source:
            stager.reject(row.source, f"establishment {row.uai}", f"duplicate establishment {row.uai} in this feed")
        else:
            stager.results[row.source].superseded += 1
    remove_staged(stager.conn, stager.run_id, [row.seq for row, _ in losers])


def _settle_people(stager: Stager, precedence: list[str]) -> None:
    sp, se, e = stage_person, stage_establishment, establishment
    owns = or_(
        exists().where(se.c.run_id == sp.c.run_id, se.c.uai == sp.c.uai, se.c.source == sp.c.source),
        exists().where(e.c.uai == sp.c.uai, e.c.source == sp.c.source),
    )
    losers = _losers(stager.conn, stager.run_id, sp, sp.c.person_key, precedence, owns)
    for row, winner in losers:
        if row.source != winner.source:
            stager.results[row.source].superseded += 1
            continue
        kind, value = row.person_key.split(":", 1)
        label = {"ine": "INE", "jnt": "jointure"}.get(kind, kind)
        reason = f"duplicate {label} {value} in this feed (first seen at {winner.source_ref}); this record is skipped"
        stager.reject(row.source, row.source_ref, reason, *([f"jnt:{row.jointure}"] if row.jointure else []))
    remove_staged(stager.conn, stager.run_id, [row.seq for row, _ in losers])


def _drop_unknown_establishments(stager: Stager) -> None:
    """A person attached to an establishment neither stored nor staged is left out."""
    sp, se, e = stage_person, stage_establishment, establishment
    staged_uais = select(se.c.uai).where(se.c.run_id == stager.run_id)
    orphans = stager.conn.execute(select(sp).where(
        sp.c.run_id == stager.run_id, sp.c.uai.is_not(None), sp.c.uai.not_in(staged_uais),
        sp.c.uai.not_in(select(e.c.uai)))).all()
    for row in orphans:
        stager.reject(row.source, row.source_ref, f"attached to establishment {row.uai}, which is unknown",
                      row.person_key)
    remove_staged(stager.conn, stager.run_id, [row.seq for row in orphans])


def _hold_reused_ines(stager: Stager) -> None:
    """An INE arriving with another birth date than the stored pupil's is not the same child: hold it back."""
    sp, p = stage_person, person
    clashes = stager.conn.execute(
        select(sp.c.seq, sp.c.source, sp.c.source_ref, sp.c.person_key, sp.c.birth_date, sp.c.last_name,
               sp.c.first_name, p.c.birth_date.label("stored_birth"), p.c.last_name.label("stored_last"),
               p.c.first_name.label("stored_first"))
        .join(p, p.c.person_key == sp.c.person_key)
        .where(sp.c.run_id == stager.run_id, sp.c.person_key.like("ine:%"), sp.c.birth_date.is_not(None),
               p.c.birth_date.is_not(None), sp.c.birth_date != p.c.birth_date)
    ).all()
    for row in clashes:
        stager.results[row.source].rejected += 1
        stager.journal.event(
            stager.run_id, CONFLICT, row.source_ref,
            f"INE {row.person_key[4:]} is stored for {row.stored_first} {row.stored_last} born {row.stored_birth}, "
            f"but this record is {row.first_name} {row.last_name} born {row.birth_date}: not merged; the stored "
            "pupil is kept until someone checks (hub doctor duplicates)", key=row.person_key)
        stager.keep_stored(row.person_key)
    remove_staged(stager.conn, stager.run_id, [row.seq for row in clashes])


def _flag_homonyms(conn: Connection, run_id: int, journal: Journal) -> None:
    """New pupils with the names and birth date of another pupil under another key: created, and flagged."""
    sp, p = stage_person, person
    other = p.alias("other")
    new = ~exists().where(p.c.person_key == sp.c.person_key)
    rows = conn.execute(
        select(sp.c.source_ref, sp.c.person_key, other.c.person_key.label("other_key"))
        .join(other, and_(other.c.match_key == sp.c.match_key, other.c.person_key != sp.c.person_key,
                          other.c.status == literal("active")))
        .where(sp.c.run_id == run_id, sp.c.kind == "eleve", sp.c.birth_date.is_not(None), new)
    ).all()
    for row in rows:
        journal.event(run_id, CONFLICT, row.source_ref,
                      f"{row.person_key} has the names and birth date of {row.other_key}: kept apart, "
                      "check they are two children (hub doctor duplicates)", key=row.person_key)


def _recount(stager: Stager) -> None:
    """People and establishments staged per source, after resolution took some out."""
    conn, run_id = stager.conn, stager.run_id
    people = dict(conn.execute(select(stage_person.c.source, func.count()).where(stage_person.c.run_id == run_id)
                               .group_by(stage_person.c.source)).all())
    places = dict(conn.execute(select(stage_establishment.c.source, func.count())
                               .where(stage_establishment.c.run_id == run_id)
                               .group_by(stage_establishment.c.source)).all())
    for source, result in stager.results.items():
        result.persons, result.establishments = people.get(source, 0), places.get(source, 0)


def homonym_groups(conn: Connection, limit: int = 200) -> list[list]:
    """Active pupils sharing names and birth date under different keys, group by group."""
    p = person
    shared = (select(p.c.match_key).where(p.c.status == "active", p.c.kind == "eleve", p.c.birth_date.is_not(None))
              .group_by(p.c.match_key).having(func.count() > 1).limit(limit).subquery())
    rows = conn.execute(select(p.c.match_key, p.c.person_key, p.c.last_name, p.c.first_name, p.c.birth_date,
                               p.c.uai, p.c.source).join(shared, shared.c.match_key == p.c.match_key)
                        .where(p.c.status == "active").order_by(p.c.match_key, p.c.person_key)).all()
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.match_key, []).append(row)
    return list(groups.values())


def recent_conflicts(conn: Connection, limit: int = 200) -> list:
    """The latest identity conflicts the journal holds (INE reuse, homonyms), newest first."""
    from hub.store.tables import run_event

    return conn.execute(select(run_event).where(run_event.c.level == CONFLICT)
                        .order_by(run_event.c.id.desc()).limit(limit)).all()
