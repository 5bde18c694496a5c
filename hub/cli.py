"""The ``hub`` command line (a Flask CLI group). Errors print as one line, without a traceback.

Exit codes: 0 done, 1 error, 2 usage, 3 a run was held or refused by a safety check,
4 the job is already running elsewhere.
"""

from __future__ import annotations

import contextlib
import gc
import getpass
import logging
import os
import sys
from pathlib import Path

import click

from hub.app import Hub
from hub.errors import HubError, LockedError, redact
from hub.settings import load_settings
from hub.terminal import console, errors, escape, new_table

EXIT_HELD, EXIT_LOCKED = 3, 4


class HubGroup(click.Group):
    """Every expected failure ends as one line on stderr and exit code 1 (4 when busy); ``--debug`` shows more.

    The enabled plugins' commands (``hookspecs.hub_register_commands``) join the built-in ones.
    """

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or self._plugin_commands(ctx).get(name)

    def _plugin_commands(self, ctx) -> dict:
        """Registered into a group of this invocation only: another invocation may enable other plugins."""
        root = ctx.find_root()
        if "plugin_commands" not in root.meta:
            group = click.Group()
            with contextlib.suppress(HubError):  # a broken setting is reported by the command that needs the hub
                found = Hub(load_settings())
                found.plugins.register_all("hub_register_commands", cli=group)
                if found.settings.config_file is not None:  # what hub() would read: not read twice
                    root.meta["hub"] = found
            root.meta["plugin_commands"] = group.commands
        return root.meta["plugin_commands"]

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LockedError as exc:
            _fail(ctx, exc, f"[yellow]busy:[/] {escape(redact(str(exc)))}", EXIT_LOCKED)
        except HubError as exc:
            _fail(ctx, exc, f"[red]error:[/] {escape(redact(str(exc)))}")
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            _fail(ctx, exc, f"[red]error:[/] cannot use{where}: {escape(exc.strerror or str(exc))}")
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            _fail(ctx, exc, f"[red]error:[/] database: {escape(redact(cause))}")


def _is_database_error(exc: Exception) -> bool:
    """An SQLAlchemy or Alembic error, checked without importing them: a command that never touched the
    database cannot raise one, and not importing them keeps ``hub --help`` fast."""
    sqlalchemy_exc, alembic_exc = sys.modules.get("sqlalchemy.exc"), sys.modules.get("alembic.util.exc")
    return bool((sqlalchemy_exc and isinstance(exc, sqlalchemy_exc.SQLAlchemyError))
                or (alembic_exc and isinstance(exc, alembic_exc.CommandError)))


def _fail(ctx, exc: Exception, message: str, code: int = 1) -> None:
    if ctx.obj and ctx.obj.get("debug"):
        raise exc
    errors.print(message, soft_wrap=True, highlight=False)
    ctx.exit(code)


def _set_config(ctx, param, value):
    if value:
        os.environ["HUB_CONFIG"] = str(value)
    return value


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), expose_value=False, is_eager=True, callback=_set_config,
              help="settings file (default config/hub.toml, or HUB_CONFIG)")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
              help="what reaches stderr (default warning; info with HUB_TRACE_PLUGINS=1)")
