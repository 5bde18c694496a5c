"""Drain the outbox through the targets' ``hub_deliver`` hook.

Each row is marked delivered in its own transaction right after the target took
it, so a process killed mid-way redelivers at most the row in flight, with the
same idempotency key. Failures back off exponentially; after
``delivery.max_attempts`` a row is dead-lettered until an admin retries it.
Changes to one entity reach a target in order: a row waits while an earlier row
for the same key is still pending.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Connection, Engine, and_, delete, exists, insert, select, update

from hub.clock import now
from hub.errors import DeliveryError, redact
from hub.hookspecs import Scope
from hub.model import Change
from hub.queries import StoreView
from hub.settings import DeliverySettings
from hub.store import locks, records
from hub.store.tables import outbox, target_link
from hub.sync.journal import Journal


@dataclass
class DeliveryReport:
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)

    def add(self, bucket: dict[str, int], target: str) -> None:
        bucket[target] = bucket.get(target, 0) + 1


def due_rows(conn: Connection, targets: list[str], limit: int, due_by: datetime | None = None) -> list:
    """Pending rows due by ``due_by`` (default now), oldest first, none behind an undelivered row of its entity."""
    later, earlier = outbox, outbox.alias("earlier")
    blocked = exists().where(earlier.c.target == later.c.target, earlier.c.key == later.c.key,
                             earlier.c.entity == later.c.entity, earlier.c.status != "delivered",
                             earlier.c.id < later.c.id)
    return conn.execute(
        select(later).where(later.c.status == "pending", later.c.target.in_(targets),
                            later.c.next_attempt_at <= (due_by or now()), ~blocked)
        .order_by(later.c.id).limit(limit)
    ).all()


def build_changes(conn: Connection, rows: list) -> list[Change]:
    """The changes with their entities' current state (None once gone), one query per kind of entity."""
    keys: dict[str, list[str]] = {}
    for row in rows:
        if not (row.entity == "person" and row.op == "purge"):
            keys.setdefault(row.entity, []).append(row.key)
    current: dict[str, dict] = {
        entity: records.load_people(conn, wanted) if entity == "person"
        else {uai: records.load_establishment(conn, uai) for uai in set(wanted)} if entity == "establishment"
        else records.load_links(conn, entity, wanted)
        for entity, wanted in keys.items()
    }
    return [Change(op=row.op, entity=row.entity, key=row.key, idempotency_key=row.idempotency_key,
                   record=current.get(row.entity, {}).get(row.key), run_id=row.run_id, uai=row.uai,
                   old_uai=row.old_uai) for row in rows]


class TargetLinks:
    """A target's own ids for hub entities (table target_link), written at once in their own transaction.

    A target stores the id its system gave (a SCIM ``id``) when it creates something, and
    reads it back to update or delete the right object; after a crash the link is there
    even if the change is delivered again.
    """

    def __init__(self, engine: Engine, target: str):
        self.engine, self.target = engine, target

    def get(self, entity: str, key: str) -> str | None:
        t = target_link
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.remote_id).where(t.c.target == self.target, t.c.entity == entity,
                                                            t.c.key == key)).scalar()

    def set(self, entity: str, key: str, remote_id: str) -> None:
        t = target_link
        with self.engine.begin() as conn:
            updated = conn.execute(update(t).where(t.c.target == self.target, t.c.entity == entity, t.c.key == key)
                                   .values(remote_id=remote_id, updated_at=now())).rowcount
            if not updated:
                conn.execute(insert(t).values(target=self.target, entity=entity, key=key, remote_id=remote_id,
                                              updated_at=now()))

    def forget(self, entity: str, key: str) -> None:
        t = target_link
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.target == self.target, t.c.entity == entity, t.c.key == key))

    def all(self, entity: str) -> dict[str, str]:
        t = target_link
        with self.engine.connect() as conn:
            return dict(conn.execute(select(t.c.key, t.c.remote_id).where(t.c.target == self.target,
                                                                           t.c.entity == entity)).all())

    def replace_all(self, entity: str, links: dict[str, str]) -> None:
        """Make ``links`` the whole set of this entity's links, in one transaction (a file export's state)."""
        t, moment = target_link, now()
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.target == self.target, t.c.entity == entity))
            if links:
                conn.execute(insert(t), [{"target": self.target, "entity": entity, "key": key, "remote_id": value,
                                          "updated_at": moment} for key, value in links.items()])


