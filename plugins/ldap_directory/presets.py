"""Named ways académie directories lay out the same SDET data: ``[plugins.ldap] preset``.

A preset gives the attribute names, the default search filters, and how a directory
names people: the jointure as it is, or prefixed by its source; parents by their
jointure, or by their uid or DN.

- ``sdet`` (default): the hub's own schema (``ent.schema``), a directory fed from the
  AAF as it is: one ``ENTPersonJointure``, the AAF key itself; ``ENTElevePersRelEleve``
  names parents by that key (``id$lien$financier$légal$contact$paiement``).
- ``esco``: the ENT directory schema in production at GIP-RECIA and the académies that took
  it up (``esco-personne.schema``, OIDs from ``11-esco-const.schema``). ``ENTPersonJointure``
  is multi-valued, each value ``<source id>$<key>`` (``ENT`` for manual entries, ``MENESR``
  or an académie code such as ``AC-RENNES`` for the ministry feed): ``jointure_sources``
  says which to keep. ``ENTElevePersRelEleve`` names parents by their uid or their DN;
  structure keys are structure DNs; the establishments are the ``ENTEtablissement`` entries;
  there is no ``HubSecteurCollege``/``HubZone``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.sdet import HUB_SECTEUR, HUB_ZONE

PERSON_ATTRIBUTES = (
    "ENTPersonJointure", "ENTEleveINE", "sn", "givenName", "ENTPersonDateNaissance", "mail",
    "ENTPersonStructRattach", "ENTPersonProfils", "ENTPersonFonctions", "ENTEleveClasses", "ENTEleveGroupes",
    "ENTEleveMEF", "ENTEleveLibelleMEF", "ENTEleveNivFormation", "ENTElevePersRelEleve", "ENTEleveAutoriteParentale",
    "ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres", "ENTAuxEnsClasses", "ENTAuxEnsGroupes",
    "ENTAuxEnsClassesPrincipal", "ENTEleveCodeEnseignements",
)  # fmt: skip
STRUCTURE_ATTRIBUTES = (
    "ENTStructureUAI", "ENTStructureJointure", "ENTStructureNomCourant", "ENTStructureTypeStruct", "l",
    "ENTStructureClasses", "ENTStructureGroupes", "ENTEtablissementBassin", HUB_SECTEUR, HUB_ZONE,
)  # fmt: skip
TIMESTAMP = "modifyTimestamp"
# The SDET names, read as they are unless a preset or the settings map them to the server's own names; uid
# is read only where parents are named by it (esco), not with every person
DEFAULT_ATTRIBUTES = {name: name for name in (*PERSON_ATTRIBUTES, *STRUCTURE_ATTRIBUTES, TIMESTAMP, "uid")}
# ENTPersonProfils values of a parent (SDET v5 and v3)
PARENT_PROFILES = ("National_TUT", "National_2")


@dataclass(frozen=True)
class Preset:
    attributes: dict[str, str]  # SDET name -> the server's name ('' when it has none)
    people_filter: str
    structures_filter: str
    prefixed_jointure: bool = False  # ENTPersonJointure values are ``<source id>$<key>``: jointure_sources needed
    parents_by_uid: bool = False  # ENTElevePersRelEleve names parents by uid or DN, not by jointure


PRESETS = {
    "sdet": Preset(dict(DEFAULT_ATTRIBUTES), "(objectClass=ENTPerson)", "(objectClass=ENTStructure)"),
    "esco": Preset(
        {**DEFAULT_ATTRIBUTES, HUB_SECTEUR: "", HUB_ZONE: ""},
        "(objectClass=ENTPerson)",
        "(objectClass=ENTEtablissement)",
        prefixed_jointure=True,
        parents_by_uid=True,
    ),
}


def jointure_key(values: list[str], sources: list[str]) -> str:
    """The key of the first source in ``sources`` that has a ``<source id>$<key>`` value, '' if none.

    Without ``sources`` the first value is the key, as it is. Source ids compare without
    regard to case; the key is what follows the first ``$``, so it matches the AAF's
    ``<identifier><id>`` for the same person.
    """
    if not sources:
        return values[0] if values else ""
    keyed = {}
    for value in values:
        source, dollar, key = value.partition("$")
        if dollar and key.strip():
            keyed.setdefault(source.strip().upper(), key.strip())
    return next((keyed[s.upper()] for s in sources if s.upper() in keyed), "")
