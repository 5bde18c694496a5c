"""A target plugin for the tests: it implements every target and registration hook and writes what it
receives to a JSON-lines file, so tests can drive the plugin contract end to end through `hub`.

Registered through the dist-info folder beside it (tests/probe is on the tests' sys.path).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Blueprint

from hub.errors import DeliveryError
from hub.hookspecs import Scope, hookimpl
from hub.model import Person
from hub.settings import Strict


class Settings(Strict):
    log: Path  # every delivered batch is appended here, one JSON line per change
    establishment_kinds: list[str] | None = None
    entities: list[str] = ["establishment", "group", "person", "membership", "guardianship"]
    batch_size: int = 3
    refuse: list[str] = []  # keys refused for good (a 400 from a real target)


@hookimpl
def hub_target_scope(settings: Settings) -> Scope:
    kinds = frozenset(settings.establishment_kinds) if settings.establishment_kinds is not None else None
    return Scope(entities=frozenset(settings.entities), establishment_kinds=kinds, batch_size=settings.batch_size)


@hookimpl
def hub_deliver(context, changes):
    settings: Settings = context.settings
    outcomes, lines = [], []
    for change in changes:
        if change.key in settings.refuse:
            outcomes.append(DeliveryError(f"probe refuses {change.key}: schema error", retryable=False))
            continue
        remote = context.links.get(change.entity, change.key)
        if remote is None and change.op in ("create", "join", "add"):
            remote = f"r-{change.entity}-{abs(hash(change.key)) % 10**8}"
            context.links.set(change.entity, change.key, remote)
        line = {"op": change.op, "entity": change.entity, "key": change.key, "uai": change.uai,
                "old_uai": change.old_uai, "remote": remote, "batch": len(changes),
                "has_record": change.record is not None}
        if isinstance(change.record, Person):  # what continuity puts in a record: attachments and groups
            line["functions"] = sorted({f.uai for f in change.record.functions})
            line["memberships"] = sorted(f"{m.uai}/{m.code}" for m in change.record.memberships)
        lines.append(json.dumps(line))
        outcomes.append(None)
    with settings.log.open("a") as log:
        log.writelines(line + "\n" for line in lines)
    return outcomes


@hookimpl
def hub_register_commands(cli):
    @cli.group("probe")
    def probe():
        """The probe plugin's own commands."""

    @probe.command("roster")
    @click.argument("uai")
    def roster(uai):
        """Print the stored roster of UAI through the read-only store view."""
        from hub.cli import ready_hub
        from hub.queries import StoreView

        found = StoreView(ready_hub().engine).roster(uai)
        click.echo(f"{found.establishment.name}: {len(found.people)} people, {len(found.parents)} parents, "
                   f"{len(found.establishment.groups)} groups")


@hookimpl
def hub_register_jobs():
    return {"probe.ping": lambda hub, job: f"pong from {job.name}"}


@hookimpl
def hub_register_blueprints(app):
    blueprint = Blueprint("probe", __name__)

    @blueprint.get("/probe")
    def hello():
        return {"probe": "ok"}

    app.register_blueprint(blueprint)
