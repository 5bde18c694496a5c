"""``hub ticket`` and ``hub tickets``: open a ticket, say where one would go, list the hub's tickets.

Kept apart from `hub.cli` (which adds these groups to the ``hub`` command). The work is in `hub.helpdesk`.
"""

from __future__ import annotations

import getpass

import click

from hub.errors import HubError, LockedError
from hub.helpdesk.routing import DOMAIN_HELP, describe
from hub.terminal import escape, new_table


def _desk():
    from hub.cli import ready_hub
    from hub.helpdesk.desk import Helpdesk

    return Helpdesk(ready_hub())


def _uai(value: str | None) -> str | None:
    from hub.model import validate_uai

    return value and validate_uai(value, record="--uai")


@click.group("ticket")
def ticket_group():
    """Open a ticket, or say where one would go (routing rules of [[helpdesk.rules]])."""


@ticket_group.command("route")
@click.option("--domain", required=True, help=DOMAIN_HELP)
@click.option("--uai", help="the establishment concerned")
@click.option("--reporter-kind", type=click.Choice(["staff", "operator", "hub"]), default="staff", show_default=True)
def ticket_route(domain, uai, reporter_kind):
    """Print where a ticket would go and by which rule, without opening one."""
    from hub.cli import console

    desk = _desk()
    route = desk.route(desk.facts(domain, _uai(uai), reporter_kind))
    label = desk.settings.destinations[route.destination].label
    console.print(f"{describe(route.facts)}\n→ {route.destination}{f' ({label})' if label else ''} "
                  f"by rule {route.rule!r}" + (f"; fields {route.fields}" if route.fields else ""), highlight=False)


@ticket_group.command("open")
@click.option("--domain", required=True, help=DOMAIN_HELP)
@click.option("--uai", help="the establishment concerned")
@click.option("--title", required=True)
@click.option("--content", help="the description (or --content-file)")
@click.option("--content-file", type=click.File(encoding="utf-8"), help="read the description from this file")
@click.option("--urgency", type=click.IntRange(1, 5), default=3, show_default=True, help="1 very low … 5 very high")
@click.option("--requester", help="e-mail of the person to keep informed")
@click.option("--reporter", help="who reports it (default: you)")
@click.option("--reporter-kind", type=click.Choice(["staff", "operator"]), default="operator", show_default=True)
def ticket_open(domain, uai, title, content, content_file, urgency, requester, reporter, reporter_kind):
    """Route an incident and open its ticket; when the helpdesk cannot take it now, it is kept and retried."""
    from hub.cli import console

    if bool(content) == bool(content_file):
        raise click.UsageError("give the description with --content or --content-file")
    desk = _desk()
    ticket_id, reference, route = desk.request(
        title=title, content=content or content_file.read(), domain=domain, uai=_uai(uai),
        reporter=reporter or getpass.getuser(), reporter_kind=reporter_kind, requester=requester, urgency=urgency)
    console.print(f"{reference}: → {route.destination} by rule {route.rule!r}", highlight=False)
    try:
        report = desk.send(due_only=False, ticket_ids=[ticket_id])
    except LockedError:
        console.print("[yellow]kept[/]: another process is sending tickets; it or the next "
                      "`hub tickets send` sends this one")
        return
    for line in report.sent:
        console.print(f"[green]opened[/] {escape(line)}", highlight=False)
    for line in report.kept:
        console.print(f"[yellow]kept, will be retried[/] ({escape(line)}); `hub tickets send` retries now",
                      highlight=False, soft_wrap=True)
    for line in report.refused:
        raise HubError(f"the helpdesk refused it: {line}; fix the settings, then `hub tickets retry {reference}`")


@click.group("tickets", invoke_without_command=True)
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def tickets_group(ctx, limit):
    """The hub's tickets: where they went, their status in the helpdesk, what is still to send."""
    if ctx.invoked_subcommand:
        return
    from hub.cli import console

    table = new_table("ticket", "state", "helpdesk", "id", "status", "domain", "uai", "rule", "title", "waiting")
    for row, waiting in _desk().tickets(limit):
        pending = [w for w in waiting if w.status == "pending"]
        refused = [w for w in waiting if w.status == "refused"]
        note = ", ".join(filter(None, [f"{len(pending)} to send" if pending else "",
                                       f"{len(refused)} refused" if refused else ""]))
        error = next((w.last_error for w in refused + pending if w.last_error), None)
        table.add_row(row.reference, row.state, row.destination, row.remote_id or "-", row.remote_status or "-",
                      row.domain, row.uai or "", row.rule, row.title[:60],
                      note + (f": {error[:80]}" if error else ""))
    console.print(table if table.rows else "no ticket yet")


@tickets_group.command("send")
@click.option("--now", "now_", is_flag=True, help="also the requests still waiting for their retry time")
def tickets_send(now_):
    """Send the ticket requests and followups still waiting (kept while the helpdesk was down)."""
    _print_send(_desk().send(due_only=not now_))


def _print_send(report) -> None:
    from hub.cli import console

    for label, lines in (("sent", report.sent), ("kept", report.kept), ("refused", report.refused)):
        for line in lines:
            console.print(f"{label} {escape(line)}", highlight=False, soft_wrap=True)
    console.print(f"{len(report.sent)} sent, {len(report.kept)} kept for retry, {len(report.refused)} refused")


@tickets_group.command("watch")
def tickets_watch():
    """Open, follow up or resolve the tickets of the hub's own incidents (dead letters, held syncs), send them,
    and poll the statuses (the ``helpdesk.watch`` job action does the same); journaled."""
    from hub.cli import console
    from hub.helpdesk.watch import watch_and_send

    report, sent, problems = watch_and_send(_desk(), trigger=f"cli:{getpass.getuser()}")
    for label, lines in (("opened", report.opened), ("followed up", report.followed), ("resolved", report.resolved)):
        for line in lines:
            console.print(f"{label} {escape(line)}", highlight=False, soft_wrap=True)
    console.print(report.summary())
    _print_send(sent)
    if problems:
        raise HubError("; ".join(problems))


@tickets_group.command("poll")
def tickets_poll():
    """Ask the helpdesks the status of the hub's tickets."""
    from hub.cli import console

    problems = _desk().poll()
    if problems:
        raise HubError("; ".join(problems))
    console.print("statuses updated; `hub tickets` shows them")


@tickets_group.command("retry")
@click.argument("reference")
def tickets_retry(reference):
    """Queue the refused requests of ticket REFERENCE again (after fixing what the helpdesk refused)."""
    from hub.cli import console

    count = _desk().retry_refused(reference)
    console.print(f"{count} request(s) queued again; `hub tickets send` sends them")


def register(cli) -> None:
    """Add ``hub ticket`` and ``hub tickets`` to the ``hub`` command."""
    cli.add_command(ticket_group)
    cli.add_command(tickets_group)