@click.option("--debug", is_flag=True, help="show the traceback of an error")
@click.pass_context
def cli(ctx, log_level, debug):
    """ENT Hub: directories in, ENT/GAR/helpdesk out, one login for everyone."""
    ctx.ensure_object(dict)["debug"] = debug
    level = log_level or ("info" if os.environ.get("HUB_TRACE_PLUGINS") else "warning")
    logging.basicConfig(stream=sys.stderr, level=level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def hub() -> Hub:
    """The hub of this command: settings read and plugins loaded once, on first use."""
    root = click.get_current_context().find_root()
    if "hub" not in root.meta:
        root.meta["hub"] = Hub(load_settings(require_file=True))
        _ = root.meta["hub"].plugins  # fail at start on an unknown plugin or an invalid plugin section
    return root.meta["hub"]


def ready_hub() -> Hub:
    """The hub, once its database schema is current."""
    from hub.store import require_current_schema

    require_current_schema(hub().engine)
    return hub()


# --- database -------------------------------------------------------------------------


@cli.group()
def db():
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Create or migrate the schema."""
    from hub.store import current_revision, upgrade

    engine = hub().engine
    upgrade(engine, revision)
    console.print(f"database {engine.url.render_as_string(hide_password=True)} at revision "
                  f"{current_revision(engine)}")


# --- plugins ----------------------------------------------------------------------------


@cli.command("plugins")
def plugins_command():
    """List available plugins, which are enabled, and their hooks."""
    h = hub()
    table = new_table("plugin", "enabled", "version", "hooks", "module")
    for info in h.plugins.describe(h.settings.plugins.enabled):
        table.add_row(info.name, "yes" if info.enabled else "no", info.version, ", ".join(info.hooks), info.module)
    console.print(table)


# --- sync -------------------------------------------------------------------------------


@cli.command("sync")
@click.argument("sources", nargs=-1)
@click.option("--all", "all_sources", is_flag=True, help="every enabled source, in one run")
@click.option("--dry-run", is_flag=True, help="print the plan, change nothing")
@click.option("--force", is_flag=True, help="apply even over the safety limits")
@click.option("--uai", help="only this establishment")
@click.option("--full", is_flag=True, help="ignore the sources' cursors and read everything")
@click.option("--no-create", is_flag=True, help="do not create anyone")
@click.option("--no-update", is_flag=True, help="do not update, move or restore anyone")
@click.option("--no-delete", is_flag=True, help="do not delete anyone")
def sync_command(sources, all_sources, dry_run, force, uai, full, no_create, no_update, no_delete):
    """Read SOURCES (or --all), plan the changes, check them, apply them."""
    from hub.model import validate_uai
    from hub.sync.run import SyncOptions, sync

    h = ready_hub()
    if all_sources:
        sources = tuple(h.plugins.sources)
    if not sources:
        raise click.UsageError("name a source (enabled: " + ", ".join(h.plugins.sources) + ") or use --all")
    if unknown := [name for name in sources if name not in h.plugins.sources]:
        raise HubError(f"no enabled source named {', '.join(unknown)}; enabled sources: "
                       f"{', '.join(h.plugins.sources) or 'none (see plugins.enabled)'}")
    disabled = tuple(op for op, off in (("create", no_create), ("update", no_update), ("delete", no_delete)) if off)
    with _progress(f"reading {', '.join(sources)}") as on_progress:
        options = SyncOptions(tuple(sources), dry_run=dry_run, force=force, full=full, disabled_ops=disabled,
                              uai=uai and validate_uai(uai, record="--uai"), on_progress=on_progress)
        report = sync(h.engine, h.settings, h.plugins, options)
    _print_sync_report(h, report)
    if report.status in ("held", "refused") or report.would_stop:
        raise SystemExit(EXIT_HELD)


class _progress:
    """A rich progress line counting records as they are staged, on a terminal (elsewhere, e.g. under cron,
    nobody watches it: neither rich's display nor its refresh thread)."""

    def __init__(self, label: str):
        self.bar = None
        if not errors.rich.is_terminal:
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                            TextColumn("{task.completed:,} records"), TimeElapsedColumn(), console=errors.rich,
                            transient=True)
        self.task = self.bar.add_task(label, total=None)

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.start()
        return lambda n: self.bar.update(self.task, completed=n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _print_sync_report(h: Hub, report) -> None:
    from hub.sync.plan import PERSON_OPS, plan_rows

    title = f"run {report.run_id}: {report.status} — " + "; ".join(
        feed.description or name for name, feed in report.feeds.items())
    table = new_table(title=title)
    table.add_column("what")
    for op in PERSON_OPS:
        table.add_column(op, justify="right")
    plan = report.plan
    if plan:
        table.add_row("people", *(f"{plan.count('person', op):,}" for op in PERSON_OPS))
        table.add_row("establishments", f"{plan.count('establishment', 'create'):,}",
                      f"{plan.count('establishment', 'update'):,}", "", "", "")
        if plan.count("nomenclature", "create") or plan.count("nomenclature", "update"):
            table.add_row("subjects and MEFs", f"{plan.count('nomenclature', 'create'):,}",
                          f"{plan.count('nomenclature', 'update'):,}", "", "", "")
        if len(report.staged) > 1:
            for source, counts in sorted(plan.by_source.items()):
                table.add_row(f"people from {source}", *(f"{counts.get(f'person.{op}', 0):,}" for op in PERSON_OPS))
    console.print(table)
    for source, staged in report.staged.items():
        superseded = f", {staged.superseded:,} superseded by another source" if staged.superseded else ""
        notices = f", {staged.notices:,} kept with a warning" if staged.notices else ""
        console.print(f"{source}: read {staged.records_read:,} records: {staged.persons:,} people, "
                      f"{staged.establishments:,} establishments, {staged.rejected:,} rejected{notices}{superseded}")
        for note in report.feeds[source].notes:
            console.print(f"  {escape(note)}", highlight=False, soft_wrap=True)
    if report.seconds:
        console.print(f"done in {report.seconds:.1f} s")
    if plan and plan.skipped:
        console.print("left out by switches: " + ", ".join(f"{op} {n:,}" for op, n in plan.skipped.items()))
    if report.trips:
        trips = new_table("establishment", "people", "measure", "count", "of", "ratio", "limit",
                          title="over the safety limits")
        for t in report.trips[:20]:
            trips.add_row("(all)" if t.uai == "*" else t.uai, t.kind, t.measure, str(t.count), str(t.population),
                          f"{t.ratio:.0%}", f"{t.limit:.0%}")
        console.print(trips)
        if len(report.trips) > 20:
            console.print(f"… {len(report.trips) - 20} more in `hub journal show {report.run_id}`")
    from hub.sync.journal import Journal

    events = Journal(h.engine).events(report.run_id)
    for event in events[:20]:
        console.print(f"[red]{event.level}[/] {escape(event.record)}: {escape(event.reason)}", highlight=False,
                      soft_wrap=True)
    if len(events) > 20:
        console.print(f"… {len(events) - 20} more in `hub journal show {report.run_id}`")
    if report.status == "dry-run" and plan and not plan.empty:
        with h.engine.connect() as conn:
            rows = plan_rows(conn, report.run_id)
        sample = new_table("entity", "op", "key", "from", "to", title="planned changes (first 50)")
        for r in rows:
            sample.add_row(r.entity, r.op, r.key, r.old_uai or "", r.uai or "")
        console.print(sample)
    if report.message:
        style = "green" if report.status in ("applied", "dry-run") else "yellow"
        console.print(f"[{style}]{escape(report.message)}[/]", soft_wrap=True)


# --- delivery ---------------------------------------------------------------------------


@cli.command("deliver")
@click.option("--target", "targets", multiple=True, help="only this target (repeatable)")
@click.option("--limit", type=int, help="try at most this many changes")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="worker processes on this machine (PostgreSQL; SQLite keeps one)")
def deliver_command(targets, limit, workers):
    """Send pending outbox changes to the targets.

    On PostgreSQL, workers started here and `hub deliver` runs on other machines share the outbox.
    """
    from hub.sync.deliver import deliver, deliver_in_workers

    h = ready_hub()
    if not h.plugins.targets:
        console.print("no target is enabled (no plugin in plugins.enabled delivers changes): nothing to send")
        return
    if workers > 1:
        report = deliver_in_workers(h, workers, targets=list(targets) or None, limit=limit)
    else:
        report = deliver(h.engine, h.plugins, h.settings.delivery, lock_ttl_seconds=h.settings.lock_ttl_seconds,
                         targets=list(targets) or None, limit=limit)
    for holder in dict.fromkeys(report.taken_over):
        console.print(f"[yellow]worker {escape(holder)} had died holding changes: they were delivered now[/]")
    table = new_table("target", "delivered", "to retry", "dead")
    for target in sorted(set(report.delivered) | set(report.failed) | set(report.dead)):
        table.add_row(target, str(report.delivered.get(target, 0)), str(report.failed.get(target, 0)),
                      str(report.dead.get(target, 0)))
    console.print(table)


@cli.group("deadletters")
def deadletters():
    """Changes a target refused too many times."""


@deadletters.command("list")
def deadletters_list():
    from hub.sync.deliver import dead_letters

    h = ready_hub()
    if not h.plugins.targets:
        console.print("no target is enabled (no plugin in plugins.enabled delivers changes)")
    table = new_table("id", "target", "op", "entity", "key", "attempts", "last error")
    for row in dead_letters(h.engine):
        table.add_row(str(row.id), row.target, row.op, row.entity, row.key, str(row.attempts),
                      (row.last_error or "")[:120])
    console.print(table)


@deadletters.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="retry every dead letter")
def deadletters_retry(ids, all_):
    """Queue dead letters IDS (or --all) for delivery again."""
    from hub.sync.deliver import retry_dead

    if not ids and not all_:
        raise click.UsageError("give dead letter ids or --all")
    count = retry_dead(ready_hub().engine, None if all_ else list(ids))
    console.print(f"{count} change(s) queued again; run `hub deliver`")


