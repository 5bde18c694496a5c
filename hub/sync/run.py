"""One sync run, start to end: lock, read, stage, resolve, plan, check, apply, journal.

A run reads one source (`hub sync aaf`) or several (`hub sync --all`); with
several, identity resolution decides whose record wins (`hub.sync.resolve`).

Transactions: staging and planning commit together (so a dry run or a held run
can be inspected); applying, the outbox rows, the source cursors and the run's
final status commit together, so a process killed at any point leaves the store
either before or after the run, never between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.clock import now
from hub.errors import HubError, SourceError, database_cause
from hub.hookspecs import Feed
from hub.settings import HubSettings
from hub.store import CheckpointBehind, locks
from hub.store.tables import establishment, run, source_state, stage_establishment
from hub.sync.apply import apply_plan, forget_left_out_links, missing_parents
from hub.sync.continuity import (
    YearRead,
    load_networks,
    local_today,
    rolled_over,
    school_years,
    stage_network_groups,
    too_early,
)
from hub.sync.journal import Journal, Progress
from hub.sync.plan import Plan, Trip, check_thresholds, compute_plan, emptied_establishments, populations
from hub.sync.resolve import Ownership, resolve
from hub.sync.stage import Stager, StageResult, clear_stage, truncate_stage


@dataclass
class SyncOptions:
    sources: tuple[str, ...]  # in precedence order: on a tie, the first source's record wins
    dry_run: bool = False
    force: bool = False
    uai: str | None = None
    disabled_ops: tuple[str, ...] = ()  # any of create, update, delete
    full: bool = False  # ignore the sources' cursors and read everything
    trigger: str = "cli"
    on_progress: Callable[[int], None] | None = None

    @property
    def label(self) -> str:
        return ",".join(self.sources)

    def recorded(self) -> dict:
        """What the journal keeps of these options: approving a held run replays them (`hub approve`)."""
        return {"sources": list(self.sources), "uai": self.uai, "disabled_ops": list(self.disabled_ops),
                "full": self.full}


@dataclass
class SyncReport:
    run_id: int
    status: str  # applied | dry-run | held | refused | failed
    plan: Plan | None = None
    staged: dict[str, StageResult] = field(default_factory=dict)  # per source
    feeds: dict[str, Feed] = field(default_factory=dict)
    trips: list[Trip] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    missing_guardians: int = 0
    would_stop: bool = False  # a dry run whose real run would be held or refused
    emptied: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # source -> (UAI, pupils it had)
    early: list[YearRead] = field(default_factory=list)  # establishments brought a school year not started yet

    @property
    def total(self) -> StageResult:
        total = StageResult()
        for result in self.staged.values():
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(result, name))
        return total


def sync(engine: Engine, settings: HubSettings, plugins, options: SyncOptions, *,
         locks_held: bool = False) -> SyncReport:
    """Run the sources through the pipeline. Raises LockedError if one of them is already syncing.

    ``locks_held``: the caller holds the sources' locks already (`hold_sources`), e.g. to
    rewrite their files first.
    """
    if locks_held:
        return _sync_locked(engine, settings, plugins, options)
    with hold_sources(engine, settings, options.sources):
        return _sync_locked(engine, settings, plugins, options)


@contextmanager
def hold_sources(engine: Engine, settings: HubSettings, sources) -> Iterator[None]:
    """The sync locks of these sources, in a fixed order (two runs never wait on each other crosswise)."""
    with ExitStack() as held:
        for source in sorted(sources):
            held.enter_context(locks.hold(engine, f"sync:{source}", settings.lock_ttl_seconds))
        yield


def _sync_locked(engine: Engine, settings: HubSettings, plugins, options: SyncOptions) -> SyncReport:
    started = time.perf_counter()
    journal = Journal(engine)
    journal.mark_interrupted("sync", options.label)
    _clear_previous_runs(engine)
    run_id = journal.start("sync", source=options.label, trigger=options.trigger, dry_run=options.dry_run,
                           forced=options.force, options=options.recorded())
    report = SyncReport(run_id, "running")
    progress = Progress(journal, run_id, on_records=options.on_progress)
    checkpoint = CheckpointBehind(engine)
    try:
        states = {source: _source_state(engine, source) for source in options.sources}
        with checkpoint.begin() as conn:  # staging's pages reach the database file while the run goes on
            stager = Stager(conn, run_id, journal, batch_size=settings.sync.batch_size, uai=options.uai,
                            on_progress=progress.records,
                            networks=load_networks(conn, settings.continuity.networks))
            for source in options.sources:
                since = None if options.full else states[source][0]
                progress.phase(f"reading {source}")
                report.feeds[source] = feed = plugins.call(source, "hub_read_directory", since=since,
                                                           uai=options.uai)
                stager.stage(source, feed)
            if options.uai:
                _require_establishment(conn, run_id, options.uai)
            progress.phase("planning")
            resolve(stager, ownership(settings, plugins, options.sources))
            stage_network_groups(conn, run_id, stager.networks)
            report.staged = stager.results
            complete = [s for s, feed in report.feeds.items() if feed.complete]
            years = school_years(conn, run_id, complete)
            report.early = too_early(years, local_today(settings), settings.continuity.rollover)
            scopes = plugins.scopes()
            report.plan = compute_plan(conn, run_id, complete_sources=complete, uai=options.uai,
                                       disabled_ops=options.disabled_ops,
                                       entities=frozenset().union(*(s.entities for s in scopes.values())),
                                       rolled_over=rolled_over(years), staged_people=report.total.persons)
            population = populations(conn, report.plan, settings.sync.thresholds.floor)
            report.emptied = emptied_establishments(conn, run_id, complete)
        journal.update(run_id, records_read=report.total.records_read, complete=bool(complete))

        refusal = _volume_refusal(report, states, settings, options)
        _journal_continuity(journal, report, settings)
        if not options.force:
            report.trips = check_thresholds(report.plan, population, settings.sync.thresholds)
        else:
            report.early = []
        held = f"held before applying: {held_scopes(report.trips, run_id)}; rerun with --force to apply"
        if report.early:
            held = f"held before applying: {early_year(report.early, settings)}"
        stops = bool(report.trips or report.early)
        if options.dry_run:
            report.would_stop = bool(refusal or stops)
            verdict = (f"the real run would be refused: {refusal}" if refusal else
                       f"the real run would be {held}" if stops else "the real run would apply it")
            return _stop(journal, report, "dry-run", f"dry run, nothing applied; {verdict}", engine)
        if refusal:
            return _stop(journal, report, "refused", refusal, engine)
        if stops:
            return _stop(journal, report, "held", held, engine)

        journal.update(run_id, status="applying", phase="applying")
        with engine.begin() as conn:
            creates = report.plan.count("person", "create")
            if apply_plan(conn, run_id, now=now(), grace_days=settings.sync.grace_days, scopes=scopes,
                          changes=sum(report.plan.counts.values()), creates=creates, years=years):
                journal.event(run_id, "info", "store", f"first load of {creates:,} people: their indexes and "
                              "foreign keys were built once, after their rows")
            missing, listed = missing_parents(conn, run_id)
            for row in listed:
                journal.event(run_id, "warning", row.source_ref,
                              f"guardian {row.parent_key} is not known; the link is left out", key=row.person_key)
            if missing:
                forget_left_out_links(conn, run_id)
                shown = f" (the first {len(listed)} are listed)" if missing > len(listed) else ""
                journal.event(run_id, "warning", "guardians",
                              f"{missing} guardian link(s) name a parent who is not known and were left out{shown}")
                report.missing_guardians = missing
            for source, feed in report.feeds.items():
                _save_source_state(conn, source, feed, report.staged[source])
            clear_stage(conn, [run_id])
            report.status, report.seconds = "applied", time.perf_counter() - started
            journal.finish(run_id, "applied", counts=_counts(report), conn=conn)
            checkpoint.join()  # before this commit, which checkpoints what the run applied
        return report
    except SQLAlchemyError as exc:  # the database refused something: the run failed, and says why
        cause = database_cause(exc)
        report.status, report.message = "failed", cause
        journal.finish(run_id, "failed", counts=_counts(report), message=cause)
        raise HubError(f"{cause}; nothing was applied (run {run_id})") from exc
    except HubError as exc:
        report.status, report.message = "failed", str(exc)
        journal.finish(run_id, "failed", counts=_counts(report), message=str(exc))
        with engine.begin() as conn:
            clear_stage(conn, [run_id])
        if isinstance(exc, SourceError):
            raise SourceError(f"{exc}; nothing was applied") from exc
        raise
    finally:
        checkpoint.join()


def _require_establishment(conn: Connection, run_id: int, uai: str) -> None:
    """--uai names an establishment the store or this run's feeds know, or the run has nothing to do."""
    known = conn.execute(select(establishment.c.uai).where(establishment.c.uai == uai)).first() or \
        conn.execute(select(stage_establishment.c.uai).where(stage_establishment.c.run_id == run_id,
                                                             stage_establishment.c.uai == uai)).first()
    if not known:
        raise HubError(f"--uai {uai}: no such establishment, neither stored nor in the feed")


