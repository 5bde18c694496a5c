"""Identity resolution over a run's staged records, before the plan: who is who, and who wins.

- One identity key, one person: the INE for pupils (so an école pupil from ONDE
  and the same pupil in a collège's AAF are one Person), the jointure for staff
  and parents. Names never merge anyone.
- A key staged twice by one source is a duplicate: the first record is kept,
  the others are rejected by name.
- Each establishment has an owner: the source set for its kind in
  ``sync.owners`` (e.g. écoles → onde), else the source whose record of it wins
  (``sync.precedence``, strongest first). A person's record from the source that
  owns their establishment wins over another source's; between two owners (a
  CM2 pupil still in the école's export and already in the collège's), the
  stronger source wins. A record that loses is *superseded*: counted, not applied,
  and the stored person is not deleted for it — in this run or a later one.
- A key someone confirmed as another key of a stored person (``hub doctor link``,
  table person_alias) is read as that person's key. A pupil stored under their
  jointure (no INE yet: an ONDE pupil, an AAF pupil without ENTEleveINE) whose
  record now brings an INE with the same jointure is the same person: the stored
  pupil takes the INE key. The reverse (a record without the INE of a pupil stored
  under it, same jointure) finds the stored pupil too, and an INE once known stays.
- A person the owner of their establishment deleted is not brought back by a
  source that does not own the establishment the record places them in.
- Ambiguities are never merged silently; they become `conflict` journal events,
  listed by `hub doctor duplicates`: an INE that arrives with another birth date
  than the stored pupil's (the record is held back, the stored pupil kept), and
  a new pupil with the same names and birth date as someone under another INE
  (created, and flagged).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, exists, func, literal, select, text, update

from hub.model import PersonStatus
from hub.store import RUN_SAMPLE, analyze
from hub.store.tables import (
    PUPIL_WITHOUT_INE,
    establishment,
    person,
    person_alias,
    stage_deletion,
    stage_establishment,
    stage_guardianship,
    stage_person,
    stage_rejected,
)
from hub.sync.journal import Journal
from hub.sync.stage import STAGE_TABLES, Stager, remove_staged

CONFLICT = "conflict"


@dataclass
class Ownership:
    """Which source speaks for which establishment."""

    precedence: list[str]  # sources, strongest first
    owners: dict[str, str]  # establishment kind -> source

    def strength(self, source: str) -> int:
        return self.precedence.index(source) if source in self.precedence else len(self.precedence)

    def owner(self, kind: str, source: str) -> str:
        """The owner of an establishment of this kind whose record comes from ``source``."""
        return self.owners.get(kind, source)


def resolve(stager: Stager, ownership: Ownership) -> None:
    """Settle the run's staged records; `stager.results` gets the rejections and supersessions."""
    conn, run_id = stager.conn, stager.run_id
    if conn.dialect.name == "postgresql":  # fresh statistics, so the joins below are hash joins
        analyze(conn, STAGE_TABLES, sample=RUN_SAMPLE)
    _read_aliases(conn, run_id)
    _recognise_known_people(stager)
    owner_of = _settle_establishments(stager, ownership)
    _reject_shared_jointures(stager)
    _settle_people(stager, ownership, owner_of)
    _drop_unknown_establishments(stager)
    _hold_reused_ines(stager)
    _flag_homonyms(conn, run_id, stager.journal)
    stager.flush()
    _recount(stager)


def _read_aliases(conn: Connection, run_id: int) -> None:
    """Keys confirmed as another key of a stored person are replaced by that person's key, wherever staged."""
    if conn.execute(select(func.count()).select_from(person_alias)).scalar() == 0:
        return
    a = person_alias
    for table, column in ((stage_person, "person_key"), (stage_guardianship, "parent_key"),
                          (stage_deletion, "person_key"), (stage_rejected, "person_key")):
        key = table.c[column]
        target = select(a.c.person_key).where(a.c.alias_key == key).scalar_subquery()
        conn.execute(update(table).where(table.c.run_id == run_id, key.in_(select(a.c.alias_key)))
                     .values({column: target}))


