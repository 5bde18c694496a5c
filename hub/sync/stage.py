"""Normalize a source's stream and stage it in stage_* tables, in batches, in constant memory.

Record-level problems (bad UAI, bad INE, missing name, duplicate key, unknown
establishment) are journaled and the record is left out; the rest goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, and_, delete, exists, func, or_, select

from hub.errors import RecordError
from hub.model import (
    Establishment,
    EstablishmentKind,
    GroupKind,
    Membership,
    Person,
    PersonDeletion,
    PersonKind,
    PersonPatch,
    Rejected,
    validate_ine,
    validate_uai,
)
from hub.store import records
from hub.store.bulk import insert_rows
from hub.store.tables import (
    establishment,
    plan_change,
    stage_assignment,
    stage_deletion,
    stage_enrollment,
    stage_establishment,
    stage_group,
    stage_guardianship,
    stage_membership,
    stage_person,
    stage_rejected,
)
from hub.sync.journal import Journal

STAGE_CHILDREN = (stage_enrollment, stage_membership, stage_guardianship, stage_assignment)


@dataclass
class StageResult:
    records_read: int = 0
    persons: int = 0
    establishments: int = 0
    deletions: int = 0
    rejected: int = 0


def normalize_establishment(item: Establishment) -> Establishment:
    ref = item.source_ref or f"establishment {item.uai}"
    uai = validate_uai(item.uai, record=ref)
    if not (item.name or "").strip():
        raise RecordError(ref, "missing name")
    groups, seen = [], set()
    for g in item.groups:
        code = (g.code or "").strip()
        if code and code not in seen:
            seen.add(code)
            groups.append(dataclasses.replace(g, uai=uai, code=code, kind=GroupKind(g.kind)))
    return dataclasses.replace(
        item, uai=uai, name=item.name.strip(), kind=EstablishmentKind(item.kind),
        secteur_college=validate_uai(item.secteur_college, record=ref) if item.secteur_college else None,
        groups=groups,
    )


def normalize_person(item: Person) -> Person:
    """Validate and canonicalize one person, or raise RecordError naming it and the reason."""
    ref = item.source_ref or f"person {item.jointure or item.ine}"
    kind = PersonKind(item.kind)
    last, first = (item.last_name or "").strip(), (item.first_name or "").strip()
    if not last or not first:
        raise RecordError(ref, "missing last name or first name")
    ine = validate_ine(item.ine, record=ref) if item.ine else None
    if kind == PersonKind.ELEVE and not ine and not item.jointure:
        raise RecordError(ref, "a pupil needs an INE or a jointure")
    if item.birth_date is not None and not isinstance(item.birth_date, date):
        raise RecordError(ref, f"birth date {item.birth_date!r} is not a date")
    uai = validate_uai(item.uai, record=ref) if item.uai else None
    enrollment = item.enrollment
    if enrollment:
        enrollment = dataclasses.replace(enrollment, uai=validate_uai(enrollment.uai, record=ref))
    memberships = tuple(dict.fromkeys(
        Membership(validate_uai(m.uai, record=ref), m.code.strip(), GroupKind(m.kind))
        for m in item.memberships if m.code.strip()
    ))
    guardians = tuple({g.parent_key: g for g in item.guardians}.values())
    assignments = tuple(dict.fromkeys(
        dataclasses.replace(a, uai=validate_uai(a.uai, record=ref)) for a in item.assignments
    ))
    return dataclasses.replace(
        item, kind=kind, last_name=last, first_name=first, ine=ine, uai=uai, enrollment=enrollment,
        memberships=memberships, guardians=guardians, assignments=assignments,
        email=(item.email or "").strip() or None, jointure=(item.jointure or "").strip() or None,
    )


def apply_patch(stored: Person, patch: PersonPatch) -> Person:
    """The stored person with the patch's fields replaced (see `PersonPatch` for the shorthands)."""
    known = {f.name for f in dataclasses.fields(Person)}
    changes: dict = {}
    enrollment = stored.enrollment
    memberships = list(stored.memberships)
    for name, value in patch.fields.items():
        if name.startswith("enrollment.") and enrollment is not None:
            enrollment = dataclasses.replace(enrollment, **{name.split(".", 1)[1]: value})
        elif name.startswith("memberships:"):
            kind = GroupKind(name.split(":", 1)[1])
            memberships = [m for m in memberships if m.kind != kind] + list(value)
        elif name in known - {"kind", "source_ref"}:
            changes[name] = value
        else:
            raise RecordError(patch.source_ref, f"cannot modify {name}")
    changes.setdefault("enrollment", enrollment)
    changes.setdefault("memberships", tuple(memberships))
    return dataclasses.replace(stored, source_ref=patch.source_ref, **changes)


