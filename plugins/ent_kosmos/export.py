"""``hub ent_kosmos export``: the establishments the ENT serves as AAF files, for ENTs that import académie
files instead of taking SCIM. Written by the AAF plugin's writer, so the files are those the hub itself reads.

Complet: every structure, nomenclature and person served. Delta: what changed since the last export —
people added (addRequest), changed (a modifyRequest replacing every attribute, emptied ones included) or
gone (deleteRequest); new or changed structures and nomenclatures sent again as addRequests, as the
académie does. Changes are found by comparing each request's digest with the one the last export
recorded (table target_link, target ``ent_kosmos:aaf``), so a Delta needs a Complet before it and two
exports in a row give an empty Delta.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import click

from hub.model import NomenclatureKind
from hub.queries import StoreView
from hub.sync.deliver import TargetLinks
from plugins.aaf import writer
from plugins.ent_kosmos.hookimpl import NAME, hub_target_scope

STATE = "ent_kosmos:aaf"  # the target_link "target" holding what the last export sent: key -> digest
PERSON_CATEGORIES = frozenset(writer.PERSON_FILE_TYPE.values())


def export_files(out: Path, mode: str) -> Iterator[str]:
    from hub.cli import ready_hub

    hub = ready_hub()
    store = StoreView(hub.engine)
    served, requests = served_requests(store, hub_target_scope(hub.plugins.settings[NAME]))
    current = {f"{spec[1]}|{spec[2]}": (spec, _digest(spec)) for spec in requests}
    state = TargetLinks(hub.engine, STATE)
    sent_before = state.all("aaf")
    if mode == "delta" and not sent_before:
        raise click.ClickException("no export recorded yet: a Delta follows a Complet (run --mode complet first)")
    to_write = [spec for spec, _ in current.values()] if mode == "complet" else delta(current, sent_before)
    flavour = mode.capitalize()
    files = writer.write_requests(out, to_write, flavour=flavour, stamp=date.today().strftime("%Y%m%d"),
                                  prefix="ENT_KOSMOS") if to_write else []
    state.replace_all("aaf", {key: digest for key, (_, digest) in current.items()})
    people = sum(1 for spec in to_write if spec[1] in PERSON_CATEGORIES)
    yield f"{flavour}: {len(served)} establishments, {len(to_write)} requests ({people} people): " \
          f"{len(files)} files in {out}"


def served_requests(store: StoreView, scope) -> tuple[list[str], list[writer.RequestSpec]]:
    """The establishments served and their whole content as AAF addRequests, structures first."""
    served = [u for u in store.establishments(scope.establishment_kinds) if scope.uais is None or u in scope.uais]
    requests, people, kinds = [], {}, {}
    for uai in served:
        roster = store.roster(uai)
        requests.append(("add", "EtabEducNat", writer.structure_id(uai),
                         writer.establishment_attributes(roster.establishment)))
        kinds.update({(g.uai, g.code): g.kind for g in roster.establishment.groups})
        people.update({p.key: p for p in roster.people + roster.parents})
    requests += [writer.nomenclature_request(n) for kind in NomenclatureKind for n in store.nomenclature(kind)]
    requests += [writer.person_request(p, kinds) for _, p in sorted(people.items())]
    return served, requests


def delta(current: dict[str, tuple], sent_before: dict[str, str]) -> list[writer.RequestSpec]:
    """The requests that bring an importer from the last export to ``current``."""
    requests = []
    for key, (spec, digest) in current.items():
        if sent_before.get(key) == digest:
            continue
        operation, category, identifier, attributes = spec
        if key in sent_before and category in PERSON_CATEGORIES:
            emptied = {name: [] if values is None else values for name, values in attributes.items()}
            requests.append(("modify", category, identifier, emptied))
        else:
            requests.append(spec)
    for key in sent_before.keys() - current.keys():
        category, _, identifier = key.partition("|")
        if category in PERSON_CATEGORIES:  # structures and nomenclatures are not deleted by a Delta
            requests.append(("delete", category, identifier, None))
    return requests


def _digest(spec: writer.RequestSpec) -> str:
    return hashlib.sha1(writer.request_xml(*spec).encode(), usedforsecurity=False).hexdigest()
