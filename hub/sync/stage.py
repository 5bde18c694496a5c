"""Stage what sources yield in stage_* tables, in batches, in constant memory.

Each item is normalized (`hub.sync.normalize`); an unusable one is journaled,
left out, and the people it names keep their stored state (they are listed in
stage_rejected so the plan does not delete them). Several sources can be staged
in one run; `hub.sync.resolve` then settles who is who.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, delete, exists, or_, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from hub import forked
from hub.continuity import Networks, with_continuity
from hub.errors import HubError, RecordError, SourceError, database_cause, redact
from hub.hookspecs import Feed
from hub.model import (
    Establishment,
    Nomenclature,
    Notice,
    Person,
    PersonDeletion,
    PersonKind,
    PersonPatch,
    Rejected,
)
from hub.store import among, in_memory, records
from hub.store.bulk import insert_rows
from hub.store.tables import (
    SUBJECT_SEPARATOR,
    establishment,
    plan_change,
    stage_assignment,
    stage_deletion,
    stage_enrollment,
    stage_establishment,
    stage_function,
    stage_group,
    stage_guardianship,
    stage_membership,
    stage_nomenclature,
    stage_person,
    stage_rejected,
)
from hub.store.tables import run as runs
from hub.sync import reader_process
from hub.sync.journal import Journal
from hub.sync.normalize import (
    KEY_WIDTH,
    apply_patch,
    match_key,
    normalize_establishment,
    normalize_nomenclature,
    normalize_person,
)
from hub.sync.reader_process import InChild, Renumber

PATCH_BATCH = 2000  # Delta items looked up together: a 1 % Delta at a million people, 15 % faster than by 500
STAGE_CHILDREN = (stage_enrollment, stage_membership, stage_guardianship, stage_assignment, stage_function)
STAGE_TABLES = (
    stage_person,
    *STAGE_CHILDREN,
    stage_establishment,
    stage_group,
    stage_nomenclature,
    stage_deletion,
    stage_rejected,
)

STAGE_BY_NAME = {t.name: t for t in STAGE_TABLES}


@dataclass
class StageResult:
    """What one source yielded in a run."""

    records_read: int = 0
    persons: int = 0
    establishments: int = 0
    nomenclatures: int = 0
    deletions: int = 0
    rejected: int = 0
    notices: int = 0  # records kept with a warning (see model.Notice)
    superseded: int = 0  # records another source owns (see hub.sync.resolve)


class Stager:
    """Writes one run's normalized items to the stage tables, a batch at a time."""

    def __init__(
        self,
        conn: Connection,
        run_id: int,
        journal: Journal,
        *,
        batch_size: int,
        uai: str | None = None,
        on_progress: Callable[[int], None] | None = None,
        networks: Networks | None = None,
    ):
        self.conn, self.run_id, self.journal = conn, run_id, journal
        # école -> secteur collège, stored then as staged: each pupil's record gains its continuity groups
        self.networks = networks if networks is not None else Networks({}, enabled=False)
        self.batch_size, self.uai, self.on_progress = batch_size, uai, on_progress
        self.results: dict[str, StageResult] = {}
        self.seq = 0  # numbers every item of the run, across sources
        self._first = 0  # in a reader's child: the core's last number when it forked
        self._rows: defaultdict[Table, list[tuple]] = defaultdict(list)  # table -> rows waiting for a flush
        self._pending = 0
        self._writer: threading.Thread | None = None  # inserting the previous batch (see _write_behind)
        self._writer_error: BaseException | None = None
        self._waiting: list[tuple[int, PersonPatch | PersonDeletion]] = []
        self._ahead: tuple[list, list, Future | None] | None = None  # a batch of them, its keys, their lookup
        self._lookups: ProcessPoolExecutor | None = None  # the helper looking them up (see _look_ahead)
        self._own: Connection | None = None  # in a reader's child on PostgreSQL, its own (see _begin_in_child)
        # codes accepted where a UAI is expected: stored pseudo-structures, and those staged in this run
        self._nomenclatures: set[str] = set()
        self.pseudo = set(conn.execute(select(establishment.c.uai).where(establishment.c.pseudo)).scalars())

    def stage(self, source: str, feed: Feed) -> StageResult:
        """Stage one source's items; the source's own errors (SourceError) propagate."""
        result = self.results.setdefault(source, StageResult())
        self.source, self.result = source, result
        threshold = _ease_collections()
        try:
            # several reader children: the core would fall behind them; they make the people's rows too
            children = feed.items if isinstance(feed.items, InChild) and feed.items.children > 1 else None
            for item in children.before if children else feed.items:
                self.seq += 1
                result.records_read += 1
                self._stage_or_reject(item)
                if self._pending >= self.batch_size:
                    self._write_behind()
            if children:
                self._join_writer()  # they are forked: never while a thread inserts
                self._stage_converted(children.converted(self._rows_in_child, self._begin_in_child,
                                                         self._end_in_child))
            self._stage_waiting()
            self.flush()
        except BaseException:
            self._join_writer(check=False)  # the caller rolls the connection back: never under a running insert
            raise
        finally:
            _restore_collections(threshold)
            if self._lookups is not None:
                self._lookups.shutdown(cancel_futures=True)
                self._lookups = self._ahead = None
        if feed.records is not None:
            result.records_read = feed.records
        for note in feed.notes:
            self.journal.event(self.run_id, "info", source, note)
        return result

    def reject(self, source: str, record: str, reason: str, *keys: str) -> None:
        """Journal a record left out; the people it names keep their stored state (no delete)."""
        self.results[source].rejected += 1
        self.journal.event(self.run_id, "error", record, reason, key=keys[0] if keys else "")
        for key in keys:
            self.keep_stored(key)

    def keep_stored(self, key: str) -> None:
        """Whatever this run says, the stored person with this key is neither updated nor deleted by it."""
        if key and len(key) <= KEY_WIDTH:  # a longer key names nobody the store can hold
            self._add(stage_rejected, key)

    def _stage_or_reject(self, item) -> None:
        try:
            self._stage_item(item)
        except RecordError as exc:
            self.reject(self.source, exc.record or getattr(item, "source_ref", ""), exc.reason, *_keys_of(item))

    def _rows_in_child(self, items: list) -> tuple:
        """Run in the reader's child process, by its forked copy of this stager: the batch's people become
        staged rows there, on another core. Any other item, and a person whose record is unusable, goes
        back to the core with its number (seq) and is staged there; an establishment is also learnt here,
        as the people after it need its pseudo-structure code and secteur. Returns the last number, the
        number of items, of people staged, their rows by table name, and the items sent back."""
        back = []
        persons, read = self.result.persons, 0
        for item in items:
            if type(item) is Renumber:
                self.seq = self._first + item.start
                continue
            self.seq += 1
            read += 1
            if type(item) is Person:
                try:
                    self._stage_person(normalize_person(item, self.pseudo))
                    continue
                except RecordError:
                    pass  # the core stages it again, and journals why it is left out
            elif type(item) is Establishment:
                with suppress(RecordError):
                    self._learn(normalize_establishment(item))
            back.append((self.seq, item))
        if self._own is not None:  # inserted here, a batch of batches at a time (see _begin_in_child)
            if self._pending >= self.batch_size:
                self._insert_own()
            return self.seq, read, self.result.persons - persons, {}, back
        rows = self._take_rows()
        return self.seq, read, self.result.persons - persons, {t.name: r for t, r in rows.items()}, back

    def _begin_in_child(self) -> None:
        """In a reader's child, first: the rows the core had not inserted yet when it forked stay the core's;
        the items are numbered on from the core's last number (see `Renumber`).

        On PostgreSQL the child inserts its rows itself, on a connection of its own, committed at its end
        (`_end_in_child`), before the core reads them: sending them to the core cost both sides a pickle
        of each row, and the core the COPY (a million AAF people: 2.7 million rows, some 2 s of the core's
        20). A run that fails afterwards clears them (`clear_stage`), as it clears its own. SQLite has one
        writer: there the core inserts them.
        """
        self._rows, self._pending = defaultdict(list), 0
        self._first = self.seq
        self._own = None
        if self.conn.dialect.name == "postgresql":
            engine = self.conn.engine
            engine.dispose(close=False)  # the core's connections stay the core's: self.conn is never used here
            self._own = engine.connect()
            self._own.begin()  # the COPY goes by the driver: without it, commit() would find nothing to commit

    def _end_in_child(self) -> None:
        """In a reader's child, after its last batch: its rows left are inserted and committed."""
        if self._own is not None:
            self._insert_own()
            self._own.commit()
            self._own.close()

    def _insert_own(self) -> None:
        """In a reader's child: its waiting rows, on its own connection. The database's refusal fails the run
        as the core's would, with its first line (the next ones quote the row)."""
        try:
            self._insert(self._take_rows(), self._own)
        except SQLAlchemyError as exc:
            raise SourceError(database_cause(exc)) from None

    def _stage_converted(self, batches: Iterable[tuple]) -> None:
        """Stage what `_rows_in_child` made of each batch (of several children, in any order)."""
        last = self.seq
        for seq, count, persons, rows, back in batches:
            for number, item in back:
                self.seq = number
                self._stage_or_reject(item)
            self.seq = last = max(last, seq)
            self.result.records_read += count
            self.result.persons += persons
            for name, values in rows.items():
                self._rows[STAGE_BY_NAME[name]] += values
                self._pending += len(values)
            if self._pending >= self.batch_size:
                self._write_behind()
            elif not rows:  # the child inserted them (see _begin_in_child)
                self._report_progress()

    def _stage_item(self, item) -> None:
        if isinstance(item, Person):
            self._stage_person(normalize_person(item, self.pseudo))
        elif isinstance(item, Notice):
            self.result.notices += 1
            self.journal.event(self.run_id, "warning", item.source_ref, item.reason, key=item.key)
        elif isinstance(item, Nomenclature):
            self._stage_nomenclature(normalize_nomenclature(item))
        elif isinstance(item, Establishment):
            self._stage_establishment(normalize_establishment(item))
        elif isinstance(item, (PersonPatch, PersonDeletion)):
            self._stage_request(item)
        elif isinstance(item, Rejected):
            self.reject(self.source, item.source_ref, item.reason, item.key)
        else:
            raise TypeError(f"source {self.source} yielded {type(item).__name__}, which is not a hub.model item")

    # The rows below list values in the order of the stage tables' columns (hub/store/tables.py).

    def _learn(self, e: Establishment) -> bool:
        """What the people after an establishment need of it: its pseudo-structure code, its secteur. False
        when the run leaves it out (it stages another UAI)."""
        if self.uai and e.uai != self.uai:
            return False
        if e.pseudo:
            self.pseudo.add(e.uai)
        if e.secteur_college and e.kind == "ecole" and self.networks.enabled:
            self.networks.add(e.uai, e.secteur_college)
        return True

    def _stage_establishment(self, e: Establishment) -> None:
        if not self._learn(e):
            return
        self.result.establishments += 1
        self._add(
            stage_establishment,
            self.seq,
            self.source,
            e.uai,
            e.name,
            str(e.kind),
            e.commune or "",
            e.secteur_college,
            e.zone,
            e.territorial_unit,
            e.pseudo,
            e.digest(),
        )
        for g in e.groups:
            self._add(stage_group, self.seq, e.uai, g.code, str(g.kind), g.label or "")

    def _stage_person(self, p: Person) -> None:
        if self.uai and p.uai is not None and p.uai != self.uai:  # parents (no attachment) stay in
            return
        self.result.persons += 1
        run, seq, rows = self.run_id, self.seq, self._rows
        p = with_continuity(p, self.networks)
        digest, relations_digest = p.digests()
        rows[stage_person].append(
            (
                run,
                seq,
                self.source,
                p.key,
                str(p.kind),
                p.ine,
                p.jointure,
                p.last_name,
                p.first_name,
                p.birth_date,
                p.email,
                p.uai,
                match_key(p),
                digest,
                relations_digest,
                p.source_ref[:300],
                None,
            )
        )
        if e := p.enrollment:
            subjects = SUBJECT_SEPARATOR.join(e.subjects)
            rows[stage_enrollment].append(
                (run, seq, e.school_year, e.uai, e.mef or "", e.niveau or "", e.division or "", subjects)
            )
        rows[stage_membership] += [(run, seq, m.uai, m.code, str(m.kind)) for m in p.memberships]
        rows[stage_guardianship] += [(run, seq, g.parent_key, g.rank) for g in p.guardians]
        rows[stage_assignment] += [(run, seq, a.uai, a.group_code, a.subject or "", a.principal) for a in p.assignments]
        rows[stage_function] += [(run, seq, f.uai, f.code, f.label, f.discipline) for f in p.functions]
        self._pending += 2 + len(p.memberships) + len(p.guardians) + len(p.assignments) + len(p.functions)

    def _stage_nomenclature(self, n: Nomenclature) -> None:
        if n.key in self._nomenclatures:
            raise RecordError(n.source_ref, f"{n.kind} {n.code} is already in this run's feeds; record skipped")
        self._nomenclatures.add(n.key)
        self.result.nomenclatures += 1
        self._add(
            stage_nomenclature,
            self.seq,
            self.source,
            str(n.kind),
            n.code,
            n.label,
            n.national_code,
            n.niveau,
            n.filiere,
            n.digest(),
        )

    def _stage_request(self, item: PersonPatch | PersonDeletion) -> None:
        self._waiting.append((self.seq, item))
        if len(self._waiting) >= PATCH_BATCH:
            self._look_ahead()

    def _look_ahead(self) -> None:
        """Hand the waiting requests' lookups to a helper process, then stage the batch before, whose lookups are
        done by now: the helper's queries and the core's patching run at once (a 1 % Delta at a million people
        on SQLite: 2.6 s instead of 2.85; on PostgreSQL, whose server does most of the lookups' work, 0.1 s
        less). The helper is forked once a batch is full, with connections of its own; a small Delta, or a
        database in memory, is looked up in the core."""
        batch, self._waiting = self._waiting, []
        engine = self.conn.engine
        if self._lookups is None and len(batch) >= PATCH_BATCH and forked.available() \
                and not in_memory(engine.url):  # fmt: skip
            self._join_writer()  # forked: never while a thread inserts
            self._lookups = ProcessPoolExecutor(1, multiprocessing.get_context("fork"), _open_store, (engine,))
        keys = list({item.key for _, item in batch})
        answer = self._lookups.submit(_look_up, keys) if self._lookups else None
        self._stage_ahead()
        self._ahead = (batch, keys, answer)

    def _stage_ahead(self) -> None:
        if self._ahead is None:
            return
        (batch, keys, answer), self._ahead = self._ahead, None
        if answer is None:
            found = _stored_people(self.conn, keys)
        else:
            try:
                found = {key: (stored, reader_process.unpacked(p)) for key, (stored, p) in answer.result().items()}
            except BrokenProcessPool:
                raise HubError("the process looking up the people a Delta names ended unexpectedly") from None
        self._stage_requests(batch, keys, found)

    def _stage_waiting(self) -> None:
        """The requests still waiting, at the end of a source's items."""
        if self._waiting:
            self._look_ahead()
        self._stage_ahead()

    def _stage_requests(self, waiting: list, names: list[str], found: dict[str, tuple[str, Person]]) -> None:
        """Patches and deletions name people stored (``found``: key -> stored key and person), or staged by an
        earlier request of this run: a Delta's requests apply in order (Monday's file renames a pupil, Tuesday's
        moves them to another class: the pupil gets both). A person's last state in the batch is staged, in
        place of what the run staged of them before."""
        last = self.seq
        self.flush()  # the rows of the items before are in the stage tables: a request may be about one of them
        earlier = records.staged_seqs(self.conn, self.run_id, self.source, names)
        staged = records.staged_people(self.conn, self.run_id, [s for seqs in earlier.values() for s in seqs])
        deleted = self._deleted([stored_key for stored_key, _ in found.values()])
        latest: dict[str, tuple[int, Person | None]] = {}  # key -> the batch's last word: (seq, person or deleted)
        replaced: list[int] = []  # seqs staged before this batch, which its requests replace
        for seq, item in waiting:
            self.seq = seq
            stored_key, stored = found.get(item.key, (None, None))
            before = [s for s in earlier.get(item.key, ()) if s < seq]
            if item.key in latest:
                base = latest[item.key][1]
            elif before:
                base = staged[before[-1]]
            else:
                base = None if stored_key in deleted else stored
            what = "modification" if isinstance(item, PersonPatch) else "deletion"
            if base is None and (stored_key in deleted or item.key in latest):  # not kept as stored: it is gone
                self.reject(self.source, item.source_ref, f"{what} of {item.key}, deleted by an earlier request")
                continue
            try:
                if base is None and stored_key is None:
                    raise RecordError(item.source_ref, f"{what} of {item.key}, which is not stored")
                if isinstance(item, PersonPatch):
                    person = normalize_person(apply_patch(base, item), self.pseudo)
                else:
                    person = None
                    if stored_key and stored_key not in deleted:
                        self.result.deletions += 1
                        self._add(stage_deletion, stored_key, item.source_ref[:300])
                        deleted.add(stored_key)
            except RecordError as exc:
                self.reject(self.source, exc.record or item.source_ref, exc.reason, item.key)
                continue
            if item.key not in latest and before:
                replaced.append(before[-1])
            latest[item.key] = (seq, person)
        remove_staged(self.conn, self.run_id, replaced)
        for seq, person in latest.values():
            if person is not None:
                self.seq = seq
                self._stage_person(person)
        self.seq = last

    def _deleted(self, keys: list[str]) -> set[str]:
        """Which of these stored people an earlier request of this run deleted."""
        sd = stage_deletion.c
        conn = self.conn
        return set(conn.execute(select(sd.person_key).where(sd.run_id == self.run_id, among(conn, sd.person_key, keys)))
                   .scalars())  # fmt: skip

    def _add(self, table, *values) -> None:
        self._rows[table].append((self.run_id, *values))
        self._pending += 1

    def flush(self) -> None:
        """Insert every waiting row now (after the rows being written behind, if any)."""
        self._join_writer()
        self._report_progress()
        self._insert(self._take_rows())

    def _write_behind(self) -> None:
        """Insert the waiting rows in a thread while the next batch is normalized.

        The inserts spend their time in the database (in SQLite's C code, or waiting for
        PostgreSQL), without the GIL: the two overlap. One batch at a time, on the run's
        connection, which nothing else uses until `_join_writer` says the batch is in.
        """
        self._join_writer()
        self._report_progress()
        rows = self._take_rows()
        self._writer = threading.Thread(target=self._insert_in_thread, args=(rows,), name="stage-writer")
        self._writer.start()

    def _insert_in_thread(self, rows: dict) -> None:
        try:
            self._insert(rows)
        except BaseException as exc:  # noqa: BLE001 - raised again by _join_writer, in the run's thread
            self._writer_error = exc

    def _join_writer(self, *, check: bool = True) -> None:
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        error, self._writer_error = self._writer_error, None
        if error is not None and check:
            raise error

    def _take_rows(self) -> dict:
        rows, self._rows, self._pending = self._rows, defaultdict(list), 0
        return rows

    def _report_progress(self) -> None:
        if self.on_progress:
            self.on_progress(sum(r.records_read for r in self.results.values()))

    def _insert(self, rows: dict, conn: Connection | None = None) -> None:
        for table, values in rows.items():
            insert_rows(conn or self.conn, table, values)


