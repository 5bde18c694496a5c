"""Write LDIF (RFC 2849): the demo académie as directory entries, streamed one entry at a time.

Values that are not LDIF-safe strings (accents and any other non-ASCII, a leading space,
colon or ``<``, a trailing space, line breaks) are written base64-encoded (``name:: …``)
as UTF-8; lines longer than 76 characters are folded. As slapcat does, no ``version: 1``
line is written: slapadd refuses one. The file loads with ``slapadd``
(fast, offline) or ``ldapadd``, given ``ent.schema``.

With ``preset="esco"`` the entries follow the GIP-RECIA ESCO schema instead, as its
directories hold them: establishments ``ENTStructureSIREN=…`` (``ENTEtablissement``), people
``uid=…`` with a uid that is not their jointure, ``ENTPersonJointure`` values
``ENT$<uid>`` and ``<source>$<jointure>``, structure keys as DNs, teachers' classes with and
without subjects, parents named by uid (first) or DN (second) in ``ENTElevePersRelEleve``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from pathlib import Path
from typing import TextIO

from ldap3.utils.dn import escape_rdn

from hub.demo import Academie
from hub.demo_details import pupil_subjects
from hub.demo_roles import staff_roles, staff_values, structure_id
from hub.model import Establishment, EstablishmentKind, GroupKind, Person, PersonKind
from hub.sdet import HUB_SECTEUR, HUB_ZONE, STRUCTURE_TYPES
from plugins.ldap_directory.presets import PRESETS

LINE_WIDTH = 76
DEFAULT_BASE_DN = "dc=academie,dc=fr"
PERSON_CLASSES = ("top", "inetOrgPerson", "ENTPerson")
STRUCTURE_CLASSES = ("top", "ENTStructure")
KIND_PROFILES = {
    PersonKind.ELEVE: "National_ELV",
    PersonKind.PARENT: "National_TUT",
    PersonKind.ENSEIGNANT: "National_ENS",
}
FUNCTION_PROFILES = {"DIR": "National_DIR", "EDU": "National_EVS", "AED": "National_EVS", "ADF": "National_ETA"}
ESCO_CLASSES = {  # structural ENTPerson (SUP inetOrgPerson), then the class of the person's category
    PersonKind.ELEVE: ("top", "inetOrgPerson", "ENTPerson", "ENTEleve"),
    PersonKind.PARENT: ("top", "inetOrgPerson", "ENTPerson", "ENTAuxPersRelEleve"),
    PersonKind.ENSEIGNANT: ("top", "inetOrgPerson", "ENTPerson", "ENTAuxEnseignant"),
    PersonKind.PERSONNEL: ("top", "inetOrgPerson", "ENTPerson", "ENTAuxNonEnsEtab"),
}
ESCO_STRUCTURE_CLASSES = ("top", "organizationalUnit", "ENTStructure", "ENTEtablissement")

Value = str | Iterable[str] | None


def needs_base64(value: str) -> bool:
    """Whether a value is not an RFC 2849 SAFE-STRING (or ends with a space, which tools would lose)."""
    if not value:
        return False
    if not value.isascii() or value[0] in " :<" or value[-1] == " ":
        return True
    return "\n" in value or "\r" in value or "\0" in value


def attribute_line(name: str, value: str) -> str:
    """One ``name: value`` (or ``name:: base64``) line, folded, with its line break."""
    if needs_base64(value):
        line = f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
    else:
        line = f"{name}: {value}"
    if len(line) <= LINE_WIDTH:
        return line + "\n"
    parts = [line[:LINE_WIDTH]]
    parts += [" " + line[i : i + LINE_WIDTH - 1] for i in range(LINE_WIDTH, len(line), LINE_WIDTH - 1)]
    return "\n".join(parts) + "\n"


def entry_text(dn: str, attributes: Mapping[str, Value]) -> str:
    """One entry and the blank line after it; None, empty strings and empty lists are left out."""
    lines = [attribute_line("dn", dn)]
    for name, values in attributes.items():
        if values is None:
            continue
        for value in [values] if isinstance(values, str) else values:
            if value:
                lines.append(attribute_line(name, value))
    lines.append("\n")
    return "".join(lines)


def rdn(attribute: str, value: str) -> str:
    return f"{attribute}={escape_rdn(value)}"


class LdifWriter:
    """Entries appended to an open file, as they come: ``with LdifWriter(path) as out: out.entry(dn, attrs)``."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self._out: TextIO | None = None

    def __enter__(self) -> LdifWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # no "version: 1" line: slapadd refuses it (slapcat does not write it either)
        self._out = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        return self

    def __exit__(self, *exc) -> None:
        if self._out is not None:
            self._out.close()

    def entry(self, dn: str, attributes: Mapping[str, Value]) -> None:
        self._out.write(entry_text(dn, attributes))
        self.count += 1