def ownership(settings: HubSettings, plugins, sources: tuple[str, ...]) -> Ownership:
    """Who speaks for which establishment: sync.owners by kind, then sync.precedence (default: enabled order)."""
    precedence = list(settings.sync.precedence or settings.plugins.enabled)
    for source in sources:
        if source not in precedence:
            precedence.append(source)
    known = set(plugins.sources)
    for kind, owner in settings.sync.owners.items():
        if owner not in known:
            raise HubError(f"setting sync.owners.{kind}: {owner} is not an enabled source ({', '.join(known)})")
    return Ownership(precedence, dict(settings.sync.owners))


def held_scopes(trips: list[Trip], run_id: int, shown: int = 5) -> str:
    """"over the safety limits in 3 establishments (A, B, C)", the first few named, the journal has the rest."""
    places = list(dict.fromkeys(t.uai for t in trips if t.uai != "*"))
    kinds = list(dict.fromkeys(t.kind for t in trips if t.uai == "*"))
    parts = []
    if places:
        more = f"… (all in `hub journal show {run_id}`)" if len(places) > shown else ""
        parts.append(f"{len(places)} establishment(s) ({', '.join(places[:shown])}{more})")
    if kinds:
        parts.append("the whole directory for " + ", ".join(kinds))
    return "over the safety limits in " + " and ".join(parts)


