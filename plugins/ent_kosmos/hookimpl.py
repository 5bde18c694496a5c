"""ENT Kosmos/Skolengo target: the collèges' accounts, classes and parent links, provisioned over SCIM 2.0.

Scope: the establishments of ``establishment_kinds`` (collèges by default) or the listed
``uais``; groups, people, memberships and family links (SCIM has no establishment resource:
the UAI is an attribute of users and groups). How records become SCIM resources is in
`plugins.ent_kosmos.mapping`, how changes become calls in `plugins.ent_kosmos.provision`.

Commands: ``hub ent_kosmos resync --uai U`` re-provisions an establishment from the store (after
the ENT lost data, or to repair links); ``hub ent_kosmos export --out DIR [--mode delta]`` writes
the collèges as AAF files (Complet, or Delta since the last export) for ENTs that import académie files.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Literal

import click
import httpx
from pydantic import AnyHttpUrl, SecretStr

from hub.hookspecs import Scope, hookimpl
from hub.model import Change
from hub.settings import Strict
from plugins.ent_kosmos.provision import Provisioner
from plugins.ent_kosmos.scim import Ent

NAME = "ent_kosmos"


class Settings(Strict):
    """``[plugins.ent_kosmos]``: where the ENT's SCIM service is and what it receives."""

    scim_url: AnyHttpUrl  # the SCIM root, e.g. https://ent.example/scim/v2
    token: SecretStr | None = None  # Bearer token; from HUB_PLUGINS__ENT_KOSMOS__TOKEN(_FILE)
    timeout_seconds: float = 30.0
    establishment_kinds: list[str] = ["college"]
    uais: list[str] | None = None  # only these establishments (of those kinds)
    batch_size: int = 100  # changes per hub_deliver call: one SCIM Bulk request when the ENT offers Bulk
    pupil_attributes: list[Literal["email", "birth_date"]] = []  # released to the ENT beyond names, class, UAI


@hookimpl
def hub_target_scope(settings: Settings) -> Scope:
    return Scope(entities=frozenset({"group", "person", "membership", "guardianship"}),
                 establishment_kinds=frozenset(settings.establishment_kinds),
                 uais=frozenset(settings.uais) if settings.uais is not None else None,
                 batch_size=max(1, settings.batch_size))


_ents: weakref.WeakKeyDictionary[httpx.Client, Ent] = weakref.WeakKeyDictionary()


def ent_of(client: httpx.Client, settings: Settings) -> Ent:
    """The ENT's SCIM service over ``client``, discovered once per client (one per target and run)."""
    ent = _ents.get(client)
    if ent is None:
        ent = _ents[client] = Ent(client, str(settings.scim_url))
    return ent


def client_options(settings: Settings) -> dict:
    headers = {"Accept": "application/scim+json"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
    return {"base_url": str(settings.scim_url).rstrip("/") + "/", "headers": headers,
            "timeout": settings.timeout_seconds}


_provisioners: weakref.WeakKeyDictionary[object, Provisioner] = weakref.WeakKeyDictionary()


@hookimpl
def hub_deliver(context, changes: list[Change]) -> list:
    """Send a batch of changes: one Bulk request per wave when the ENT offers Bulk, else one request each.

    One provisioner per delivery run (keyed by the run's ``context.links``), so the target links are read
    once per run, not once per batch (which made a 100k first provisioning quadratic)."""
    settings: Settings = context.settings
    provisioner = _provisioners.get(context.links)
    if provisioner is None:
        ent = ent_of(context.http(**client_options(settings)), settings)
        provisioner = _provisioners[context.links] = Provisioner(ent, context.links, context.store, settings)
    return provisioner.deliver(changes)


@hookimpl
def hub_register_commands(cli):
    @cli.group(NAME)
    def ent_kosmos():
        """The collèges' ENT (Kosmos): SCIM resync, AAF export."""

    @ent_kosmos.command("resync")
    @click.option("--uai", "uais", multiple=True, help="an establishment to re-provision (repeatable)")
    @click.option("--all", "every", is_flag=True, help="every establishment the ENT serves")
    def resync(uais, every):
        """Re-provision establishments from the store (groups, people, parents, members), re-linking each
        resource the ENT lost or the hub forgot; run while no delivery runs (it holds the deliver lock)."""
        from plugins.ent_kosmos.resync import resync_establishments

        if not uais and not every:
            raise click.UsageError("say which establishments: --uai UAI (repeatable) or --all")
        for line in resync_establishments(list(uais), every):
            click.echo(line)

    @ent_kosmos.command("export")
    @click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True)
    @click.option("--mode", type=click.Choice(["complet", "delta"]), default="complet", show_default=True,
                  help="delta: only what changed since the last export")
    def export(out, mode):
        """Write the served establishments as AAF files (for ENTs that import académie files)."""
        from plugins.ent_kosmos.export import export_files

        for line in export_files(out, mode):
            click.echo(line)