def container_entry(dn: str) -> dict[str, Value]:
    """Attributes of a suffix or container entry, from its first RDN (dc=, o= or ou=)."""
    attribute, _, value = dn.split(",", 1)[0].partition("=")
    attribute, value = attribute.strip().lower(), value.strip()
    if attribute == "dc":
        return {"objectClass": ["top", "dcObject", "organization"], "dc": value, "o": value}
    if attribute == "o":
        return {"objectClass": ["top", "organization"], "o": value}
    if attribute == "ou":
        return {"objectClass": ["top", "organizationalUnit"], "ou": value}
    raise ValueError(f"cannot write a container entry for {dn!r}: its first RDN must be dc=, o= or ou=")


def write_academie(
    academie: Academie,
    path: Path,
    *,
    base_dn: str = DEFAULT_BASE_DN,
    people_dn: str | None = None,
    structures_dn: str | None = None,
    attributes: Mapping[str, str] | None = None,
    preset: str = "sdet",
    jointure_source: str = "AC-DEMO",
) -> Path:
    """Write the académie: suffix, containers, one entry per establishment, one per person.

    People go under ``people_dn`` (default ``ou=people,<base_dn>``), establishments under
    ``structures_dn`` (default ``ou=structures,<base_dn>``). ``attributes`` maps SDET names to
    the server's own names, as in the settings, on top of the preset's; a name mapped to ''
    is not written. ``jointure_source`` prefixes the ESCO jointures.
    """
    names = {**PRESETS[preset].attributes, **(attributes or {})}
    people = people_dn if people_dn and people_dn != base_dn else f"ou=people,{base_dn}"
    structures = structures_dn if structures_dn and structures_dn != base_dn else f"ou=structures,{base_dn}"
    group_kinds = {(g.uai, g.code): g.kind for e in academie.establishments for g in e.groups}
    esco = EscoLayout(people, structures, jointure_source) if preset == "esco" else None
    with LdifWriter(path) as out:
        for dn in dict.fromkeys((base_dn, structures, people)):
            out.entry(dn, container_entry(dn))
        for e in academie.establishments:
            if esco:
                out.entry(esco.structure_dn(e.uai), _mapped(esco.establishment(e), names))
                continue
            out.entry(
                rdn(names["ENTStructureUAI"] or "ENTStructureUAI", e.uai) + "," + structures,
                _mapped({"objectClass": list(STRUCTURE_CLASSES), **establishment_attributes(e)}, names),
            )
        # staff with the functions and principals the AAF demo gives them, so both sources say the same;
        # then pupils and parents unit by unit (a unit's pupils come before their parents)
        others = (p for p in academie.persons() if p.kind in (PersonKind.ELEVE, PersonKind.PARENT))
        for p in chain(staff_roles(academie), others):
            if esco:
                out.entry(esco.person_dn(p.jointure), _mapped(esco.person(p, group_kinds), names))
                continue
            out.entry(
                rdn("uid", p.jointure) + "," + people,
                _mapped({"objectClass": list(PERSON_CLASSES), **person_attributes(p, group_kinds)}, names),
            )
    return path


class EscoLayout:
    """The académie as an ESCO directory holds it (see the module docstring).

    Pupils come before their parents in `Academie.persons`: each pupil's DN is kept for its
    parents' ``ENTAuxPersRelEleveEleve`` until the parent is written, so one unit's families at most.
    """

    def __init__(self, people: str, structures: str, source: str):
        self.people, self.structures, self.source = people, structures, source
        self.children: dict[str, list[str]] = {}  # parent jointure -> DNs of the pupils naming them

    @staticmethod
    def uid(jointure: str) -> str:
        """A login-like uid that is not the jointure (as ESCO's ``F1700ivg``), stable for a jointure."""
        return "F" + hashlib.blake2b(jointure.encode(), digest_size=5).hexdigest()

    def person_dn(self, jointure: str) -> str:
        return rdn("uid", self.uid(jointure)) + "," + self.people

    def structure_dn(self, uai: str) -> str:
        return rdn("ENTStructureSIREN", siren(uai)) + "," + self.structures

    def establishment(self, e: Establishment) -> dict[str, Value]:
        a = establishment_attributes(e)
        del a[HUB_ZONE], a[HUB_SECTEUR]
        return {
            "objectClass": list(ESCO_STRUCTURE_CLASSES), "ou": e.name, "ENTStructureSIREN": siren(e.uai),
            "ENTStructureJointure": f"{self.source}${structure_id(e.uai)}",
            "ENTEtablissementMinistereTutelle": "MINISTERE DE L'EDUCATION NATIONALE", "ENTEtablissementContrat": "PU",
            **a,
        }  # fmt: skip

    def person(self, p: Person, group_kinds: Mapping[tuple[str, str], str]) -> dict:
        uid = self.uid(p.jointure)
        a = {"objectClass": list(ESCO_CLASSES[PersonKind(p.kind)]),
             **person_attributes(p, group_kinds, self.structure_dn)}  # fmt: skip
        a.update(uid=uid, ENTPersonLogin=uid, ENTPersonJointure=[f"ENT${uid}", f"{self.source}${p.jointure}"])
        if p.kind == PersonKind.ELEVE:
            e = p.enrollment
            a.update(ENTEleveLibelleMEF=e.niveau, ENTEleveFiliere=e.niveau, ENTEleveStatutEleve="SCOLAIRE",
                     ENTEleveMajeur="N")  # fmt: skip
            links = []
            for i, g in enumerate(p.guardians):
                parent = g.parent_key.removeprefix("jnt:")
                self.children.setdefault(parent, []).append(self.person_dn(p.jointure))
                ref = self.person_dn(parent) if i % 2 else self.uid(parent)
                links.append(f"{ref}${'1' if g.rank else '90'}$1${'1' if g.rank else '0'}$1$0")
            a["ENTElevePersRelEleve"] = links
        elif p.kind == PersonKind.PARENT:
            a["ENTAuxPersRelEleveEleve"] = self.children.pop(p.jointure, [])
            if not a["ENTAuxPersRelEleveEleve"]:  # a MUST of ENTAuxPersRelEleve: a parent nobody names is plain
                a["objectClass"] = a["objectClass"][:-1]
        else:
            for name, subjects in (("ENTAuxEnsClasses", "ENTAuxEnsClassesMatieres"),
                                   ("ENTAuxEnsGroupes", "ENTAuxEnsGroupesMatieres")):  # fmt: skip
                a[name] = list(dict.fromkeys(v.rsplit("$", 1)[0] for v in a[subjects]))
        return a