def _recognise_known_people(stager: Stager) -> None:
    """A pupil stored under their jointure and now staged with an INE (or the reverse) is the same pupil."""
    conn, run_id, sp, p = stager.conn, stager.run_id, stage_person, person
    stored_by_jointure = select(p.c.person_key).where(p.c.person_key == literal("jnt:") + sp.c.jointure,
                                                      p.c.kind == sp.c.kind).scalar_subquery()
    unknown = ~exists().where(p.c.person_key == sp.c.person_key)
    upgraded = found = 0
    # each update costs an index lookup per staged pupil: skip it when nobody can match (the usual case)
    if conn.execute(select(exists().where(text(PUPIL_WITHOUT_INE)).select_from(p))).scalar():
        upgraded = conn.execute(
            update(sp).where(sp.c.run_id == run_id, sp.c.person_key.like("ine:%"), sp.c.jointure.is_not(None),
                             unknown, stored_by_jointure.is_not(None))
            .values(new_key=sp.c.person_key, person_key=stored_by_jointure)).rowcount
    stored_by_ine = (select(p.c.person_key).where(p.c.jointure == sp.c.jointure, p.c.kind == sp.c.kind,
                                                  p.c.person_key.like("ine:%"))
                     .order_by(p.c.id).limit(1).scalar_subquery())
    if conn.execute(select(exists().where(sp.c.run_id == run_id, sp.c.kind == "eleve", sp.c.ine.is_(None)))).scalar():
        found = conn.execute(
            update(sp).where(sp.c.run_id == run_id, sp.c.kind == "eleve", sp.c.person_key.like("jnt:%"), unknown,
                             stored_by_ine.is_not(None))
            .values(person_key=stored_by_ine)).rowcount
    if upgraded:
        stager.journal.event(run_id, "info", "identity", f"{upgraded} pupil(s) stored under their jointure now have "
                             "an INE: same people, now keyed by INE")
    if found:
        stager.journal.event(run_id, "info", "identity", f"{found} record(s) without INE matched a pupil stored "
                             "under their INE by jointure: same people, INE kept")


def _supersede(stager: Stager, row) -> None:
    stager.results[row.source].superseded += 1


def _settle_establishments(stager: Stager, ownership: Ownership) -> dict[str, str]:
    """One record per establishment, from its owner; returns the owner of every known UAI."""
    conn, run_id, se, e = stager.conn, stager.run_id, stage_establishment, establishment
    stored = {row.uai: row for row in conn.execute(select(e.c.uai, e.c.kind, e.c.source))}
    staged: dict[str, list] = {}
    for row in conn.execute(select(se.c.seq, se.c.uai, se.c.kind, se.c.source).where(se.c.run_id == run_id)
                            .order_by(se.c.seq)):
        staged.setdefault(row.uai, []).append(row)
    losers = []
    for uai, rows in staged.items():
        kind = rows[0].kind

        def standing(source: str, kind: str = kind) -> tuple:
            return ownership.owner(kind, source) != source, ownership.strength(source)

        winner = min(rows, key=lambda row: (*standing(row.source), row.seq))
        for row in rows:
            if row is winner:
                continue
            if row.source == winner.source:
                stager.reject(row.source, f"establishment {uai}", f"duplicate establishment {uai} in this feed")
            else:
                _supersede(stager, row)
            losers.append(row)
        kept = stored.get(uai)
        if kept and kept.source != winner.source and standing(winner.source) > standing(kept.source):
            _supersede(stager, winner)  # the stored record's source owns it, or is stronger
            losers.append(winner)
    remove_staged(conn, run_id, [row.seq for row in losers])
    owner_of = {uai: ownership.owner(row.kind, row.source) for uai, row in stored.items()}
    for uai, rows in staged.items():
        survivors = [row for row in rows if row not in losers]
        if survivors:
            owner_of[uai] = ownership.owner(survivors[0].kind, survivors[0].source)
    return owner_of


