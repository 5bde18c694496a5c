"""The journal: one `run` row per sync, delivery or purge, and its record-level events.

Run rows are written in their own short transactions so they survive a crash of
the work they describe; an interrupted run is marked so by the next one. Events
are kept in memory and written when the run finishes: SQLite has one writer, and
the work in progress holds it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update

from hub.clock import now, process_alive
from hub.errors import redact
from hub.store import in_memory
from hub.store.tables import run, run_event

MAX_EVENTS_PER_RUN = 10_000  # past this, events are counted, not stored


class Journal:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._events: dict[int, list[dict]] = {}
        self._event_counts: dict[int, int] = {}

    def start(self, action: str, *, source: str | None = None, trigger: str = "cli", dry_run: bool = False,
              forced: bool = False, **values) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(run).values(
                action=action, source=source, trigger=trigger, status="running", dry_run=dry_run,
                forced=forced, started_at=now(), counts={}, pid=os.getpid(), host=socket.gethostname(), **values,
            )).inserted_primary_key[0]

    def update(self, run_id: int, conn: Connection | None = None, **values) -> None:
        if conn is None:
            with self.engine.begin() as conn:
                self.update(run_id, conn, **values)
            return
        conn.execute(update(run).where(run.c.id == run_id).values(**values))

    def finish(self, run_id: int, status: str, *, counts: dict | None = None, message: str | None = None,
               conn: Connection | None = None, **values) -> None:
        """Close the run and write its events; inside ``conn`` when the status must commit with the work."""
        if conn is None:
            with self.engine.begin() as conn:
                self.finish(run_id, status, counts=counts, message=message, conn=conn, **values)
            return
        if counts is not None:
            values["counts"] = counts
        if message:
            message = redact(message)
        dropped = self._event_counts.pop(run_id, 0) - MAX_EVENTS_PER_RUN
        if dropped > 0:
            message = f"{message or ''} ({dropped} more events not stored)".strip()
        events = self._events.pop(run_id, [])
        if events:
            conn.execute(insert(run_event), events)
        self.update(run_id, conn, status=status, finished_at=now(), message=message, **values)
        _forget_progress(self.engine, run_id)

    def event(self, run_id: int, level: str, record: str, reason: str, *, key: str = "") -> None:
        count = self._event_counts.get(run_id, 0) + 1
        self._event_counts[run_id] = count
        if count <= MAX_EVENTS_PER_RUN:
            self._events.setdefault(run_id, []).append(dict(
                run_id=run_id, level=level, record=(record or "")[:300], key=(key or "")[:80], reason=redact(reason),
                created_at=now()))

    def run(self, run_id: int):
        with self.engine.connect() as conn:
            return conn.execute(select(run).where(run.c.id == run_id)).first()

    def events(self, run_id: int) -> list:
        with self.engine.connect() as conn:
            return conn.execute(select(run_event).where(run_event.c.run_id == run_id)
                                .order_by(run_event.c.id)).all()

    def mark_interrupted(self, action: str, source: str | None,
                         message: str = "the process died; nothing of it was applied") -> list[int]:
        """Runs left 'running' by a process of this machine that died: say so, and return their ids.

        A run of another machine (a delivery worker there) is left to that machine: only it can tell."""
        here = socket.gethostname()
        with self.engine.begin() as conn:
            rows = conn.execute(select(run.c.id, run.c.pid, run.c.host).where(
                run.c.action == action, run.c.source == source,
                run.c.status.in_(("running", "applying")))).all()
            dead = [r.id for r in rows if r.host in (None, here) and not process_alive(r.pid)]
            if dead:
                conn.execute(update(run).where(run.c.id.in_(dead)).values(
                    status="interrupted", finished_at=now(), message=message))
            for run_id in dead:
                _forget_progress(self.engine, run_id)
            return dead

    def report_progress(self, run_id: int, records_read: int, phase: str) -> None:
        """Where a running run is. SQLite: its own transaction holds the only writer, so a file beside the database."""
        if self.engine.dialect.name != "sqlite":
            self.update(run_id, records_read=records_read, phase=phase)
        elif file := progress_file(self.engine, run_id):
            with suppress(OSError):  # a report that cannot be written is only missing from the console
                temp = file.with_suffix(".tmp")
                temp.write_text(json.dumps({"records_read": records_read, "phase": phase}))
                temp.replace(file)  # readers see the old report or the new one, never half of one

    def progress(self, run_id: int) -> dict | None:
        """A run's status, records read and phase, as fresh as the run last reported them (None: no such run)."""
        row = self.run(run_id)
        if row is None:
            return None
        found = {"status": row.status, "records_read": row.records_read, "phase": row.phase}
        file = progress_file(self.engine, run_id)
        if row.status in ("running", "applying") and file is not None:
            with suppress(OSError, ValueError):  # not reported yet, or just removed by the run's end
                found.update(json.loads(file.read_text()))
        return found


PROGRESS_SECONDS = 1.0  # a running sync reports its progress at most this often


class Progress:
    """A running sync's records read and phase for the console, reported at most once a second (a
    time check per staged batch: nothing measurable)."""

    def __init__(self, journal: Journal, run_id: int, on_records: Callable[[int], None] | None = None):
        self.journal, self.run_id, self.on_records = journal, run_id, on_records
        self.read, self.name, self._last = 0, "", 0.0

    def records(self, read: int) -> None:
        if self.on_records:
            self.on_records(read)
        self.read = read
        if time.monotonic() - self._last >= PROGRESS_SECONDS:
            self.phase(self.name)

    def phase(self, name: str) -> None:
        self.name, self._last = name, time.monotonic()
        self.journal.report_progress(self.run_id, self.read, name)


def progress_file(engine: Engine, run_id: int) -> Path | None:
    """SQLite: the file a running run reports its progress in; None on PostgreSQL (the run's row takes it)
    and for an in-memory database (nobody else can look)."""
    if engine.dialect.name != "sqlite" or in_memory(engine.url):
        return None
    return Path(f"{engine.url.database}-run{run_id}.progress")


def _forget_progress(engine: Engine, run_id: int) -> None:
    if file := progress_file(engine, run_id):
        file.unlink(missing_ok=True)


@dataclass
class EventGroup:
    level: str
    shape: str  # the reason with its values blanked: what the events of the group have in common
    events: list


# quoted values, UAIs, INEs, ids and numbers differ from one record to the next; the rest says what went wrong
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\b(?=[0-9A-Z._-]*[0-9])[0-9A-Za-z._$:-]{3,}\b|\b\d+\b")


def event_groups(events: list) -> list[EventGroup]:
    """Events grouped by level and by the shape of their reason, the biggest groups first."""
    groups: dict[tuple[str, str], EventGroup] = {}
    for event in events:
        shape = _VALUES.sub("…", event.reason)
        groups.setdefault((event.level, shape), EventGroup(event.level, shape, [])).events.append(event)
    return sorted(groups.values(), key=lambda g: (g.level != "error", -len(g.events)))


def flat_counts(counts: dict, prefix: str = "") -> list[tuple[str, str]]:
    """A run's counts as (name, value) rows: nested sections as dotted names, lists one item per row."""
    rows = []
    for key, value in sorted(counts.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flat_counts(value, f"{name}.")
        elif isinstance(value, list):
            rows += [(name if i == 0 else "", str(item)) for i, item in enumerate(value)]
        else:
            rows.append((name, f"{value:,}" if isinstance(value, int) else str(value)))
    return rows