@dataclass
class DeliveryContext:
    """What a target's ``hub_deliver`` gets besides the changes (see `hookspecs.hub_deliver`)."""

    target: str
    settings: object
    scope: Scope
    links: TargetLinks
    store: StoreView
    _http: httpx.Client | None = None

    def http(self, **options) -> httpx.Client:
        """One pooled client for this target and run (``options`` apply on first use: base_url, headers…)."""
        if self._http is None:
            self._http = httpx.Client(**options)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def deliver(engine: Engine, plugins, settings: DeliverySettings, *, lock_ttl_seconds: int,
            targets: list[str] | None = None, limit: int | None = None, trigger: str = "cli") -> DeliveryReport:
    """Deliver due rows until none is left (or ``limit`` rows were tried); journaled as one run.

    Holds the ``deliver`` lock however it is started (command, scheduler job), so two
    deliveries never send the same rows twice; raises LockedError when one is running.
    """
    targets = targets or plugins.targets
    with locks.hold(engine, "deliver", lock_ttl_seconds):
        journal = Journal(engine)
        journal.mark_interrupted("deliver", None, message=INTERRUPTED)
        return _deliver_locked(engine, plugins, settings, journal, targets, limit, trigger)


INTERRUPTED = "the process died; what it delivered stays delivered, the rest is retried by the next delivery"


def _deliver_locked(engine: Engine, plugins, settings: DeliverySettings, journal: Journal, targets: list[str],
                    limit: int | None, trigger: str) -> DeliveryReport:
    run_id = journal.start("deliver", trigger=trigger)
    report, tried = DeliveryReport(), 0
    started = now()  # a change retried later is due after this: one try per change and run, however short the backoff
    scopes = plugins.scopes()
    contexts = {t: DeliveryContext(t, plugins.settings[t], scopes[t], TargetLinks(engine, t), StoreView(engine))
                for t in targets}
    try:
        while True:
            batch = settings.batch_size if limit is None else min(settings.batch_size, limit - tried)
            if batch <= 0:
                break
            with engine.connect() as conn:
                rows = due_rows(conn, targets, batch, due_by=started)
                changes = build_changes(conn, rows)
            if not rows:
                break
            for target in dict.fromkeys(row.target for row in rows):
                mine = [(row, change) for row, change in zip(rows, changes, strict=True) if row.target == target]
                size = max(1, scopes[target].batch_size)
                for start in range(0, len(mine), size):
                    tried += len(mine[start:start + size])
                    _deliver_batch(engine, plugins, settings, contexts[target], mine[start:start + size], report)
    finally:
        for context in contexts.values():
            context.close()
        journal.finish(run_id, "applied", counts={
            **{f"delivered.{t}": n for t, n in report.delivered.items()},
            **{f"retry.{t}": n for t, n in report.failed.items()},
            **{f"dead.{t}": n for t, n in report.dead.items()}})
    return report


def _deliver_batch(engine: Engine, plugins, settings: DeliverySettings, context: DeliveryContext, batch: list,
                   report: DeliveryReport) -> None:
    """One hub_deliver call; each change is then marked delivered, retried later or dead-lettered on its own."""
    try:
        outcomes = plugins.call(context.target, "hub_deliver", context=context, changes=[c for _, c in batch])
    except Exception as exc:  # a target's failure must not stop the others
        outcomes = [exc] * len(batch)
    if outcomes is None:
        outcomes = [None] * len(batch)
    if len(outcomes) != len(batch):
        outcomes = [DeliveryError(f"target {context.target} answered {len(outcomes)} outcomes for {len(batch)} "
                                  "changes", retryable=True)] * len(batch)
    for (row, _), outcome in zip(batch, outcomes, strict=True):
        _record(engine, settings, row, outcome, report)


def _record(engine: Engine, settings: DeliverySettings, row, outcome: Exception | None,
            report: DeliveryReport) -> None:
    if outcome is None:
        with engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                status="delivered", delivered_at=now(), attempts=row.attempts + 1, last_error=None))
        report.add(report.delivered, row.target)
        return
    retryable = not isinstance(outcome, DeliveryError) or outcome.retryable
    attempts = row.attempts + 1
    dead = attempts >= settings.max_attempts or not retryable
    delay = min(settings.backoff_seconds * 2 ** (attempts - 1), settings.backoff_max_seconds)
    delay *= 1 + random.random() / 4  # jitter: retries of many rows do not hit the target at the same second
    with engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(
            attempts=attempts, status="dead" if dead else "pending", last_error=_describe(outcome)[:2000],
            next_attempt_at=now() + timedelta(seconds=delay)))
    report.add(report.dead if dead else report.failed, row.target)


def _describe(exc: Exception) -> str:
    """What the dead-letter list shows: the target's message, never a credential from a URL."""
    return redact(str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}")


def dead_letters(engine: Engine, limit: int = 100) -> list:
    with engine.connect() as conn:
        return conn.execute(select(outbox).where(outbox.c.status == "dead").order_by(outbox.c.id).limit(limit)).all()


def retry_dead(engine: Engine, ids: list[int] | None = None) -> int:
    """Put dead letters back in the queue (all of them when ``ids`` is None)."""
    condition = outbox.c.status == "dead"
    if ids is not None:
        condition = and_(condition, outbox.c.id.in_(ids))
    with engine.begin() as conn:
        return conn.execute(update(outbox).where(condition).values(
            status="pending", attempts=0, next_attempt_at=now(), last_error=None)).rowcount