_STORE: Engine | None = None  # in a lookup helper (see Stager._look_ahead): the store, on connections of its own


def _open_store(engine: Engine) -> None:
    global _STORE
    engine.dispose(close=False)  # the parent's connections stay the parent's
    _STORE = engine


def _stored_people(conn: Connection, keys: list[str]) -> dict[str, tuple[str, Person]]:
    """Key -> stored key and person, for the keys that name a stored person."""
    stored = records.resolve_keys(conn, keys)
    people = records.people_by_id(conn, [pid for _, pid in stored.values()])
    return {key: (stored_key, people[stored_key]) for key, (stored_key, _) in stored.items()}


def _look_up(keys: list[str]) -> dict[str, tuple[str, tuple]]:
    """In the helper: `_stored_people`, each person packed to travel back (`reader_process.packed`); an error
    as a HubError, which can travel whatever its cause."""
    try:
        with _STORE.connect() as conn:
            return {key: (stored_key, reader_process.packed(p)) for key, (stored_key, p)
                    in _stored_people(conn, keys).items()}  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - raised again in the core
        raise HubError(f"looking up the people a Delta names failed: {type(exc).__name__}: "
                       f"{redact(str(exc)).splitlines()[0]}") from None


def remove_staged(conn: Connection, run_id: int, seqs: list[int]) -> None:
    """Take staged records (people or establishments) out of the run."""
    for start in range(0, len(seqs), 500):
        chunk = seqs[start : start + 500]
        for table in (stage_person, *STAGE_CHILDREN, stage_establishment, stage_group, stage_nomenclature):
            conn.execute(delete(table).where(table.c.run_id == run_id, among(conn, table.c.seq, chunk)))


