"""What an operator may do from the console, through the same functions the ``hub`` commands call.

Each action journals who did it (and why, where a reason is asked); the console also
writes it to the audit log. Nothing here re-implements the sync, the delivery or the locks.
"""

from __future__ import annotations

from sqlalchemy import func, select

from hub.errors import HubError
from hub.hookspecs import ENTITIES
from hub.store.locks import release_journaled
from hub.store.tables import run
from hub.sync.journal import Journal


def approve_held_run(hub, run_id: int, *, by: str, reason: str, trigger: str | None = None):
    """Apply a held sync run: the run's options replayed with ``force``, as ``hub sync … --force`` would with the
    held run's ``--uai`` and ``--no-*`` switches (recorded by the journal at the run's start).

    Only the latest run of those sources can be approved (a later run replaced its plan).
    The approval and its reason are journaled as a run of their own (action ``approve``)
    before the sync starts, so they are kept even if the sync fails. Returns the SyncReport.
    """
    from hub.sync.run import SyncOptions, sync

    if not reason.strip():
        raise HubError("say why the held run may be applied (the reason is journaled)")
    journal = Journal(hub.engine)
    held = journal.run(run_id)
    if held is None or held.action != "sync" or held.status != "held":
        raise HubError(f"run {run_id} is not a held sync run")
    with hub.engine.connect() as conn:
        latest = conn.execute(select(func.max(run.c.id)).where(run.c.action == "sync",
                                                                run.c.source == held.source)).scalar()
    if latest != run_id:
        raise HubError(f"run {run_id} is no longer the latest run of {held.source} (run {latest} is): review that one")
    if not held.options:
        raise HubError(f"run {run_id} was held before the journal kept a run's options (--uai, --no-*): approving it "
                       f"could apply more than was reviewed; run `{replay_command(held)}` with the same options "
                       "instead")
    options = held.options
    trigger = trigger or f"console:{by}"
    approval = journal.start("approve", source=held.source, trigger=trigger)
    journal.event(approval, "info", f"run {run_id}", f"approved by {by}: {reason.strip()}")
    try:
        report = sync(hub.engine, hub.settings, hub.plugins,
                      SyncOptions(tuple(options["sources"]), force=True, trigger=trigger, uai=options.get("uai"),
                                  disabled_ops=tuple(options.get("disabled_ops") or ()),
                                  full=bool(options.get("full"))))
    except HubError as exc:
        journal.finish(approval, "failed", message=f"the forced run failed: {exc}")
        raise
    reviewed, applied = _plan_counts(held.counts), _plan_counts(report.plan.counts if report.plan else {})
    if reviewed != applied:
        journal.event(approval, "warning", f"run {report.run_id}", "the source changed since the review: the applied "
                      f"plan {applied} differs from the reviewed plan {reviewed}")
    journal.finish(approval, report.status, counts={"approved_run": run_id, "applied_run": report.run_id},
                   message=f"run {run_id} approved by {by}; applied as run {report.run_id}: {report.status}")
    return report


def replay_command(held) -> str:
    """The ``hub sync`` command an approval of ``held`` amounts to, for the operator to read before approving."""
    options = held.options or {"sources": held.source.split(",")}
    words = ["hub sync", *options["sources"]]
    if options.get("uai"):
        words.append(f"--uai {options['uai']}")
    words += [f"--no-{op}" for op in options.get("disabled_ops") or ()]
    if options.get("full"):
        words.append("--full")
    return " ".join([*words, "--force"])


def _plan_counts(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if k.partition(".")[0] in (*ENTITIES, "nomenclature") and v}


def release_lock(hub, name: str, *, by: str, force: bool = False) -> str:
    """Free a lock from the console, journaled like ``hub locks release``."""
    return release_journaled(hub.engine, name, by=by, trigger=f"console:{by}", force=force)
