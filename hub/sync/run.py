"""One sync run, start to end: lock, read, stage, plan, check, apply, journal.

Transactions: staging and planning commit together (so a dry run or a held run
can be inspected); applying, the outbox rows, the source cursor and the run's
final status commit together, so a process killed at any point leaves the store
either before or after the run, never between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, insert, select, update

from hub.errors import HubError, SourceError
from hub.settings import HubSettings
from hub.store import locks
from hub.store.tables import run, source_state
from hub.sync import Feed
from hub.sync.apply import apply_plan, missing_parents
from hub.sync.journal import Journal, now
from hub.sync.plan import Plan, Trip, check_thresholds, compute_plan, populations
from hub.sync.stage import Stager, StageResult, clear_stage


@dataclass
class SyncOptions:
    source: str
    dry_run: bool = False
    force: bool = False
    uai: str | None = None
    disabled_ops: tuple[str, ...] = ()  # any of create, update, delete
    full: bool = False  # ignore the source's cursor and read everything
    trigger: str = "cli"
    on_progress: Callable[[int], None] | None = None


@dataclass
class SyncReport:
    run_id: int
    status: str  # applied | dry-run | held | refused | failed
    plan: Plan | None = None
    staged: StageResult = field(default_factory=StageResult)
    trips: list[Trip] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    feed_description: str = ""


def sync(engine: Engine, settings: HubSettings, plugins, options: SyncOptions) -> SyncReport:
    """Run one source through the pipeline. Raises LockedError if that source is already syncing."""
    with locks.hold(engine, f"sync:{options.source}", settings.lock_ttl_seconds):
        return _sync_locked(engine, settings, plugins, options)


def _sync_locked(engine: Engine, settings: HubSettings, plugins, options: SyncOptions) -> SyncReport:
    started = time.perf_counter()
    journal = Journal(engine)
    journal.mark_interrupted("sync", options.source)
    _clear_previous_runs(engine, options.source)
    run_id = journal.start("sync", source=options.source, trigger=options.trigger, dry_run=options.dry_run,
                           forced=options.force)
    report = SyncReport(run_id, "running")
    try:
        cursor, last_count = _source_state(engine, options.source)
        feed: Feed = plugins.call(options.source, "hub_read_directory", since=None if options.full else cursor,
                                  uai=options.uai)
        report.feed_description = feed.description
        with engine.begin() as conn:
            stager = Stager(conn, run_id, journal, batch_size=settings.sync.batch_size, uai=options.uai,
                            on_progress=options.on_progress)
            report.staged = stager.stage(feed.items)
            report.plan = compute_plan(conn, run_id, source=options.source, complete=feed.complete,
                                       uai=options.uai, disabled_ops=options.disabled_ops)
            population = populations(conn)
        journal.update(run_id, records_read=report.staged.records_read, complete=feed.complete)

        refusal = _volume_refusal(report.staged, feed, last_count, settings, options)
        if refusal:
            return _stop(journal, report, "refused", refusal, engine)
        if not options.force:
            report.trips = check_thresholds(report.plan, population, settings.sync.thresholds)
        if options.dry_run:
            return _stop(journal, report, "dry-run", "dry run: nothing applied", engine)
        if report.trips:
            uais = ", ".join(sorted({t.uai for t in report.trips}))
            return _stop(journal, report, "held", f"held before applying: over the safety limits in {uais}; "
                         "rerun with --force to apply", engine)

        journal.update(run_id, status="applying")
        with engine.begin() as conn:
            apply_plan(conn, run_id, source=options.source, now=now(), grace_days=settings.sync.grace_days,
                       targets=plugins.targets)
            for row in missing_parents(conn, run_id):
                journal.event(run_id, "warning", row.source_ref,
                              f"guardian {row.parent_key} is not known; the link is left out", key=row.person_key)
            _save_source_state(conn, options.source, feed, report.staged)
            clear_stage(conn, [run_id])
            report.status, report.seconds = "applied", time.perf_counter() - started
            journal.finish(run_id, "applied", counts=_counts(report), conn=conn)
        return report
    except HubError as exc:
        report.status, report.message = "failed", str(exc)
        journal.finish(run_id, "failed", counts=_counts(report), message=str(exc))
        with engine.begin() as conn:
            clear_stage(conn, [run_id])
        if isinstance(exc, SourceError):
            raise SourceError(f"{exc}; nothing was applied") from exc
        raise


def _volume_refusal(staged: StageResult, feed: Feed, last_count: int | None, settings: HubSettings,
                    options: SyncOptions) -> str:
    """A full read that is empty, or much smaller than the last one, is a broken source until shown otherwise."""
    if not feed.complete or options.uai:
        return ""
    if staged.persons == 0 and staged.establishments == 0:
        return f"source {options.source} yielded no records; nothing was applied"
    minimum = settings.sync.thresholds.min_records_ratio * (last_count or 0)
    if staged.persons < minimum and not options.force:
        return (f"source {options.source} yielded {staged.persons} people, fewer than "
                f"{settings.sync.thresholds.min_records_ratio:.0%} of the {last_count} of its last full read; "
                "nothing was applied (rerun with --force if this is real)")
    return ""


def _stop(journal: Journal, report: SyncReport, status: str, message: str, engine: Engine) -> SyncReport:
    """End a run that applies nothing; its plan stays inspectable until the source's next run."""
    report.status, report.message = status, message
    journal.finish(report.run_id, status, counts=_counts(report), message=message)
    with engine.begin() as conn:
        clear_stage(conn, [report.run_id], keep_plan=True)
    return report


def _counts(report: SyncReport) -> dict:
    counts = {"read": report.staged.records_read, "rejected": report.staged.rejected,
              "staged_persons": report.staged.persons, "staged_establishments": report.staged.establishments}
    if report.plan:
        counts.update(report.plan.counts)
        counts.update({f"skipped.{op}": n for op, n in report.plan.skipped.items()})
    if report.trips:
        counts["trips"] = [str(t) for t in report.trips]
    return counts


def _clear_previous_runs(engine: Engine, source: str) -> None:
    finished = select(run.c.id).where(run.c.action == "sync", run.c.source == source, run.c.status != "running")
    with engine.begin() as conn:
        clear_stage(conn, finished)


def _source_state(engine: Engine, source: str) -> tuple[str | None, int | None]:
    with engine.connect() as conn:
        row = conn.execute(select(source_state).where(source_state.c.source == source)).first()
    return (row.cursor, row.last_complete_count) if row else (None, None)


def _save_source_state(conn, source: str, feed: Feed, staged: StageResult) -> None:
    values = {"cursor": feed.cursor, "updated_at": now()}
    if feed.complete:
        values["last_complete_count"] = staged.persons
    if conn.execute(update(source_state).where(source_state.c.source == source).values(**values)).rowcount == 0:
        conn.execute(insert(source_state).values(source=source, **values))