def _reject_shared_jointures(stager: Stager) -> None:
    """One source giving one jointure to two pupils with different INEs: the first is kept, the second rejected."""
    conn, run_id, sp = stager.conn, stager.run_id, stage_person
    shared = (select(sp.c.source, sp.c.jointure).where(sp.c.run_id == run_id, sp.c.person_key.like("ine:%"),
                                                       sp.c.jointure.is_not(None))
              .group_by(sp.c.source, sp.c.jointure)  # two keys: min and max differ (no sort, as a DISTINCT needs)
              .having(func.min(sp.c.person_key) != func.max(sp.c.person_key)).subquery())
    rows = conn.execute(select(sp.c.seq, sp.c.source, sp.c.jointure, sp.c.person_key, sp.c.source_ref)
                        .join(shared, and_(shared.c.source == sp.c.source, shared.c.jointure == sp.c.jointure))
                        .where(sp.c.run_id == run_id).order_by(sp.c.seq)).all()
    first: dict[tuple, object] = {}
    losers = []
    for row in rows:
        kept = first.setdefault((row.source, row.jointure), row)
        if kept is not row and kept.person_key != row.person_key:
            stager.reject(row.source, row.source_ref, f"jointure {row.jointure} is also the pupil "
                          f"{kept.person_key} (at {kept.source_ref}); two INEs under one id: record skipped",
                          row.person_key)
            losers.append(row.seq)
    remove_staged(conn, run_id, losers)


def _settle_people(stager: Stager, ownership: Ownership, owner_of: dict[str, str]) -> None:
    """Duplicates within a source are errors; across sources and against stored people, owners win."""
    conn, run_id, sp, p = stager.conn, stager.run_id, stage_person, person

    def rank(row):
        return (owner_of.get(row.uai) != row.source, ownership.strength(row.source), row.seq)

    repeated = select(sp.c.person_key).where(sp.c.run_id == run_id).group_by(sp.c.person_key).having(func.count() > 1)
    by_key: dict[str, list] = {}
    for row in conn.execute(select(sp.c.seq, sp.c.source, sp.c.person_key, sp.c.jointure, sp.c.uai, sp.c.source_ref)
                            .where(sp.c.run_id == run_id, sp.c.person_key.in_(repeated)).order_by(sp.c.seq)):
        by_key.setdefault(row.person_key, []).append(row)
    losers = []
    for key, rows in by_key.items():
        winner = min(rows, key=rank)
        for row in rows:
            if row is winner:
                continue
            losers.append(row)
            if row.source != winner.source:
                _supersede(stager, row)
                continue
            label, value = {"ine": "INE", "jnt": "jointure"}.get(key[:3], key[:3]), key[4:]
            reason = f"duplicate {label} {value} in this feed (first seen at {winner.source_ref}); record skipped"
            stager.reject(row.source, row.source_ref, reason, *([f"jnt:{row.jointure}"] if row.jointure else []))

    # against the stored person: a source does not take someone from the owner of where they stand, nor bring
    # back someone that owner deleted, unless it owns the establishment its record places them in
    contested = conn.execute(
        select(sp.c.seq, sp.c.source, sp.c.uai, sp.c.person_key, p.c.source.label("stored_source"),
               p.c.uai.label("stored_uai"), p.c.status)
        .join(p, p.c.person_key == sp.c.person_key)
        .where(sp.c.run_id == run_id, p.c.source != sp.c.source)
    ).all()
    lost = {row.seq for row in losers}
    for row in contested:
        if row.seq in lost:
            continue
        stored_owns = owner_of.get(row.stored_uai) == row.stored_source
        staged_owns = owner_of.get(row.uai) == row.source
        stronger = ownership.strength(row.source) < ownership.strength(row.stored_source)
        allowed = staged_owns and (stronger or row.status != PersonStatus.ACTIVE)
        if stored_owns and not allowed:  # superseded; if the owner left them out, they are deleted
            _supersede(stager, row)
            losers.append(row)
    remove_staged(conn, run_id, sorted({row.seq for row in losers}))


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
                          other.c.status == literal(PersonStatus.ACTIVE)))
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