def siren(uai: str) -> str:
    """A made-up 14-digit SIREN/SIRET for an establishment of the demo (ESCO names structures by it)."""
    return f"19{uai[:7]}00018"


def establishment_attributes(e: Establishment) -> dict[str, Value]:
    """An establishment under its SDET attribute names (groups as ``code$libellé``)."""
    return {
        "ENTStructureUAI": e.uai,
        "ENTStructureNomCourant": e.name,
        "ENTStructureTypeStruct": STRUCTURE_TYPES[EstablishmentKind(e.kind)],
        "l": e.commune,
        "ENTEtablissementBassin": e.territorial_unit,
        HUB_ZONE: e.zone,
        HUB_SECTEUR: e.secteur_college,
        "ENTStructureClasses": [f"{g.code}${g.label}" for g in e.groups if g.kind == GroupKind.DIVISION],
        "ENTStructureGroupes": [f"{g.code}${g.label}" for g in e.groups if g.kind == GroupKind.GROUPE],
    }


def person_attributes(
    p: Person,
    group_kinds: Mapping[tuple[str, str], str],
    key: Callable[[str], str] = str,
) -> dict[str, Value]:
    """A person under SDET names, structKeys as ``key(uai)`` (the UAI itself by default)."""
    a: dict[str, Value] = {
        "uid": p.jointure,
        "cn": f"{p.first_name} {p.last_name}",
        "sn": p.last_name,
        "givenName": p.first_name,
        "mail": p.email,
        "ENTPersonJointure": p.jointure,
        "ENTPersonDateNaissance": p.birth_date.strftime("%d/%m/%Y") if p.birth_date else None,
        "ENTPersonStructRattach": key(p.uai) if p.uai else None,
        "ENTPersonProfils": KIND_PROFILES.get(PersonKind(p.kind)),
    }
    if p.kind == PersonKind.ELEVE:
        e = p.enrollment
        a["ENTEleveINE"] = p.ine
        a["ENTEleveMEF"] = e.mef if e else None
        a["ENTEleveNivFormation"] = e.niveau if e else None
        a["ENTEleveCodeEnseignements"] = list(pupil_subjects(p))
        for name, kind in (("ENTEleveClasses", GroupKind.DIVISION), ("ENTEleveGroupes", GroupKind.GROUPE)):
            a[name] = [f"{key(m.uai)}${m.code}" for m in p.memberships if m.kind == kind]
        a["ENTElevePersRelEleve"] = [
            f"{g.parent_key.removeprefix('jnt:')}${'1' if g.rank else '90'}$1${'1' if g.rank else '0'}$1$0"
            for g in p.guardians
        ]
    elif p.kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
        a.update(staff_values(p, key, group_kinds))
        if p.kind == PersonKind.PERSONNEL:
            a["ENTPersonProfils"] = FUNCTION_PROFILES.get(p.functions[0].code if p.functions else "", "National_ETA")
    return a


def _mapped(attributes: dict[str, Value], names: Mapping[str, str]) -> dict[str, Value]:
    """The same attributes under the server's names; those mapped to '' are dropped."""
    mapped: dict[str, Value] = {}
    for name, value in attributes.items():
        target = names.get(name, name)
        if target:
            mapped[target] = value
    return mapped