def _volume_refusal(report: SyncReport, states: dict, settings: HubSettings, options: SyncOptions) -> str:
    """A full read that is empty, or much smaller than the last one, is a broken source until shown otherwise."""
    if options.uai:
        return ""
    ratio = settings.sync.thresholds.min_records_ratio
    for source, feed in report.feeds.items():
        staged, last_count = report.staged[source], states[source][1]
        if not feed.complete:
            continue
        if staged.persons + staged.superseded == 0 and staged.establishments == 0:
            return f"source {source} yielded no records; nothing was applied"
        if staged.persons + staged.superseded < ratio * (last_count or 0) and not options.force:
            return (f"source {source} yielded {staged.persons + staged.superseded} people, fewer than {ratio:.0%} "
                    f"of the {last_count} of its last full read; nothing was applied (rerun with --force if this "
                    "is real)")
        if (emptied := report.emptied.get(source)) and not options.force:
            named = ", ".join(f"{uai} (had {n})" for uai, n in emptied[:5])
            more = f" and {len(emptied) - 5} more" if len(emptied) > 5 else ""
            return (f"source {source} yielded no pupil for {len(emptied)} establishment(s) where its last read had "
                    f"some: {named}{more}; an empty export is a broken one until shown otherwise: nothing was "
                    "applied (rerun with --force if they really have no pupil left)")
    return ""


def early_year(early: list[YearRead], settings: HubSettings, shown: int = 5) -> str:
    """"school year 2027-2028 starts on 2027-08-25 …": why a run bringing a future year is held."""
    from hub.continuity import year_starts

    year = max(y.read for y in early)
    named = ", ".join(y.uai for y in early[:shown]) + ("…" if len(early) > shown else "")
    return (f"the feed brings school year {year}-{year + 1} to {len(early)} establishment(s) ({named}), which "
            f"starts on {year_starts(year, settings.continuity.rollover)} (continuity.rollover); rerun with --force "
            "to roll over now")


def _journal_continuity(journal: Journal, report: SyncReport, settings: HubSettings) -> None:
    plan = report.plan
    if plan.parents_kept:
        journal.event(report.run_id, "info", "continuity", f"{plan.parents_kept} parent(s) the feed left out are "
                      "kept: a child of theirs is still schooled")
    if plan.rolled_over:
        archived = plan.count("group", "archive")
        journal.event(report.run_id, "info", "continuity", f"{len(plan.rolled_over)} establishment(s) roll over to "
                      f"a new school year; {archived} class(es) nobody names any more are archived")


def _stop(journal: Journal, report: SyncReport, status: str, message: str, engine: Engine) -> SyncReport:
    """End a run that applies nothing; its plan stays inspectable until the source's next run."""
    report.status, report.message = status, message
    journal.finish(report.run_id, status, counts=_counts(report), message=message)
    with engine.begin() as conn:
        clear_stage(conn, [report.run_id], keep_plan=True)
    return report


def _counts(report: SyncReport) -> dict:
    total = report.total
    counts = {"read": total.records_read, "rejected": total.rejected, "staged_persons": total.persons,
              "staged_establishments": total.establishments}
    counts["sources"] = {source: vars(result) for source, result in report.staged.items()}
    if report.plan:
        counts.update(report.plan.counts)
        counts.update({f"skipped.{op}": n for op, n in report.plan.skipped.items()})
        if len(report.staged) > 1:
            counts["plan_by_source"] = report.plan.by_source
    if report.trips:
        counts["trips"] = [str(t) for t in report.trips]
    if report.missing_guardians:
        counts["missing_guardians"] = report.missing_guardians
    return counts


def _clear_previous_runs(engine: Engine) -> None:
    finished = select(run.c.id).where(run.c.action == "sync", run.c.status.not_in(("running", "applying")))
    with engine.begin() as conn:
        if not truncate_stage(conn):
            clear_stage(conn, finished)


def _source_state(engine: Engine, source: str) -> tuple[str | None, int | None]:
    with engine.connect() as conn:
        row = conn.execute(select(source_state).where(source_state.c.source == source)).first()
    return (row.cursor, row.last_complete_count) if row else (None, None)


def _save_source_state(conn: Connection, source: str, feed: Feed, staged: StageResult) -> None:
    values = {"cursor": feed.cursor, "updated_at": now()}
    if feed.complete:
        values["last_complete_count"] = staged.persons + staged.superseded
    if conn.execute(update(source_state).where(source_state.c.source == source).values(**values)).rowcount == 0:
        conn.execute(insert(source_state).values(source=source, **values))
