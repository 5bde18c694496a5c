"""Purge: erase what the retention settings say is no longer kept.

People soft-deleted longer ago than their grace period (as set now, or when
they were deleted, whichever ends first) are erased with their
relations (targets receive a ``purge`` change); old journal runs and delivered
outbox rows are dropped; so are SSO refresh tokens used, revoked or expired
longer ago than ``retention.refresh_token_days``. Minors' data is not kept
longer than needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, or_, select, update

from hub.clock import now
from hub.model import PersonStatus
from hub.settings import HubSettings
from hub.store.tables import guardianship, oidc_refresh_token, outbox, person, run
from hub.sync.journal import Journal
from hub.sync.outbox import enqueue


@dataclass
class PurgeReport:
    run_id: int
    persons: int = 0
    runs: int = 0
    outbox_rows: int = 0
    refresh_tokens: int = 0


def purge(engine: Engine, settings: HubSettings, targets: list[str], *, trigger: str = "cli",
          dry_run: bool = False) -> PurgeReport:
    """Erase what retention says; ``dry_run`` counts the same in a transaction that is rolled back."""
    journal = Journal(engine)
    run_id = journal.start("purge", trigger=trigger, dry_run=dry_run)
    moment = now()
    report = PurgeReport(run_id)
    with engine.connect() as conn, conn.begin() as transaction:
        grace_ended = moment - timedelta(days=settings.sync.grace_days)
        expired = select(person.c.id, person.c.person_key).where(
            person.c.status == PersonStatus.PENDING_DELETION,
            or_(person.c.delete_after <= moment, person.c.status_since <= grace_ended))
        enqueue(conn, run_id, targets, moment, entity="person", op="purge",
                keys=expired.with_only_columns(person.c.person_key))
        expired_ids = expired.with_only_columns(person.c.id)
        # their children's links to them go with them: those children's next update writes their relations again
        children = select(guardianship.c.pupil_id).where(guardianship.c.parent_id.in_(expired_ids))
        conn.execute(update(person).where(person.c.id.in_(children)).values(relations_digest=None))
        report.persons = conn.execute(delete(person).where(person.c.id.in_(expired_ids))).rowcount
        report.runs = conn.execute(delete(run).where(
            run.c.finished_at < moment - timedelta(days=settings.retention.journal_days))).rowcount
        report.outbox_rows = conn.execute(delete(outbox).where(
            outbox.c.status == "delivered",
            outbox.c.delivered_at < moment - timedelta(days=settings.retention.delivered_days))).rowcount
        ended = moment - timedelta(days=settings.retention.refresh_token_days)
        token = oidc_refresh_token.c
        report.refresh_tokens = conn.execute(delete(oidc_refresh_token).where(
            or_(token.expires_at < ended, token.revoked_at < ended))).rowcount
        counts = {"person.purge": report.persons, "journal.purge": report.runs, "outbox.purge": report.outbox_rows,
                  "refresh_token.purge": report.refresh_tokens}
        if dry_run:
            transaction.rollback()
        else:
            journal.finish(run_id, "applied", conn=conn, counts=counts)
    if dry_run:
        journal.finish(run_id, "dry-run", counts=counts, message="dry run: nothing erased")
    return report