def clear_stage(conn: Connection, run_ids, *, keep_plan: bool = False) -> None:
    """Drop the staged rows (and the plan, unless kept for inspection) of runs given as ids or a select.

    A table holding only this run's rows is emptied whole, without visiting its rows: SQLite does so for a
    DELETE without condition (a million-person run's rows: 4 s of deletes, then none); PostgreSQL truncates
    it, once it holds the table's lock (taken without waiting: a run staging meanwhile keeps the DELETE).
    A deleted row stays until vacuumed; the next run would read or truncate a million of them (a 1 %
    Delta after a full run: 0.2 s).
    """
    tables = STAGE_TABLES if keep_plan else (*STAGE_TABLES, plan_change)
    alone: list[Table] = []
    if isinstance(run_ids, list) and len(run_ids) == 1 and _lock_now(conn, tables):
        alone = [table for table in tables if _holds_only(conn, table, run_ids[0])]
        if alone and conn.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE " + ", ".join(t.name for t in alone))
    for table in tables:
        if table not in alone:
            conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))
        elif conn.dialect.name != "postgresql":
            conn.execute(delete(table))


def _lock_now(conn: Connection, tables) -> bool:
    """Whether the run holds ``tables`` alone now: on PostgreSQL, their exclusive lock if nobody else writes
    them (until the transaction ends); SQLite's writer holds the whole database already."""
    if conn.dialect.name != "postgresql":
        return True
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"LOCK TABLE {', '.join(t.name for t in tables)} IN ACCESS EXCLUSIVE MODE NOWAIT")
    except OperationalError:
        return False
    return True


