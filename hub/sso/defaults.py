"""The broker's default rules, registered as a plugin so a vendor plugin can answer first (pluggy ``trylast``)."""

from __future__ import annotations

from hub.hookspecs import AccountLink, LinkRefused, hookimpl

STAFF_PROFILES = {"enseignant", "personnel"}


@hookimpl(trylast=True)
def hub_select_idp(request, idps, client):
    """A hint naming an IdP, the client's own IdP, the establishment's, the profile chosen on the discovery page;
    with a single IdP configured, that one."""
    hint = request.args.get("idp_hint")
    if hint in idps:
        return hint
    if client is not None and client.idp in idps:
        return client.idp
    uai = (request.args.get("uai") or "").upper()
    profile = request.args.get("profile")
    for name, idp in idps.items():
        if (uai and uai in idp.uais) or (profile and profile in idp.profiles):
            return name
    return next(iter(idps)) if len(idps) == 1 else None


@hookimpl(trylast=True)
def hub_link_account(identity, people):
    """Generic IdPs (no ``plugin``): staff by their jointure attribute; the NameID is the stored subject."""
    if identity.settings.plugin:
        return None
    subject = identity.name_id
    known = people.linked(identity.idp, subject)
    if known:
        return AccountLink(known, subject, "stored")
    jointure = identity.first(identity.settings.jointure_attribute)
    if not jointure:
        return LinkRefused(f"l'identité fournie par {identity.idp} ne porte pas d'identifiant de jointure "
                           f"({identity.settings.jointure_attribute})")
    found = people.staff_by_jointure(jointure)
    if len(found) != 1:
        return LinkRefused(f"{'aucun' if not found else len(found)} personnel connu du hub pour la jointure "
                           f"{jointure}")
    return AccountLink(found[0].key, subject, "jointure")


@hookimpl(trylast=True)
def hub_release_attributes(client, person, claims):
    """The hub withholds nothing beyond the client's settings."""
    return None
