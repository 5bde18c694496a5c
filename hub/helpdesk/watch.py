"""The hub's own incidents as tickets: targets with dead letters, sync runs held by the safety checks.

One cause, one ticket: ``deadletters:<target>`` while the target has dead letters, ``held:<sources>``
while the latest real sync of those sources is held or refused. A cause that comes back with
something new (more dead letters, another held run) gets a followup on its open ticket; a cause
that is gone (the dead letters were retried and delivered, a later run applied) gets a closing
comment and its ticket is marked resolved. The scan only reads the outbox and the journal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from hub.clock import now
from hub.errors import HubError
from hub.helpdesk.desk import Helpdesk, RoutingError, SendReport
from hub.store import locks
from hub.store.tables import outbox, run, ticket
from hub.sync.journal import Journal

WATCHED = ("deadletters:", "held:")
REAL_ENDS = ("applied", "held", "refused")


@dataclass(frozen=True)
class Observation:
    cause: str
    title: str
    content: str
    seen: dict  # what identifies this occurrence: a new value is a recurrence


@dataclass
class WatchReport:
    opened: list[str] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"helpdesk watch: {len(self.opened)} opened, {len(self.followed)} followed up, "
                f"{len(self.resolved)} resolved" + (f", {len(self.problems)} problem(s)" if self.problems else ""))


def dead_letter_causes(conn, threshold: int) -> list[Observation]:
    """A target with ``threshold`` dead letters or more. The ticket says how many and why, not who
    (keys name pupils: `hub deadletters list` shows them to the operator)."""
    o = outbox
    found = []
    rows = conn.execute(select(o.c.target, func.count(), func.max(o.c.id)).where(o.c.status == "dead")
                        .group_by(o.c.target)).all()
    for target, count, last in rows:
        if count < threshold:
            continue
        kinds = conn.execute(select(o.c.entity, o.c.op, func.count()).where(o.c.status == "dead", o.c.target == target)
                             .group_by(o.c.entity, o.c.op).order_by(o.c.entity, o.c.op)).all()
        latest = conn.execute(select(o.c.key, o.c.last_error).where(o.c.id == last)).one()
        content = (f"The hub could not deliver {count} change(s) to {target} after every retry "
                   f"({', '.join(f'{n} {entity} {op}' for entity, op, n in kinds)}).\n"
                   f"Latest error: {scrub(latest.last_error or '', latest.key)[:300]}\n"
                   "List them with `hub deadletters list`; once the cause is fixed, `hub deadletters retry --all`.")
        found.append(Observation(f"deadletters:{target}", f"{target}: {count} change(s) not delivered", content,
                                 {"last_dead": last, "count": count}))
    return found


IDS = re.compile(r"\b(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{8,}\b")


def scrub(error: str, key: str) -> str:
    """A target's error without the record's key nor anything shaped like an id (INE, jointure)."""
    for part in {key, key.partition(":")[2]} - {""}:
        error = error.replace(part, "…")
    return IDS.sub("…", error)


def held_run_causes(conn) -> list[Observation]:
    """Sources whose latest real sync run (not a dry run) was held or refused by the safety checks."""
    latest = (select(run.c.source, func.max(run.c.id).label("id"))
              .where(run.c.action == "sync", run.c.dry_run.is_(False), run.c.status.in_(REAL_ENDS))
              .group_by(run.c.source).subquery())
    rows = conn.execute(select(run.c.id, run.c.source, run.c.status, run.c.message)
                        .join(latest, latest.c.id == run.c.id).where(run.c.status.in_(("held", "refused")))).all()
    return [Observation(f"held:{r.source}", f"sync {r.source} {r.status} by the safety checks (run {r.id})",
                        f"Sync run {r.id} of {r.source} was {r.status}: {r.message or ''}\n"
                        f"Details: `hub journal show {r.id}`; once checked, rerun with --force or fix the source.",
                        {"run": r.id}) for r in rows]


def watch(desk: Helpdesk) -> WatchReport:
    """Open, follow up or resolve the tickets of the hub's own incidents; then send what is pending."""
    report = WatchReport()
    with desk.engine.connect() as conn:
        observed = {o.cause: o for o in dead_letter_causes(conn, desk.settings.dead_letters) + held_run_causes(conn)}
        open_tickets = {row.cause: row for row in conn.execute(
            select(ticket).where(ticket.c.state == "open", ticket.c.cause.is_not(None)))}
    for cause, seen in observed.items():
        existing = open_tickets.get(cause)
        if existing is None:
            try:
                _, reference, route = desk.request(title=seen.title, content=seen.content, domain="hub",
                                                   reporter="hub", reporter_kind="hub", cause=cause, seen=seen.seen)
            except RoutingError as exc:
                report.problems.append(f"{cause}: {exc}")
                continue
            report.opened.append(f"{reference} {cause} → {route.destination} (rule {route.rule!r})")
        elif existing.seen != seen.seen:
            with desk.engine.begin() as conn:
                desk.add_note(conn, existing.id, f"Again: {seen.title}.\n{seen.content}")
                conn.execute(update(ticket).where(ticket.c.id == existing.id).values(
                    seen=seen.seen, occurrences=existing.occurrences + 1, updated_at=now()))
            report.followed.append(f"{existing.reference} {cause}")
    for cause, existing in open_tickets.items():
        if cause in observed or not cause.startswith(WATCHED):
            continue
        with desk.engine.begin() as conn:
            desk.add_note(conn, existing.id, _closing(cause), kind="closing")
            conn.execute(update(ticket).where(ticket.c.id == existing.id).values(
                state="resolved", resolved_at=now(), updated_at=now()))
        report.resolved.append(f"{existing.reference} {cause}")
    return report


