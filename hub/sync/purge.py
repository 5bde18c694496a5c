"""Purge: erase what the retention settings say is no longer kept.

People soft-deleted longer ago than their grace period (as set now, or when
they were deleted, whichever ends first) are erased with their
relations (targets receive a ``purge`` change); old journal runs and delivered
outbox rows are dropped. Minors' data is not kept longer than needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, insert, literal, or_, select

from hub.model import PersonStatus
from hub.settings import HubSettings
from hub.store.tables import UTCDateTime, outbox, person, run
from hub.sync.journal import Journal, now


@dataclass
class PurgeReport:
    run_id: int
    persons: int = 0
    runs: int = 0
    outbox_rows: int = 0


def purge(engine: Engine, settings: HubSettings, targets: list[str], *, trigger: str = "cli") -> PurgeReport:
    journal = Journal(engine)
    run_id = journal.start("purge", trigger=trigger)
    moment = now()
    report = PurgeReport(run_id)
    with engine.begin() as conn:
        grace_ended = moment - timedelta(days=settings.sync.grace_days)
        expired = select(person.c.id, person.c.person_key).where(
            person.c.status == PersonStatus.PENDING_DELETION,
            or_(person.c.delete_after <= moment, person.c.status_since <= grace_ended))
        for target in targets:
            conn.execute(insert(outbox).from_select(
                ["target", "run_id", "entity", "op", "key", "idempotency_key", "status", "attempts",
                 "next_attempt_at", "created_at"],
                select(literal(target), literal(run_id), literal("person"), literal("purge"), person.c.person_key,
                       literal(f"{target}:{run_id}:purge:") + person.c.person_key, literal("pending"), literal(0),
                       literal(moment, UTCDateTime()), literal(moment, UTCDateTime()))
                .where(person.c.id.in_(expired.with_only_columns(person.c.id))),
            ))
        report.persons = conn.execute(delete(person).where(
            person.c.id.in_(expired.with_only_columns(person.c.id)))).rowcount
        report.runs = conn.execute(delete(run).where(
            run.c.finished_at < moment - timedelta(days=settings.retention.journal_days))).rowcount
        report.outbox_rows = conn.execute(delete(outbox).where(
            outbox.c.status == "delivered",
            outbox.c.delivered_at < moment - timedelta(days=settings.retention.delivered_days))).rowcount
        journal.finish(run_id, "applied", conn=conn, counts={
            "person.purge": report.persons, "journal.purge": report.runs, "outbox.purge": report.outbox_rows})
    return report
