"""``hub ent_kosmos resync``: re-provision establishments from the store, re-linking what the ENT lost.

Holds the ``deliver`` lock, so no delivery writes links meanwhile. Each establishment's groups,
parents and people are replaced (PUT/PATCH) where linked and created where the ENT answers 404
or nothing is linked (a POST answered 409 links the existing resource); then each group's
members are set to the stored ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from hub.errors import HubError
from hub.queries import StoreView
from hub.store import locks
from hub.sync.deliver import TargetLinks
from plugins.ent_kosmos.hookimpl import NAME, client_options, ent_of, hub_target_scope
from plugins.ent_kosmos.provision import Provisioner


def resync_establishments(uais: list[str], every: bool) -> Iterator[str]:
    from hub.cli import ready_hub

    hub = ready_hub()
    if NAME not in hub.plugins.settings:
        raise HubError(f"plugin {NAME} is not enabled (plugins.enabled)")
    settings = hub.plugins.settings[NAME]
    store = StoreView(hub.engine)
    scope = hub_target_scope(settings)
    served = store.establishments(scope.establishment_kinds)
    if scope.uais is not None:
        served = [u for u in served if u in scope.uais]
    unknown = sorted(set(uais) - set(served))
    if unknown:
        raise HubError(f"{', '.join(unknown)}: not an establishment the ENT serves (kinds "
                       f"{', '.join(sorted(scope.establishment_kinds or []))})")
    with locks.hold(hub.engine, "deliver", hub.settings.lock_ttl_seconds), \
            httpx.Client(**client_options(settings)) as client:
        ent = ent_of(client, settings)
        failed = 0
        for uai in served if every else uais:
            provisioner = Provisioner(ent, TargetLinks(hub.engine, NAME), store, settings, relink=True)
            counts = provisioner.resync(uai)
            failed += len(provisioner.failures)
            yield (f"{uai}: {counts.sent} resources sent, {counts.created} created, {counts.relinked} lost by "
                   f"the ENT and created again, {counts.adopted} found there and linked, "
                   f"{len(provisioner.failures)} refused")
            for failure in provisioner.failures[:5]:
                yield f"  {failure}"
    if failed:
        raise HubError(f"{failed} resources were refused by the ENT (see above)")
