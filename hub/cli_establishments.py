"""``hub establishments``: the stored establishments, and the département's sectorisation file.

Kept apart from `hub.cli` (which adds this group to the ``hub`` command) so that module stays short.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from hub.model import EstablishmentKind
from hub.terminal import new_table


@click.group("establishments", invoke_without_command=True)
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in EstablishmentKind]),
              help="only establishments of this kind (repeatable)")
@click.pass_context
def establishments(ctx, kinds):
    """Stored establishments: UAI, kind, name, secteur collège, zone, territorial unit."""
    if ctx.invoked_subcommand:
        return
    from hub.cli import console, ready_hub
    from hub.helpdesk.zones import zone_label, zones_by_uai
    from hub.queries import StoreView

    engine = ready_hub().engine
    rows, zones = StoreView(engine).establishment_list(frozenset(kinds) if kinds else None), zones_by_uai(engine)
    table = new_table("UAI", "kind", "name", "secteur", "zone", "territorial unit",
                      title=f"{len(rows)} establishment(s)")
    for e in rows:
        zone = zones.get(e.uai)  # the département's zones file (import-zones) is the authority on both
        table.add_row(e.uai, str(e.kind), e.name, e.secteur_college or "", zone_label(zone),
                      (zone.territorial_unit or "") if zone else "")
    console.print(table)


@establishments.command("import-sectors")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="the file is the whole sectorisation: écoles it does not list "
              "lose their secteur")
@click.option("--dry-run", is_flag=True, help="check the file and say what would change, change nothing")
def import_sectors_command(file, replace, dry_run):
    """Set which collège each école feeds from FILE (`UAI école;UAI collège`, UTF-8 or Windows-1252).

    Nothing is applied when a line is wrong (each problem is listed with its line number). The
    cycle-3 network groups follow at the next sync.
    """
    from hub.cli import console, ready_hub
    from hub.sectors import import_sectors

    h = ready_hub()
    result = import_sectors(h.engine, file, scopes=h.plugins.scopes(), grace_days=h.settings.sync.grace_days,
                            by=getpass.getuser(), replace=replace, dry_run=dry_run)
    for uai, before, after in result.changed[:50]:
        console.print(f"{uai}: {before or '-'} → {after or '-'}", highlight=False)
    if len(result.changed) > 50:
        console.print(f"… {len(result.changed) - 50} more")
    verb = "would change" if dry_run else "changed"
    run = f" (journal run {result.run_id})" if result.run_id else ""
    console.print(f"{result.pairs} line(s) read; {verb} the secteur of {len(result.changed)} école(s){run}",
                  highlight=False)


@establishments.command("import-zones")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="the file is the whole list: establishments it omits lose their zone")
@click.option("--dry-run", is_flag=True, help="check the file and say what would change, change nothing")
def import_zones_command(file, replace, dry_run):
    """Set each collège's zones for ticket routing from the département's FILE (`UAI;ZA reprise;UT[;cité mixte]`,
    oui/non, UT1…; UTF-8 or Windows-1252). Nothing is applied when a line is wrong."""
    from hub.cli import console, ready_hub
    from hub.helpdesk.zones import describe_zone, import_zones

    result = import_zones(ready_hub().engine, file, by=getpass.getuser(), replace=replace, dry_run=dry_run)
    for before, after in result.changed[:50]:
        console.print(f"{(after or before).uai}: {describe_zone(before)} → {describe_zone(after)}", highlight=False)
    verb = "would change" if dry_run else "changed"
    run = f" (journal run {result.run_id})" if result.run_id else ""
    console.print(f"{result.lines} line(s) read; {verb} the zones of {len(result.changed)} establishment(s){run}",
                  highlight=False)