# --- purge, journal ---------------------------------------------------------------------


@cli.command("purge")
@click.option("--dry-run", is_flag=True, help="say what would be erased, erase nothing")
def purge_command(dry_run):
    """Erase people past their grace period, and journal and outbox rows past retention."""
    from hub.sync.purge import purge

    h = ready_hub()
    report = purge(h.engine, h.settings, h.plugins.targets, dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    console.print(f"{verb} {report.persons} people, {report.runs} journal runs, {report.outbox_rows} outbox rows, "
                  f"{report.refresh_tokens} SSO refresh tokens")


@cli.group("journal", invoke_without_command=True)
@click.option("--limit", default=20, show_default=True)
@click.pass_context
def journal(ctx, limit):
    """Recent runs (sync, deliver, purge) with their outcome."""
    if ctx.invoked_subcommand:
        return
    from sqlalchemy import select

    from hub.store.tables import run

    with ready_hub().engine.connect() as conn:
        rows = conn.execute(select(run).order_by(run.c.id.desc()).limit(limit)).all()
    table = new_table("run", "action", "source", "trigger", "status", "started", "read", "message")
    for r in rows:
        table.add_row(str(r.id), r.action, r.source or "", r.trigger, r.status, f"{r.started_at:%Y-%m-%d %H:%M}",
                      str(r.records_read), (r.message or "")[:80])
    console.print(table)


@journal.command("show")
@click.argument("run_id", type=int)
@click.option("--all", "all_", is_flag=True, help="every event, not the first few of each kind")
def journal_show(run_id, all_):
    """One run: its counts as a table, its events grouped by reason (the first few of each)."""
    from hub.sync.journal import Journal, event_groups, flat_counts

    h = ready_hub()
    journal = Journal(h.engine)
    row = journal.run(run_id)
    if row is None:
        raise HubError(f"no run {run_id}")
    console.print(f"run {row.id} {row.action} {row.source or ''} {row.status}: {escape(row.message or '')}",
                  highlight=False, soft_wrap=True)
    counts = new_table("count", "value", title="counts")
    for key, value in flat_counts(row.counts):
        counts.add_row(key, value)
    console.print(counts)
    shown = None if all_ else 3
    for group in event_groups(journal.events(run_id)):
        console.print(f"[bold]{group.level} ×{len(group.events)}[/]: {escape(group.shape)}", highlight=False,
                      soft_wrap=True)
        for event in group.events[:shown]:
            console.print(f"  {escape(event.record)}: {escape(event.reason)}", highlight=False, soft_wrap=True)
        if shown is not None and len(group.events) > shown:
            console.print(f"  … {len(group.events) - shown} more (hub journal show {run_id} --all)")


# --- doctor ---------------------------------------------------------------------------


@cli.group("doctor")
def doctor():
    """Checks on the stored data."""


@doctor.command("duplicates")
def doctor_duplicates():
    """People who may be one person under two keys, and the identity conflicts syncs journaled."""
    from hub.doctor import duplicate_groups, recent_conflicts

    with ready_hub().engine.connect() as conn:
        groups, conflicts = duplicate_groups(conn), recent_conflicts(conn)
    table = new_table("why", "key", "kind", "last name", "first name", "born", "e-mail", "uai", "source",
                      title="possible duplicates (confirm with hub doctor link KEEP OTHER)")
    for group in groups:
        for row in group.people:
            table.add_row(group.reason, row.person_key, row.kind, row.last_name, row.first_name,
                          f"{row.birth_date or ''}", row.email or "", row.uai or "", row.source)
        table.add_section()
    console.print(table)
    for event in conflicts:
        console.print(f"conflict {event.created_at:%Y-%m-%d} {escape(event.record)}: {escape(event.reason)}",
                      highlight=False, soft_wrap=True)
    console.print(f"{len(groups)} group(s) of possible duplicates, {len(conflicts)} recent conflict(s)")


@doctor.command("link")
@click.argument("keep")
@click.argument("other")
@click.option("--reason", default="", help="why they are one person (journaled)")
def doctor_link(keep, other, reason):
    """Confirm that OTHER is the same person as KEEP: OTHER's key becomes KEEP's alias, OTHER is deleted."""
    from hub.doctor import link_people

    h = ready_hub()
    run_id = link_people(h.engine, keep, other, by=getpass.getuser(), reason=reason, targets=h.plugins.targets)
    console.print(f"{other} is now {keep}: later records under {other} update {keep}; journal run {run_id}",
                  highlight=False)


# --- locks --------------------------------------------------------------------------------


@cli.group("locks", invoke_without_command=True)
@click.pass_context
def locks_command(ctx):
    """Locks held by running jobs (sync, deliver, scheduled jobs), with their holders."""
    if ctx.invoked_subcommand:
        return
    from hub.store.locks import held_locks

    table = new_table("lock", "holder", "since (UTC)", "expires (UTC)", "holder alive")
    liveness = {True: "yes", False: "no (dead)", None: "? (other host)"}
    for row, alive in held_locks(ready_hub().engine):
        table.add_row(row.name, row.holder, f"{row.acquired_at:%Y-%m-%d %H:%M:%S}",
                      f"{row.expires_at:%Y-%m-%d %H:%M:%S}", liveness[alive])
    console.print(table if table.rows else "no lock is held")


@locks_command.command("release")
@click.argument("name")
@click.option("--force", is_flag=True, help="release it even though its holder still runs")
def locks_release(name, force):
    """Free lock NAME (journaled); a lock whose holder still runs needs --force."""
    from hub.store.locks import release_journaled

    user = getpass.getuser()
    holder = release_journaled(ready_hub().engine, name, by=user, trigger=f"cli:{user}", force=force)
    console.print(f"released {name} (was held by {holder})", highlight=False)


# --- scheduler --------------------------------------------------------------------------


@cli.command("scheduler")
def scheduler_command():
    """Run the configured jobs on their schedules until stopped (Ctrl-C or SIGTERM)."""
    from hub.scheduler import serve

    h = ready_hub()
    if not h.settings.jobs:
        console.print("no job is configured ([[jobs]] in the settings): nothing to schedule")
        return
    _print_jobs(h)  # what will run, and when
    with contextlib.suppress(KeyboardInterrupt):  # from here on, Ctrl-C is a normal stop
        errors.print("scheduler running; Ctrl-C stops it", highlight=False)
        serve(h)
    errors.print("scheduler stopped", highlight=False)


@cli.group("jobs", invoke_without_command=True)
@click.pass_context
def jobs(ctx):
    """Configured jobs and their next run times."""
    if ctx.invoked_subcommand:
        return
    _print_jobs(ready_hub())


def _print_jobs(h: Hub) -> None:
    from hub.scheduler import blocking_blackout, next_runs

    table = new_table("job", "action", "cron", "next run", "blackout")
    for job, next_time in next_runs(h.settings):
        blackout = blocking_blackout(h.engine, h.settings, job.name)
        table.add_row(job.name, f"{job.action} {job.source or ''}".strip(), job.cron,
                      f"{next_time:%Y-%m-%d %H:%M:%S %Z}" if next_time else "never",
                      blackout.blackout.name if blackout else "")
    console.print(table)


@jobs.command("run")
@click.argument("name")
def jobs_run(name):
    """Run job NAME now, under its lock and its blackouts."""
    from hub.scheduler import find_job, run_job

    h = ready_hub()
    console.print(run_job(h, find_job(h.settings, name), trigger="cli"))


@cli.group("blackouts", invoke_without_command=True)
@click.pass_context
def blackouts(ctx):
    """Windows when matching jobs do not run (e.g. the summer rollover)."""
    if ctx.invoked_subcommand:
        return
    from hub.scheduler import blackout_states

    h = ready_hub()
    table = new_table("blackout", "window", "jobs", "state")
    for s in blackout_states(h.engine, h.settings):
        state = "lifted" if s.lifted else "active" if s.active else "outside its window"
        table.add_row(s.blackout.name, f"{s.blackout.start} → {s.blackout.end}", ", ".join(s.blackout.jobs), state)
    console.print(table)


@blackouts.command("lift")
@click.argument("name")
def blackouts_lift(name):
    """Let jobs run again for the rest of blackout NAME's current window."""
    from hub.scheduler import lift_blackout

    h = ready_hub()
    state = lift_blackout(h.engine, h.settings, name, by=getpass.getuser())
    console.print(f"blackout {name} lifted for the window starting {state.window_start}")


# --- demo -------------------------------------------------------------------------------


@cli.group("demo", invoke_without_command=True)
@click.option("--persons", default=2000, show_default=True, help="size of the synthetic académie")
@click.option("--seed", default=1, show_default=True)
@click.pass_context
def demo(ctx, persons, seed):
    """Generate a synthetic académie, write it for every enabled source, and sync it."""
    if ctx.invoked_subcommand:
        return
    from hub.store import upgrade
    from hub.sync.run import SyncOptions, hold_sources, sync

    h = hub()
    upgrade(h.engine)
    writers = _demo_writers(h)
    with hold_sources(h.engine, h.settings, writers):  # no sync reads the files while they are rewritten
        _write_demo(h, writers, persons, seed, out=None)
        with _progress(f"syncing {', '.join(writers)}") as on_progress:
            report = sync(h.engine, h.settings, h.plugins, SyncOptions(tuple(writers), on_progress=on_progress),
                          locks_held=True)
    _print_sync_report(h, report)
    if report.status in ("held", "refused"):
        raise SystemExit(EXIT_HELD)


@demo.command("generate")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="write here instead of "
              "each source's configured location (one folder per source)")
