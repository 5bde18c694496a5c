"""Ticket requests: route an incident, keep the request, send it (and its followups) until the helpdesk takes it.

A request is written to ``ticket``/``ticket_request`` before any call to the helpdesk, so a
helpdesk that is down or slow loses nothing: the request is retried with back-off, forever
(``helpdesk.retry_seconds`` doubling up to ``retry_max_seconds``). A first try that did get
through (a timeout after the helpdesk created the ticket) is not duplicated: the plugin looks
the ticket up by its hub reference before opening one (`hookspecs.hub_open_ticket`).
Sending holds the ``helpdesk`` lock, so two processes never send the same request.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import insert, select, update

from hub.clock import now
from hub.errors import DeliveryError, HubError, SettingsError
from hub.helpdesk.routing import Facts, describe, first_match, normalize_domain
from hub.hookspecs import Destination, Incident
from hub.settings import describe_errors, refuse_secrets_in_file
from hub.store import locks
from hub.store.tables import establishment, helpdesk_zone, ticket, ticket_request

log = logging.getLogger("hub.helpdesk")
LOCK = "helpdesk"


class RoutingError(HubError):
    """No rule takes this incident."""


@dataclass(frozen=True)
class Route:
    rule: str
    destination: str
    facts: Facts
    fields: dict


@dataclass
class SendReport:
    sent: list[str] = field(default_factory=list)  # "HUB-… open → 42"
    kept: list[str] = field(default_factory=list)  # retried later
    refused: list[str] = field(default_factory=list)  # the helpdesk said no: an operator must look


class Helpdesk:
    """The configured destinations (validated by their plugins) and the stored tickets of one hub."""

    def __init__(self, hub):
        self.engine, self.plugins = hub.engine, hub.plugins
        self.settings = hub.settings.helpdesk
        self.lock_ttl_seconds = hub.settings.lock_ttl_seconds
        self.destinations = {name: self._destination(hub.settings, name) for name in self.settings.destinations}

    def _destination(self, settings, name: str) -> Destination:
        config = self.settings.destinations[name]
        helpdesks = self.plugins.implementers("hub_open_ticket")
        if config.plugin not in helpdesks:
            raise SettingsError(f"setting helpdesk.destinations.{name}.plugin: {config.plugin!r} is not an enabled "
                                f"helpdesk plugin (enabled: {', '.join(helpdesks) or 'none'}; see plugins.enabled)")
        model = self.plugins.call(config.plugin, "hub_helpdesk_destination")
        loc = ("helpdesk", "destinations", name)
        refuse_secrets_in_file(model, settings.file_data, loc, settings.config_file)
        try:
            options = model.model_validate(config.model_extra or {})
        except ValidationError as exc:
            raise SettingsError(describe_errors(exc, settings.file_data, settings.config_file, prefix=loc)
                                .replace("<NAME>", name.upper())) from None
        return Destination(name, options)

    # --- routing ---------------------------------------------------------------------------

    def facts(self, domain: str, uai: str | None, reporter_kind: str) -> Facts:
        """What the rules look at for an incident: the establishment's kind and its zones file entry."""
        try:
            domain = normalize_domain(domain)
        except ValueError as exc:
            raise HubError(str(exc)) from None
        if uai is None:
            return Facts(domain, reporter_kind)
        z = helpdesk_zone
        with self.engine.connect() as conn:
            row = conn.execute(select(establishment.c.kind, z.c.za_taken_over, z.c.cite_mixte, z.c.territorial_unit)
                               .outerjoin(z, z.c.uai == establishment.c.uai)
                               .where(establishment.c.uai == uai)).first()
        if row is None:
            raise HubError(f"establishment {uai} is not known to the hub")
        return Facts(domain, reporter_kind, uai, row.kind, row.za_taken_over, row.cite_mixte, row.territorial_unit)

    def route(self, facts: Facts) -> Route:
        rule = first_match(self.settings.rules, facts)
        if rule is None:
            raise RoutingError(f"no helpdesk rule takes {describe(facts)}; add one to [[helpdesk.rules]]"
                               + ("" if facts.uai is None or facts.za_taken_over is not None else
                                  " or import the département's zones file (hub establishments import-zones)"))
        return Route(rule.name, rule.destination, facts, dict(rule.fields))

    # --- requests --------------------------------------------------------------------------

    def request(self, *, title: str, content: str, domain: str, uai: str | None = None, reporter: str,
                reporter_kind: str, requester: str | None = None, urgency: int = 3, cause: str | None = None,
                seen: dict | None = None) -> tuple[int, str, Route]:
        """Route the incident and keep the request to open its ticket; (ticket id, reference, route)."""
        route = self.route(self.facts(domain, uai, reporter_kind))
        if not 1 <= urgency <= 5:
            raise HubError(f"urgency {urgency}: 1 (very low) … 5 (very high)")
        reference = f"HUB-{secrets.token_hex(5).upper()}"
        moment = now()
        with self.engine.begin() as conn:
            ticket_id = conn.execute(insert(ticket).values(
                reference=reference, cause=cause, destination=route.destination, rule=route.rule,
                domain=route.facts.domain, uai=uai, reporter=reporter[:200], requester=requester and requester[:200],
                title=title[:200], urgency=urgency, fields=route.fields, state="open",
                seen=seen or {}, occurrences=1, created_at=moment, updated_at=moment)).inserted_primary_key[0]
            conn.execute(insert(ticket_request).values(ticket_id=ticket_id, kind="open", content=content,
                                                       status="pending", attempts=0, next_attempt_at=moment,
                                                       created_at=moment))
        return ticket_id, reference, route

    def add_note(self, conn, ticket_id: int, content: str, kind: str = "followup") -> None:
        """Keep a followup (or the closing comment) for the ticket; sent after the ticket is opened."""
        moment = now()
        conn.execute(insert(ticket_request).values(ticket_id=ticket_id, kind=kind, content=content,
                                                   status="pending", attempts=0, next_attempt_at=moment,
                                                   created_at=moment))

    def retry_refused(self, reference: str) -> int:
        """Put a ticket's refused requests back in the queue (after its settings were fixed)."""
        with self.engine.begin() as conn:
            ticket_id = conn.execute(select(ticket.c.id).where(ticket.c.reference == reference)).scalar()
            if ticket_id is None:
                raise HubError(f"no ticket {reference}")
            return conn.execute(update(ticket_request).where(
                ticket_request.c.ticket_id == ticket_id, ticket_request.c.status == "refused").values(
                status="pending", next_attempt_at=now(), last_error=None)).rowcount

    # --- sending ---------------------------------------------------------------------------

    def send(self, *, due_only: bool = True, ticket_ids: list[int] | None = None) -> SendReport:
        """Send the pending requests (those due, unless ``due_only`` is False), under the helpdesk lock."""
        report = SendReport()
        with locks.hold(self.engine, LOCK, self.lock_ttl_seconds):
            t, r = ticket, ticket_request
            query = (select(r.c.id, r.c.kind, r.c.content, r.c.attempts, t.c.id.label("ticket_id"), t.c.reference,
                            t.c.destination, t.c.remote_id, t.c.title, t.c.domain, t.c.uai, t.c.reporter, t.c.requester,
                            t.c.urgency, t.c.fields)
                     .join(t, t.c.id == r.c.ticket_id).where(r.c.status == "pending").order_by(r.c.id))
            if due_only:
                query = query.where(r.c.next_attempt_at <= now())
            if ticket_ids is not None:
                query = query.where(t.c.id.in_(ticket_ids))
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            down: set[str] = set()  # a destination that failed once in this pass is not tried again
            opened: dict[int, str] = {}
            for row in rows:
                remote_id = row.remote_id or opened.get(row.ticket_id)
                if row.destination in down or (row.kind != "open" and remote_id is None):
                    continue
                label = f"{row.reference} {row.kind}"
                try:
                    remote_id = self._send_one(row, remote_id)
                except DeliveryError as exc:
                    self._failed(row, str(exc), exc.retryable)
                    (report.kept if exc.retryable else report.refused).append(f"{label}: {exc}")
                    if exc.retryable:
                        down.add(row.destination)
                    continue
                opened[row.ticket_id] = remote_id
                report.sent.append(f"{label} → {row.destination} #{remote_id}")
        return report

    def _send_one(self, row, remote_id: str | None) -> str:
        destination = self.destinations.get(row.destination)
        if destination is None:
            raise DeliveryError(f"destination {row.destination} is no longer configured", retryable=False)
        plugin = self.settings.destinations[row.destination].plugin
        try:
            if row.kind == "open":
                incident = Incident(row.reference, row.title, row.content, row.domain, row.uai, row.reporter,
                                    row.requester, row.urgency, row.fields or {})
                remote_id = str(self.plugins.call(plugin, "hub_open_ticket", destination=destination,
                                                  incident=incident))
            else:
                self.plugins.call(plugin, "hub_add_followup", destination=destination, ticket_id=remote_id,
                                  content=row.content, marker=f"{row.reference}/{row.id}")
        except DeliveryError:
            raise
        except Exception as exc:  # a plugin bug or an unexpected answer: kept and retried, never lost
            log.exception("helpdesk %s: %s failed", row.destination, row.reference)
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        moment = now()
        with self.engine.begin() as conn:
            conn.execute(update(ticket_request).where(ticket_request.c.id == row.id).values(
                status="done", done_at=moment, attempts=row.attempts + 1, last_error=None))
            if row.kind == "open":
                conn.execute(update(ticket).where(ticket.c.id == row.ticket_id).values(
                    remote_id=remote_id, remote_status="new", updated_at=moment))
        return remote_id

    def _failed(self, row, error: str, retryable: bool) -> None:
        attempts = row.attempts + 1
        wait = min(self.settings.retry_seconds * 2 ** (attempts - 1), self.settings.retry_max_seconds)
        with self.engine.begin() as conn:
            conn.execute(update(ticket_request).where(ticket_request.c.id == row.id).values(
                status="pending" if retryable else "refused", attempts=attempts, last_error=error[:2000],
                next_attempt_at=now() + timedelta(seconds=wait)))

    # --- status ------------------------------------------------------------------------------

    def poll(self) -> list[str]:
        """Ask each destination the status of the hub's tickets it holds that are not closed; problems, if any."""
        problems = []
        with self.engine.connect() as conn:
            rows = conn.execute(select(ticket.c.id, ticket.c.destination, ticket.c.remote_id).where(
                ticket.c.remote_id.is_not(None),
                ticket.c.remote_status.is_distinct_from("closed"))).all()
        for name in sorted({row.destination for row in rows}):
            destination = self.destinations.get(name)
            if destination is None:
                continue
            ids = [row.remote_id for row in rows if row.destination == name]
            try:
                statuses = self.plugins.call(self.settings.destinations[name].plugin, "hub_ticket_status",
                                             destination=destination, ticket_ids=ids) or {}
            except DeliveryError as exc:
                problems.append(f"{name}: {exc}")
                continue
            with self.engine.begin() as conn:
                for row in rows:
                    if row.destination == name and row.remote_id in statuses:
                        conn.execute(update(ticket).where(ticket.c.id == row.id).values(
                            remote_status=statuses[row.remote_id]))
        return problems

    def tickets(self, limit: int = 100) -> list:
        """The latest tickets with their pending work (how many requests wait, the last error)."""
        t, r = ticket, ticket_request
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.id.desc()).limit(limit)).all()
            pending = conn.execute(select(r.c.ticket_id, r.c.status, r.c.last_error).where(
                r.c.status.in_(("pending", "refused")), r.c.ticket_id.in_([row.id for row in rows]))).all()
        waiting: dict[int, list] = {}
        for p in pending:
            waiting.setdefault(p.ticket_id, []).append(p)
        return [(row, waiting.get(row.id, [])) for row in rows]
