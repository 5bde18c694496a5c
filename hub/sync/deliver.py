"""Drain the outbox through the targets' ``hub_deliver`` hook, with one worker or several.

A worker claims a batch of due rows (`claims.Claims`), hands them to the target a call at a
time, and marks what the target took as delivered right after it answered (each refused row
retried later or dead-lettered), so a process killed mid-way redelivers at most the rows of
the call in flight, with the same idempotency keys. Failures back off exponentially; after ``delivery.max_attempts``
a row is dead-lettered until an admin retries it. Changes to one entity reach a target in
order: a row waits while an earlier row for the same key is still pending.

On PostgreSQL any number of workers share the outbox (``hub deliver --workers N`` on one
machine, plain ``hub deliver`` on others); on SQLite one delivery runs at a time.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from hub.clock import now
from hub.errors import DeliveryError, HubError, redact
from hub.hookspecs import Scope
from hub.model import Change
from hub.queries import StoreView
from hub.settings import DeliverySettings
from hub.store import locks, records
from hub.store.tables import outbox, target_link
from hub.sync.claims import Claims, refresh_statistics, shares_outbox
from hub.sync.journal import Journal

if TYPE_CHECKING:
    from hub.app import Hub

WAIT_SECONDS = 0.2  # how often an idle worker looks again while other workers still hold changes


@dataclass
class DeliveryReport:
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    taken_over: list[str] = field(default_factory=list)  # dead workers whose claims this run freed

    def add(self, bucket: dict[str, int], target: str, count: int = 1) -> None:
        bucket[target] = bucket.get(target, 0) + count

    def merge(self, other: DeliveryReport) -> None:
        for mine, theirs in ((self.delivered, other.delivered), (self.failed, other.failed), (self.dead, other.dead)):
            for target, count in theirs.items():
                self.add(mine, target, count)
        self.taken_over += other.taken_over


def build_changes(conn: Connection, rows: list) -> list[Change]:
    """The changes with their entities' current state (None once gone), one query per kind of entity."""
    keys: dict[str, list[str]] = {}
    for row in rows:
        if not (row.entity == "person" and row.op == "purge"):
            keys.setdefault(row.entity, []).append(row.key)
    current: dict[str, dict] = {
        entity: records.load_people(conn, wanted)
        if entity == "person"
        else {uai: records.load_establishment(conn, uai) for uai in set(wanted)}
        if entity == "establishment"
        else records.load_links(conn, entity, wanted)
        for entity, wanted in keys.items()
    }
    return [
        Change(
            op=row.op,
            entity=row.entity,
            key=row.key,
            idempotency_key=row.idempotency_key,
            record=current.get(row.entity, {}).get(row.key),
            run_id=row.run_id,
            uai=row.uai,
            old_uai=row.old_uai,
        )
        for row in rows
    ]


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
            return conn.execute(
                select(t.c.remote_id).where(t.c.target == self.target, t.c.entity == entity, t.c.key == key)
            ).scalar()

    def set(self, entity: str, key: str, remote_id: str) -> None:
        t = target_link
        with self.engine.begin() as conn:
            updated = conn.execute(
                update(t)
                .where(t.c.target == self.target, t.c.entity == entity, t.c.key == key)
                .values(remote_id=remote_id, updated_at=now())
            ).rowcount
            if not updated:
                conn.execute(
                    insert(t).values(target=self.target, entity=entity, key=key, remote_id=remote_id, updated_at=now())
                )

    def forget(self, entity: str, key: str) -> None:
        t = target_link
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.target == self.target, t.c.entity == entity, t.c.key == key))

    def all(self, entity: str) -> dict[str, str]:
        t = target_link
        with self.engine.connect() as conn:
            return dict(
                conn.execute(
                    select(t.c.key, t.c.remote_id).where(t.c.target == self.target, t.c.entity == entity)
                ).all()
            )

    def replace_all(self, entity: str, links: dict[str, str]) -> None:
        """Make ``links`` the whole set of this entity's links, in one transaction (a file export's state)."""
        t, moment = target_link, now()
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.target == self.target, t.c.entity == entity))
            if links:
                conn.execute(
                    insert(t),
                    [
                        {"target": self.target, "entity": entity, "key": key, "remote_id": value, "updated_at": moment}
                        for key, value in links.items()
                    ],
                )


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