def _holds_only(conn: Connection, table: Table, run_id: int) -> bool:
    """Whether ``table`` holds no other run's rows: two range probes of its run_id index."""
    others = or_(table.c.run_id < run_id, table.c.run_id > run_id)
    return not conn.execute(select(exists().where(others))).scalar()


def truncate_stage(conn: Connection) -> bool:
    """Empty the staging tables and the plan at once, if no sync run is under way (PostgreSQL only; False
    otherwise). A deleted row stays in the table until vacuumed: after a million-person run, the next one
    read a million dead rows per table to find its own (1.3 s each, without autovacuum). Truncating frees
    them. The lock is taken first, without waiting: a run that starts meanwhile is seen, or stages after."""
    tables = (*STAGE_TABLES, plan_change)
    if conn.dialect.name != "postgresql" or not _lock_now(conn, tables):  # another run uses them now
        return False
    under_way = exists().where(runs.c.action == "sync", runs.c.status.in_(("running", "applying")))
    if conn.execute(select(under_way)).scalar():
        return False
    conn.exec_driver_sql("TRUNCATE " + ", ".join(t.name for t in tables))
    return True


def _ease_collections() -> tuple[int, int, int]:
    """Fewer runs of the cyclic garbage collector while items stream (about a tenth of the staging's time):
    the young objects are collected less often. The records are acyclic, freed as they go; returns the
    thresholds to restore. (Not `gc.freeze`: unfrozen, everything lands in the oldest generation, and
    garbage there, such as a closed engine's pool, waits for a full collection: connections pile up.)"""
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], 20_000), *threshold[1:])
    return threshold


def _restore_collections(threshold: tuple[int, int, int]) -> None:
    gc.set_threshold(*threshold)


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
