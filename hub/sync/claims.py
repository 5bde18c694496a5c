"""Claims on outbox rows: how delivery workers, on one machine or several, share the outbox.

A worker takes a batch of due rows in one short transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL: two workers never take the same row, and neither waits for the other) and
marks them with its id (``host:pid``) and a lease (``claimed_until``). Until the lease ends
no other worker takes them; a worker renews it while it delivers. A claim whose worker died
on this machine is freed at once, one from another machine when its lease runs out.

One entity's changes stay in order: a row is not taken while an earlier row of its entity
for the same target is not delivered (pending, claimed, or dead), so one claim never holds
two changes of one entity and a later change waits for the earlier one's worker.
SQLite has one writer: there the ``deliver`` lock keeps a single worker (see `deliver`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, func, or_, select, update

from hub.clock import now
from hub.store import analyze, counted_rows
from hub.store.locks import holder_alive, holder_id
from hub.store.tables import outbox

STALE_ROWS = 1000  # pending rows below which a stale count costs nothing worth an ANALYZE


def shares_outbox(engine: Engine) -> bool:
    """Whether several workers may deliver at once: PostgreSQL yes, SQLite (one writer) no."""
    return engine.dialect.name == "postgresql"


def refresh_statistics(engine: Engine) -> bool:
    """ANALYZE the outbox when PostgreSQL's row count for it is far below what waits there (a sync just queued
    100k changes; a server without autovacuum): with the stale count, PostgreSQL sorted every pending row on
    each claim, 0.24 s per claim at 100k pending, instead of 3.5 ms. Returns whether it did."""
    if not shares_outbox(engine):
        return False
    with engine.begin() as conn:
        waiting = conn.execute(select(func.count()).where(outbox.c.status == "pending")).scalar()
        if waiting > STALE_ROWS and waiting > 2 * counted_rows(conn, outbox):
            analyze(conn, [outbox])
            return True
    return False


class Claims:
    """One worker's claims: what it took, renewed before its lease runs out, each row then marked
    delivered, to retry or dead (a context manager: it holds the connection the marks go through).
    """

    def __init__(self, engine: Engine, targets: list[str], lease_seconds: float, me: str | None = None):
        self.engine, self.targets, self.lease = engine, targets, timedelta(seconds=lease_seconds)
        self.me = me or holder_id()
        self.held: set[int] = set()
        self._renewed = 0.0

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc) -> None:
        """Rows taken and not tried (the worker stopped on an error) are given back at once, not at the lease's end."""
        self.give_back(self.held)

    def take(self, limit: int, due_by: datetime) -> list:
        """Claim up to ``limit`` due rows, oldest first, none behind an undelivered row of its entity."""
        later, earlier = outbox, outbox.alias("earlier")
        blocked = exists().where(
            earlier.c.target == later.c.target,
            earlier.c.key == later.c.key,
            earlier.c.entity == later.c.entity,
            earlier.c.status != "delivered",
            earlier.c.id < later.c.id,
        )
        moment = now()
        free = or_(later.c.claimed_until.is_(None), later.c.claimed_until <= moment)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(later)
                .where(
                    later.c.status == "pending",
                    later.c.target.in_(self.targets),
                    later.c.next_attempt_at <= due_by,
                    free,
                    ~blocked,
                )
                .order_by(later.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=later)
            ).all()
            if rows:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in rows]))
                    .values(claimed_by=self.me, claimed_until=moment + self.lease)
                )
        self.held = {row.id for row in rows}
        self._renewed = time.monotonic()
        return rows

    def keep(self) -> set[int]:
        """The rows still this worker's; the lease is renewed once half of it has passed.

        A row missing here was taken over after this worker's lease ran out (it stalled
        longer than ``delivery.lease_seconds``): it must not be sent by this worker too.
        """
        if self.held and time.monotonic() - self._renewed > self.lease.total_seconds() / 2:
            with self.engine.begin() as conn:
                kept = conn.execute(
                    update(outbox)
                    .where(*self.mine(self.held))
                    .values(claimed_until=now() + self.lease)
                    .returning(outbox.c.id)
                ).scalars()
                self.held = set(kept)
            self._renewed = time.monotonic()
        return self.held

    def mine(self, ids) -> list:
        """SQL conditions: rows ``ids`` are pending and claimed by this worker (the guard of every write)."""
        return [outbox.c.id.in_(list(ids)), outbox.c.claimed_by == self.me, outbox.c.status == "pending"]

    def delivered(self, ids: list[int]) -> None:
        """The target took these rows: one transaction, right after its answer."""
        self._mark(ids, status="delivered", delivered_at=now(), attempts=outbox.c.attempts + 1, last_error=None)

    def refused(self, row_id: int, *, attempts: int, dead: bool, error: str, retry_at: datetime) -> None:
        """The target refused a row: tried again at ``retry_at``, or dead-lettered."""
        self._mark(
            [row_id],
            status="dead" if dead else "pending",
            attempts=attempts,
            last_error=error,
            next_attempt_at=retry_at,
        )

    def _mark(self, ids: list[int], **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(*self.mine(ids)).values(claimed_until=None, **values))
        self.held.difference_update(ids)

    def give_back(self, ids) -> None:
        """Rows this worker took but will not try: due again for any worker."""
        ids = list(ids)
        if ids:
            with self.engine.begin() as conn:
                conn.execute(update(outbox).where(*self.mine(ids)).values(claimed_until=None))
            self.held.difference_update(ids)

    def others_in_flight(self, due_by: datetime) -> bool:
        """Whether another live worker holds rows due by ``due_by``: changes behind them may become due here."""
        o = outbox
        with self.engine.connect() as conn:
            return conn.execute(
                select(
                    exists().where(
                        o.c.status == "pending",
                        o.c.target.in_(self.targets),
                        o.c.next_attempt_at <= due_by,
                        o.c.claimed_until > now(),
                        o.c.claimed_by != self.me,
                    )
                )
            ).scalar()

    def free_dead(self) -> list[str]:
        """Free the claims of workers that died on this machine (no need to wait for their lease)."""
        o = outbox
        with self.engine.connect() as conn:
            holders = (
                conn.execute(
                    select(o.c.claimed_by)
                    .distinct()
                    .where(o.c.claimed_until > now(), o.c.status == "pending", o.c.claimed_by != self.me)
                )
                .scalars()
                .all()
            )
        freed = []
        for holder in (holder for holder in holders if holder_alive(holder) is False):
            held = (
                select(o.c.id)
                .where(o.c.claimed_by == holder, o.c.status == "pending", o.c.claimed_until.is_not(None))
                .with_for_update(skip_locked=True)
            )  # two workers freeing the same claims skip each other's rows, never wait in a deadlock
            with self.engine.begin() as conn:
                if conn.execute(update(o).where(o.c.id.in_(held)).values(claimed_until=None)).rowcount:
                    freed.append(holder)
        return freed
