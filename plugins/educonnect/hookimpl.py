"""EduConnect plugin: which users go to EduConnect, and how its accounts become hub people.

Pupils: the stored link for their FrEduCtId, else their INE (``FrEduCtEleveINE``),
else their FrEduVecteur (pupil id at a UAI). Parents: each child their vectors list
must be exactly one pupil (by INE, else by pupil id at the UAI), and exactly one
parent of all those children must bear the parent's names. Anything else is refused
with the reason: EduConnect accounts are never linked by a guess.
"""

from __future__ import annotations

from hub.hookspecs import AccountLink, LinkRefused, hookimpl
from plugins.educonnect.attributes import PARENT_PROFILES, PUPIL_PROFILES, first, same_name, vectors

NAME = "educonnect"


@hookimpl
def hub_select_idp(request, idps, client):
    """Pupils and parents (the discovery page's choice, or ``idp_hint=educonnect``) go to EduConnect."""
    mine = [name for name, idp in idps.items() if idp.plugin == NAME]
    if mine and (request.args.get("profile") in ("eleve", "parent") or request.args.get("idp_hint") == NAME):
        return mine[0]
    return None


@hookimpl
def hub_link_account(identity, people):
    if identity.settings.plugin != NAME:
        return None
    subject = first(identity, "FrEduCtId")
    if not subject:
        return LinkRefused("EduConnect n'a pas transmis l'identifiant du compte (FrEduCtId)")
    known = people.linked(identity.idp, subject)
    if known:
        return AccountLink(known, subject, "stored")
    affiliation = (first(identity, "FrEduCtPersonAffiliation") or "").lower()
    if affiliation.startswith("eleve"):
        return _pupil(identity, people, subject)
    if affiliation.startswith("resp"):
        return _parent(identity, people, subject)
    return LinkRefused(f"profil EduConnect inconnu ({affiliation or 'absent'}) : seuls élèves et responsables "
                       "se connectent par EduConnect")


def _pupil(identity, people, subject):
    ine = first(identity, "FrEduCtEleveINE")
    if ine:
        found, how = people.pupils_by_ine(ine), "ine"
    else:
        own = [v for v in vectors(identity)[0] if v.profile in PUPIL_PROFILES]
        if len(own) != 1:
            return LinkRefused("EduConnect n'a transmis ni l'INE de l'élève ni un vecteur d'identité unique")
        found, how = _pupils(people, own[0].pupil_id, own[0].uai), "vecteur"
    if len(found) != 1:
        return LinkRefused(f"{'aucun élève' if not found else f'{len(found)} élèves'} ne correspond à ce compte "
                           "EduConnect dans l'annuaire du hub")
    return AccountLink(found[0].key, subject, how)


def _parent(identity, people, subject):
    children, bad = vectors(identity)
    children = [v for v in children if v.profile in PARENT_PROFILES]
    if bad or not children:
        return LinkRefused("EduConnect n'a transmis aucun enfant lisible pour ce responsable")
    keys = []
    for child in children:
        found = _pupils(people, child.pupil_id, child.uai)
        if len(found) != 1:
            return LinkRefused(f"l'enfant {child.pupil_id} ({child.uai}) n'est {'pas' if not found else 'pas seul'} "
                               "dans l'annuaire du hub")
        keys.append(found[0].key)
    last = first(identity, "sn") or children[0].last_name
    given = first(identity, "givenName") or children[0].first_name
    parents = [p for p in people.parents_of_all(keys) if same_name(p.last_name, last)
               and same_name(p.first_name, given)]
    if len(parents) != 1:
        return LinkRefused(f"{'aucun responsable' if not parents else f'{len(parents)} responsables'} "
                           f"de ces {len(keys)} enfant(s) ne porte ce nom dans l'annuaire du hub")
    return AccountLink(parents[0].key, subject, "enfants")


def _pupils(people, pupil_id: str, uai: str) -> list:
    """A pupil named by a vector: by INE, else by the académie's pupil id in that establishment."""
    return people.pupils_by_ine(pupil_id) or people.pupils_by_jointure(pupil_id, uai or None)