class Stager:
    """Writes one run's normalized items to the stage tables, a batch at a time."""

    def __init__(self, conn: Connection, run_id: int, journal: Journal, *, batch_size: int,
                 uai: str | None = None, on_progress: Callable[[int], None] | None = None):
        self.conn, self.run_id, self.journal = conn, run_id, journal
        self.batch_size, self.uai, self.on_progress = batch_size, uai, on_progress
        self.result = StageResult()
        self._rows: dict = {}
        self._pending = 0

    def stage(self, items) -> StageResult:
        for item in items:
            self.result.records_read += 1
            try:
                self._stage_item(item)
            except RecordError as exc:
                self.reject(exc.record or getattr(item, "source_ref", ""), exc.reason, *_keys_of(item))
            if self._pending >= self.batch_size:
                self.flush()
        self.flush()
        self._analyze()
        self._drop_duplicates()
        self._drop_unknown_establishments()
        return self.result

    def reject(self, record: str, reason: str, *keys: str) -> None:
        """Journal a record left out; the people it names keep their stored state (no delete)."""
        self.result.rejected += 1
        self.journal.event(self.run_id, "error", record, reason, key=keys[0] if keys else "")
        for key in keys:
            if key:
                self._add(stage_rejected, key)

    def _stage_item(self, item) -> None:
        if isinstance(item, Person):
            self._stage_person(normalize_person(item))
        elif isinstance(item, Establishment):
            self._stage_establishment(normalize_establishment(item))
        elif isinstance(item, PersonPatch):
            self._stage_patch(item)
        elif isinstance(item, PersonDeletion):
            self._stage_deletion(item)
        elif isinstance(item, Rejected):
            self.reject(item.source_ref, item.reason, item.key)
        else:
            raise TypeError(f"a source yielded {type(item).__name__}, which is not a hub.model item")

    # The _add calls below list values in the order of the stage tables' columns (hub/store/tables.py).

    def _stage_establishment(self, e: Establishment) -> None:
        if self.uai and e.uai != self.uai:
            return
        self.result.establishments += 1
        self._add(stage_establishment, e.uai, e.name, str(e.kind), e.commune or "", e.secteur_college, e.zone,
                  e.territorial_unit, e.digest())
        for g in e.groups:
            self._add(stage_group, e.uai, g.code, str(g.kind), g.label or "")

    def _stage_person(self, p: Person) -> None:
        if self.uai and p.uai != self.uai:
            return
        self.result.persons += 1
        seq = self.result.records_read
        self._add(stage_person, seq, p.key, str(p.kind), p.ine, p.jointure, p.last_name, p.first_name,
                  p.birth_date, p.email, p.uai, p.digest(), p.source_ref[:300])
        if e := p.enrollment:
            self._add(stage_enrollment, seq, e.school_year, e.uai, e.mef or "", e.niveau or "", e.division or "")
        for m in p.memberships:
            self._add(stage_membership, seq, m.uai, m.code, str(m.kind))
        for g in p.guardians:
            self._add(stage_guardianship, seq, g.parent_key, g.rank)
        for a in p.assignments:
            self._add(stage_assignment, seq, a.uai, a.group_code, a.subject or "")

    def _stage_patch(self, patch: PersonPatch) -> None:
        self.flush()  # the stored person must be read after earlier items of this run are staged
        key = records.resolve_key(self.conn, patch.key)
        stored = key and records.load_person(self.conn, key)
        if not stored:
            raise RecordError(patch.source_ref, f"modification of {patch.key}, which is not stored")
        self._stage_person(normalize_person(apply_patch(stored, patch)))

    def _stage_deletion(self, item: PersonDeletion) -> None:
        key = records.resolve_key(self.conn, item.key)
        if key is None:
            raise RecordError(item.source_ref, f"deletion of {item.key}, which is not stored")
        self.result.deletions += 1
        self._add(stage_deletion, key, item.source_ref[:300])

    def _add(self, table, *values) -> None:
        self._rows.setdefault(table, []).append((self.run_id, *values))
        self._pending += 1

    def flush(self) -> None:
        for table, rows in self._rows.items():
            insert_rows(self.conn, table, rows)
        self._rows = {}
        self._pending = 0
        if self.on_progress:
            self.on_progress(self.result.records_read)

    def _analyze(self) -> None:
        """Fresh statistics, so PostgreSQL plans the diff joins over the staged rows as hash joins."""
        if self.conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in (stage_person, *STAGE_CHILDREN, stage_establishment, stage_group,
                                                stage_deletion))
            self.conn.exec_driver_sql(f"ANALYZE {names}")

    def _drop_duplicates(self) -> None:
        """Two records with one identity key in a feed: keep the first, reject the others by name."""
        sp = stage_person
        first = (select(sp.c.person_key, func.min(sp.c.seq).label("seq"))
                 .where(sp.c.run_id == self.run_id).group_by(sp.c.person_key)
                 .having(func.count() > 1).subquery())
        later = self.conn.execute(
            select(sp.c.seq, sp.c.person_key, sp.c.jointure, sp.c.source_ref, first.c.seq.label("first_seq"))
            .join(first, first.c.person_key == sp.c.person_key)
            .where(sp.c.run_id == self.run_id, sp.c.seq > first.c.seq)
        ).all()
        if not later:
            return
        first_refs = dict(self.conn.execute(
            select(sp.c.seq, sp.c.source_ref).where(sp.c.run_id == self.run_id,
                                                    sp.c.seq.in_({r.first_seq for r in later}))).all())
        for row in later:
            kind, value = row.person_key.split(":", 1)
            label = "INE" if kind == "ine" else "jointure"
            self.reject(row.source_ref, f"duplicate {label} {value} in this feed "
                        f"(first seen at {first_refs[row.first_seq]}); this record is skipped",
                        *([f"jnt:{row.jointure}"] if row.jointure else []))
        self.flush()
        self._remove_seqs([r.seq for r in later])
        self.result.persons -= len(later)

    def _drop_unknown_establishments(self) -> None:
        """A person attached to an establishment neither stored nor in this feed is left out."""
        sp, se, e = stage_person, stage_establishment, establishment
        known = or_(
            exists().where(se.c.run_id == self.run_id, se.c.uai == sp.c.uai),
            exists().where(e.c.uai == sp.c.uai),
        )
        orphans = self.conn.execute(
            select(sp.c.seq, sp.c.person_key, sp.c.source_ref, sp.c.uai)
            .where(sp.c.run_id == self.run_id, sp.c.uai.is_not(None), ~known)
        ).all()
        for row in orphans:
            self.reject(row.source_ref, f"attached to establishment {row.uai}, which is unknown", row.person_key)
        self.flush()
        self._remove_seqs([r.seq for r in orphans])
        self.result.persons -= len(orphans)

    def _remove_seqs(self, seqs: list[int]) -> None:
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            for table in (stage_person, *STAGE_CHILDREN):
                self.conn.execute(delete(table).where(and_(table.c.run_id == self.run_id, table.c.seq.in_(chunk))))


def clear_stage(conn: Connection, run_ids, *, keep_plan: bool = False) -> None:
    """Drop the staged rows (and the plan, unless kept for inspection) of runs given as ids or a select."""
    tables = [stage_person, *STAGE_CHILDREN, stage_establishment, stage_group, stage_deletion, stage_rejected]
    if not keep_plan:
        tables.append(plan_change)
    for table in tables:
        conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))


def _keys_of(item) -> tuple[str, ...]:
    """Every identity key an unusable item names (its INE may be the broken part)."""
    if isinstance(item, (PersonPatch, PersonDeletion)):
        return (item.key,)
    if not isinstance(item, Person):
        return ()
    keys = [f"jnt:{item.jointure.strip()}"] if (item.jointure or "").strip() else []
    if item.kind == PersonKind.ELEVE and item.ine:
        keys.insert(0, f"ine:{item.ine.strip().upper()}")
    return tuple(keys)