@click.pass_context
def demo_generate(ctx, out):
    """Only write the synthetic académie's files."""
    from hub.sync.run import hold_sources

    params, h = ctx.parent.params, hub()
    writers = _demo_writers(h)
    if out is not None:
        _write_demo(h, writers, params["persons"], params["seed"], out=out)
        return
    with hold_sources(h.engine, h.settings, writers):
        _write_demo(h, writers, params["persons"], params["seed"], out=out)


def _demo_writers(h: Hub) -> list[str]:
    writers = h.plugins.implementers("hub_write_demo")
    if not writers:
        raise HubError("no enabled source can write the demo académie; enable one, e.g. plugins.enabled = [\"aaf\"]")
    return writers


def _write_demo(h: Hub, writers: list[str], persons: int, seed: int, out: Path | None) -> None:
    from hub.demo import generate_academie

    academie = generate_academie(persons=persons, seed=seed)
    for name in writers:
        files = h.plugins.call(name, "hub_write_demo", academie=academie, directory=out and out / name)
        console.print(f"{name}: wrote {len(files)} file(s) for {persons:,} people "
                      f"under {Path(files[0]).parent if files else out}")


def main() -> None:
    try:
        cli(prog_name="hub")
    finally:
        # Nothing is left to free: the interpreter's last collections would walk every object for nothing
        # (0.3 s after a Delta at a million people, a tenth of it).
        gc.freeze()


def _add_area_commands() -> None:
    from hub import cli_helpdesk, cli_web
    from hub.cli_establishments import establishments

    cli.add_command(establishments)
    cli_helpdesk.register(cli)
    cli_web.register(cli)


_add_area_commands()
