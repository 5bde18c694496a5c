"""The journal: one `run` row per sync, delivery or purge, and its record-level events.

Run rows are written in their own short transactions so they survive a crash of
the work they describe; an interrupted run is marked so by the next one. Events
are kept in memory and written when the run finishes: SQLite has one writer, and
the work in progress holds it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select, update

from hub.clock import now, process_alive
from hub.errors import redact
from hub.store.tables import run, run_event

MAX_EVENTS_PER_RUN = 10_000  # past this, events are counted, not stored


class Journal:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._events: dict[int, list[dict]] = {}
        self._event_counts: dict[int, int] = {}

    def start(self, action: str, *, source: str | None = None, trigger: str = "cli", dry_run: bool = False,
              forced: bool = False) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(run).values(
                action=action, source=source, trigger=trigger, status="running", dry_run=dry_run,
                forced=forced, started_at=now(), counts={}, pid=os.getpid(),
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
        """Runs left 'running' by a process that died: say so, and return their ids."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(run.c.id, run.c.pid).where(
                run.c.action == action, run.c.source == source,
                run.c.status.in_(("running", "applying")))).all()
            dead = [r.id for r in rows if not process_alive(r.pid)]
            if dead:
                conn.execute(update(run).where(run.c.id.in_(dead)).values(
                    status="interrupted", finished_at=now(), message=message))
            return dead


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