def deliver(
    engine: Engine,
    plugins,
    settings: DeliverySettings,
    *,
    lock_ttl_seconds: int,
    targets: list[str] | None = None,
    limit: int | None = None,
    trigger: str = "cli",
) -> DeliveryReport:
    """Deliver due rows until none is left (or ``limit`` rows were tried), as one worker; journaled as one run.

    On SQLite it holds the ``deliver`` lock however it is started (command, scheduler job), so
    two deliveries never run at once; raises LockedError when one is running. On PostgreSQL
    it joins whatever other workers deliver: claims keep them from sending a change twice.
    """
    targets = targets or plugins.targets
    if shares_outbox(engine):
        refresh_statistics(engine)
        return _deliver_as_worker(engine, plugins, settings, targets, limit, trigger)
    with locks.hold(engine, "deliver", lock_ttl_seconds):
        return _deliver_as_worker(engine, plugins, settings, targets, limit, trigger)


INTERRUPTED = "the process died; what it delivered stays delivered, the rest is retried by the next delivery"


def deliver_in_workers(
    hub: Hub, count: int, *, targets: list[str] | None = None, limit: int | None = None, trigger: str = "cli"
) -> DeliveryReport:
    """Run ``count`` workers on this machine, each a process with its own engine and plugins; their reports summed.

    The workers get this ``hub``'s settings; ``limit`` is shared out between them. PostgreSQL
    only: SQLite has one writer, so one worker.
    """
    engine = hub.engine
    if count > 1 and not shares_outbox(engine):
        raise HubError(
            f"--workers {count}: the database is {engine.dialect.name}, which keeps one delivery worker "
            "(one writer at a time); several workers need PostgreSQL. Run `hub deliver` without --workers"
        )
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # workers are forked with the hub and the plugins imported: started afresh (spawn), 8 workers spent
    # seconds of CPU importing the same modules on a 2-core machine. A process running threads (the
    # console, a test) must not fork: a fork server, which imports them once, forks the workers instead.
    if threading.active_count() == 1:
        start = multiprocessing.get_context("fork")
    else:
        start = multiprocessing.get_context("forkserver")
        plugin_modules = [hub.plugins.available[name].module for name in hub.plugins.settings]
        start.set_forkserver_preload(["hub.sync.deliver", "hub.app", *plugin_modules])
    refresh_statistics(engine)  # once here, before the workers all find the count stale
    engine.dispose()  # no connection of this process's pool may be shared with a forked worker
    limits = [None] * count if limit is None else [limit // count + (i < limit % count) for i in range(count)]
    report = DeliveryReport()
    with ProcessPoolExecutor(count, mp_context=start) as pool:
        shares = [share for share in limits if share != 0]
        for done in [pool.submit(_worker_process, hub.settings, targets, share, trigger) for share in shares]:
            report.merge(done.result())
    return report


def _worker_process(settings, targets: list[str] | None, limit: int | None, trigger: str) -> DeliveryReport:
    """One worker of `deliver_in_workers`, in a process of its own: the hub built again from its settings."""
    from hub.app import Hub

    hub = Hub(settings)
    try:
        return deliver(
            hub.engine,
            hub.plugins,
            settings.delivery,
            lock_ttl_seconds=settings.lock_ttl_seconds,
            targets=targets,
            limit=limit,
            trigger=trigger,
        )
    finally:
        hub.engine.dispose()


def _deliver_as_worker(
    engine: Engine, plugins, settings: DeliverySettings, targets: list[str], limit: int | None, trigger: str
) -> DeliveryReport:
    journal = Journal(engine)
    journal.mark_interrupted("deliver", None, message=INTERRUPTED)
    run_id = journal.start("deliver", trigger=trigger)
    report, tried = DeliveryReport(), 0
    started = now()  # a change retried later is due after this: one try per change and run, however short the backoff
    scopes = plugins.scopes()
    contexts = {
        t: DeliveryContext(t, plugins.settings[t], scopes[t], TargetLinks(engine, t), StoreView(engine))
        for t in targets
    }
    try:
        with Claims(engine, targets, settings.lease_seconds) as claims:
            while limit is None or tried < limit:
                report.taken_over += claims.free_dead()
                rows = claims.take(
                    settings.batch_size if limit is None else min(settings.batch_size, limit - tried), due_by=started
                )
                if not rows:
                    if not claims.others_in_flight(due_by=started):
                        break
                    time.sleep(WAIT_SECONDS)  # changes behind another worker's claims may become due
                    continue
                tried += _deliver_claimed(engine, plugins, settings, contexts, claims, rows, report)
    finally:
        for context in contexts.values():
            context.close()
        for holder in report.taken_over:
            journal.event(run_id, "warning", holder, f"worker {holder} died holding changes: delivered by this run")
        journal.finish(
            run_id,
            "applied",
            counts={
                **{f"delivered.{t}": n for t, n in report.delivered.items()},
                **{f"retry.{t}": n for t, n in report.failed.items()},
                **{f"dead.{t}": n for t, n in report.dead.items()},
                **({"taken_over": len(report.taken_over)} if report.taken_over else {}),
            },
        )
    return report


def _deliver_claimed(
    engine: Engine,
    plugins,
    settings: DeliverySettings,
    contexts: dict[str, DeliveryContext],
    claims: Claims,
    rows: list,
    report: DeliveryReport,
) -> int:
    """Deliver one claim's rows, target by target, in calls of the target's batch size; returns how many were tried."""
    with engine.connect() as conn:
        changes = build_changes(conn, rows)
    tried = 0
    for target in dict.fromkeys(row.target for row in rows):
        mine = [(row, change) for row, change in zip(rows, changes, strict=True) if row.target == target]
        size = max(1, contexts[target].scope.batch_size)
        for start in range(0, len(mine), size):
            held = claims.keep()
            batch = [(row, change) for row, change in mine[start : start + size] if row.id in held]
            tried += len(batch)
            if batch:
                _deliver_batch(plugins, settings, contexts[target], claims, batch, report)
    return tried


def _deliver_batch(
    plugins, settings: DeliverySettings, context: DeliveryContext, claims: Claims, batch: list, report: DeliveryReport
) -> None:
    """One hub_deliver call; the changes taken are then marked delivered together, each other one on its own."""
    try:
        outcomes = plugins.call(context.target, "hub_deliver", context=context, changes=[c for _, c in batch])
    except Exception as exc:  # a target's failure must not stop the others
        outcomes = [exc] * len(batch)
    if outcomes is None:
        outcomes = [None] * len(batch)
    if len(outcomes) != len(batch):
        error = DeliveryError(f"target {context.target} answered {len(outcomes)} outcomes for {len(batch)} changes")
        outcomes = [error] * len(batch)
    taken = [row.id for (row, _), outcome in zip(batch, outcomes, strict=True) if outcome is None]
    if taken:
        claims.delivered(taken)
        report.add(report.delivered, context.target, len(taken))
    for (row, _), outcome in zip(batch, outcomes, strict=True):
        if outcome is not None:
            _refused(settings, claims, row, outcome, report)


def _refused(settings: DeliverySettings, claims: Claims, row, outcome: Exception, report: DeliveryReport) -> None:
    """Back off exponentially (with jitter) and retry, or dead-letter after max_attempts or a final refusal."""
    retryable = not isinstance(outcome, DeliveryError) or outcome.retryable
    attempts = row.attempts + 1
    dead = attempts >= settings.max_attempts or not retryable
    delay = min(settings.backoff_seconds * 2 ** (attempts - 1), settings.backoff_max_seconds)
    delay *= 1 + random.random() / 4  # jitter: retries of many rows do not hit the target at the same second
    claims.refused(
        row.id, attempts=attempts, dead=dead, error=_describe(outcome)[:2000], retry_at=now() + timedelta(seconds=delay)
    )
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
        return conn.execute(
            update(outbox).where(condition).values(status="pending", attempts=0, next_attempt_at=now(), last_error=None)
        ).rowcount
