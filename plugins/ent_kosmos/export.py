"""``hub ent_kosmos export``: the establishments the ENT serves as an AAF Complet set, for ENTs that import
académie files instead of taking SCIM. Written by the AAF plugin's writer (`plugins.aaf.writer`), so the
files are those the hub itself reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from hub.model import NomenclatureKind
from hub.queries import StoreView
from plugins.aaf import writer
from plugins.ent_kosmos.hookimpl import NAME, hub_target_scope


def export_complet(out: Path) -> Iterator[str]:
    from hub.cli import ready_hub

    hub = ready_hub()
    settings = hub.plugins.settings[NAME]
    store = StoreView(hub.engine)
    scope = hub_target_scope(settings)
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
    files = writer.write_requests(out, requests, flavour="Complet", stamp=date.today().strftime("%Y%m%d"),
                                  prefix="ENT_KOSMOS")
    yield f"{len(served)} establishments, {len(people)} people: {len(files)} files in {out}"