def _closing(cause: str) -> str:
    kind, _, what = cause.partition(":")
    if kind == "deadletters":
        return f"Resolved: {what} has no undelivered change left (retried and delivered, or purged)."
    return f"Resolved: the latest sync of {what} was applied."


def watch_and_send(desk: Helpdesk, trigger: str) -> tuple[WatchReport, SendReport, list[str]]:
    """The whole pass, journaled as a run ``helpdesk``: scan the causes (under the ``helpdesk.watch`` lock, so two
    watchers never open a ticket twice), send what is pending, poll the statuses."""
    journal = Journal(desk.engine)
    run_id = journal.start("helpdesk", source="watch", trigger=trigger)
    report, sent = WatchReport(), SendReport()
    try:
        with locks.hold(desk.engine, "helpdesk.watch", desk.lock_ttl_seconds):
            report = watch(desk)
        sent = desk.send()
        problems = report.problems + desk.poll()
    except HubError as exc:
        journal.finish(run_id, "failed", message=str(exc))
        raise
    for label, lines in (("opened", report.opened), ("followed up", report.followed),
                         ("resolved", report.resolved), ("sent", sent.sent), ("kept", sent.kept),
                         ("refused", sent.refused), ("problem", problems)):
        for line in lines:
            journal.event(run_id, "warning" if label in ("kept", "refused", "problem") else "info", label, line)
    counts = {"opened": len(report.opened), "followed": len(report.followed), "resolved": len(report.resolved),
              "sent": len(sent.sent), "kept": len(sent.kept), "refused": len(sent.refused)}
    journal.finish(run_id, "failed" if problems else "applied", counts=counts,
                   message=outcome(report, sent, problems))
    return report, sent, problems


def outcome(report: WatchReport, sent: SendReport, problems: list[str]) -> str:
    return (f"{report.summary()}; sent {len(sent.sent)}, kept {len(sent.kept)} for retry, refused "
            f"{len(sent.refused)}" + (f"; {'; '.join(problems)}" if problems else ""))


def watch_job(hub, job) -> str:
    """Job action ``helpdesk.watch`` (registered by the helpdesk plugins): `watch_and_send`, one line back."""
    return outcome(*watch_and_send(Helpdesk(hub), trigger=f"job:{job.name}"))
