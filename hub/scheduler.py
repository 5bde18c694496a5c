"""``hub scheduler``: run the jobs of ``hub.toml`` on their cron schedules (APScheduler).

Each run takes a database lock named after the job, so two schedulers (on one
machine or two sharing the database) never run the same job at once; a job in
a blackout window is skipped and journaled until an admin lifts the window.
"""

from __future__ import annotations

import fnmatch
import logging
import signal
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine, insert, select

from hub.clock import now
from hub.cron import cron_trigger
from hub.errors import HubError
from hub.settings import BlackoutSettings, HubSettings, JobSettings
from hub.store import locks
from hub.store.tables import blackout_lift
from hub.sync.journal import Journal

log = logging.getLogger("hub.scheduler")


def window_start(blackout: BlackoutSettings, today: date) -> date | None:
    """The first day of the window containing ``today``, or None when today is outside it."""
    start = _month_day(blackout.start)
    end = _month_day(blackout.end)
    for year in (today.year, today.year - 1):
        first = date(year, *start)
        last = date(year + (1 if end < start else 0), *end)
        if first <= today <= last:
            return first
    return None


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


@dataclass
class BlackoutState:
    blackout: BlackoutSettings
    window_start: date | None
    lifted: bool

    @property
    def active(self) -> bool:
        return self.window_start is not None and not self.lifted


def blackout_states(engine: Engine, settings: HubSettings, today: date | None = None) -> list[BlackoutState]:
    today = today or datetime.now(ZoneInfo(settings.timezone)).date()
    with engine.connect() as conn:
        lifted = set(conn.execute(select(blackout_lift.c.name, blackout_lift.c.window_start)).all())
    states = []
    for blackout in settings.blackouts:
        start = window_start(blackout, today)
        states.append(BlackoutState(blackout, start, (blackout.name, start) in lifted))
    return states


def blocking_blackout(engine: Engine, settings: HubSettings, job_name: str) -> BlackoutState | None:
    for state in blackout_states(engine, settings):
        if state.active and any(fnmatch.fnmatch(job_name, pattern) for pattern in state.blackout.jobs):
            return state
    return None


def lift_blackout(engine: Engine, settings: HubSettings, name: str, by: str) -> BlackoutState:
    """Let jobs run again during the current window of blackout ``name``."""
    state = next((s for s in blackout_states(engine, settings) if s.blackout.name == name), None)
    if state is None:
        known = ", ".join(b.name for b in settings.blackouts) or "none"
        raise HubError(f"no blackout named {name}; configured: {known}")
    if state.window_start is None:
        raise HubError(f"blackout {name} is not in its window today; nothing to lift")
    if not state.lifted:
        with engine.begin() as conn:
            conn.execute(insert(blackout_lift).values(name=name, window_start=state.window_start,
                                                      lifted_at=now(), lifted_by=by))
    state.lifted = True
    return state


def find_job(settings: HubSettings, name: str) -> JobSettings:
    for job in settings.jobs:
        if job.name == name:
            return job
    known = ", ".join(j.name for j in settings.jobs) or "none"
    raise HubError(f"no job named {name}; configured: {known}")


def run_job(hub, job: JobSettings, trigger: str) -> str:
    """Run one job now, under its lock and outside blackouts; return a one-line outcome."""
    from hub.sync.deliver import deliver
    from hub.sync.purge import purge
    from hub.sync.run import SyncOptions, sync

    engine, settings = hub.engine, hub.settings
    blackout = blocking_blackout(engine, settings, job.name)
    if blackout:
        journal = Journal(engine)
        run_id = journal.start(job.action, source=job.source, trigger=trigger)
        message = f"skipped: blackout {blackout.blackout.name} since {blackout.window_start}; lift it to run"
        journal.finish(run_id, "skipped", message=message)
        return message
    check_actions(hub)
    with locks.hold(engine, f"job:{job.name}", settings.lock_ttl_seconds):
        if job.action == "sync":
            sources = tuple(hub.plugins.sources) if job.source == "all" else (job.source,)
            options = SyncOptions(sources, force=job.force, full=job.full, trigger=trigger)
            report = sync(engine, settings, hub.plugins, options)
            return f"sync {options.label}: {report.status} {report.message}".strip()
        if job.action == "deliver":
            report = deliver(engine, hub.plugins, settings.delivery, lock_ttl_seconds=settings.lock_ttl_seconds,
                             trigger=trigger)
            return f"deliver: {sum(report.delivered.values())} delivered, {sum(report.dead.values())} dead"
        if job.action == "purge":
            report = purge(engine, settings, hub.plugins.targets, trigger=trigger)
            return f"purge: {report.persons} people, {report.runs} runs, {report.outbox_rows} outbox rows"
        return plugin_actions(hub.plugins)[job.action](hub, job)


BUILT_IN_ACTIONS = ("sync", "deliver", "purge")


def plugin_actions(plugins) -> dict:
    """Job actions the enabled plugins register (``hookspecs.hub_register_jobs``)."""
    actions: dict = {}
    for registered in plugins.register_all("hub_register_jobs"):
        actions.update(registered or {})
    return actions


def check_actions(hub) -> None:
    """Every configured job names an action that exists, or the hub says which ones do."""
    known = (*BUILT_IN_ACTIONS, *plugin_actions(hub.plugins))
    for job in hub.settings.jobs:
        if job.action not in known:
            raise HubError(f"job {job.name}: no action {job.action!r}; actions: {', '.join(known)}")


def next_runs(settings: HubSettings) -> list[tuple[JobSettings, datetime | None]]:
    moment = datetime.now(ZoneInfo(settings.timezone))
    return [(job, cron_trigger(job.cron, settings.timezone).get_next_fire_time(None, moment))
            for job in settings.jobs]


def serve(hub) -> None:
    """Run the configured jobs until SIGTERM or SIGINT."""
    check_actions(hub)
    scheduler = BlockingScheduler(timezone=hub.settings.timezone)
    for job in hub.settings.jobs:
        scheduler.add_job(_scheduled, cron_trigger(job.cron, hub.settings.timezone), args=(hub, job),
                          id=job.name, name=job.name, max_instances=1, coalesce=True, misfire_grace_time=300)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("scheduler started with %d job(s)", len(hub.settings.jobs))
    scheduler.start()


def _scheduled(hub, job: JobSettings) -> None:
    try:
        log.info("job %s: %s", job.name, run_job(hub, job, trigger=f"scheduler:{job.name}"))
    except HubError as exc:
        log.warning("job %s: %s", job.name, exc)
    except Exception:
        log.exception("job %s failed", job.name)
