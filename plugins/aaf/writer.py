"""Write AAF XML files: the demo académie as a Complet set, and hand-made requests for Deltas and tests.

Files are written as text, one request per line, never as a tree: a million-person
académie streams through in constant memory, and a line number is a record number.
Characters the encoding lacks become character references, so any name survives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import escape

from hub.demo import Academie
from hub.demo_details import parent_details, pupil_details, staff_details
from hub.demo_roles import demo_nomenclature, staff_roles, staff_values, structure_id
from hub.model import (
    Establishment,
    EstablishmentKind,
    GroupKind,
    Nomenclature,
    NomenclatureKind,
    Person,
    PersonKind,
)
from hub.sdet import HUB_SECTEUR, HUB_ZONE, STRUCTURE_TYPES
from plugins.aaf import DEFAULT_ENCODING

# The file types the hub reads, in import order (structures, then the dictionaries, then people)
FILE_TYPES = ("EtabEducNat", "MefEducNat", "MatiereEducNat", "PersEducNat", "Eleve", "PersRelEleve")
# Request category (operationalAttributes value) -> (its attribute name, the file type holding it)
CATEGORIES = {
    "EtabEducNat": ("categorieStructure", "EtabEducNat"),
    "Mef": ("categorieMef", "MefEducNat"),
    "Matiere": ("categorieMatiere", "MatiereEducNat"),
}
OPERATIONS = {"add": "addRequest", "modify": "modifyRequest", "delete": "deleteRequest"}
PERSON_FILE_TYPE = {
    PersonKind.ENSEIGNANT: "PersEducNat",
    PersonKind.PERSONNEL: "PersEducNat",
    PersonKind.ELEVE: "Eleve",
    PersonKind.PARENT: "PersRelEleve",
}
Attributes = Mapping[str, str | Sequence[str] | None]
RequestSpec = tuple[str, str, str | None, Attributes | None]  # (operation, category, id, attributes)


def request_xml(operation: str, category: str, identifier: str | None, attributes: Attributes | None = None) -> str:
    """One request on one line; ``operation`` is add, modify, delete or a tag name; id None leaves it out."""
    tag = OPERATIONS.get(operation, operation)
    kind = CATEGORIES.get(category, ("categoriePersonne",))[0]
    parts = [f'<{tag}><operationalAttributes><attr name="{kind}"><value>{_text(category)}</value></attr>']
    parts.append("</operationalAttributes>")
    if identifier is not None:
        parts.append(f"<identifier><id>{_text(identifier)}</id></identifier>")
    if tag != "deleteRequest":
        outer, inner, extra = (
            ("modifications", "modification", ' operation="replace"')
            if tag == "modifyRequest"
            else ("attributes", "attr", "")
        )
        parts.append(f"<{outer}>")
        for name, values in (attributes or {}).items():
            if values is None:
                continue
            values = [values] if isinstance(values, str) else list(values)
            cells = "".join(f"<value>{_text(v)}</value>" if v else "<value/>" for v in values) or "<value/>"
            parts.append(f'<{inner} name="{_text(name)}"{extra}>{cells}</{inner}>')
        parts.append(f"</{outer}>")
    parts.append(f"</{tag}>\n")
    return "".join(parts)


def write_file(path: Path, requests: Iterable[RequestSpec | str], *, encoding: str = DEFAULT_ENCODING) -> Path:
    """Write one AAF file from request specs (or ready-made request lines)."""
    with _open(path, encoding) as out:
        for request in requests:
            out.write(request if isinstance(request, str) else request_xml(*request))
        out.write("</ficAlimMENESR>\n")
    return path


def write_requests(
    directory: Path,
    requests: Iterable[RequestSpec],
    *,
    flavour: str = "Delta",
    stamp: str = "20260902",
    prefix: str = "ENT_TEST",
    file_type: str | None = None,
    index: int = 1,
    encoding: str = DEFAULT_ENCODING,
) -> list[Path]:
    """Write hand-made requests, one file per type (from each request's category unless ``file_type``)."""
    by_type: dict[str, list[RequestSpec]] = {}
    for request in requests:
        kind = file_type or CATEGORIES.get(request[1], ("", request[1]))[1]
        if kind not in FILE_TYPES:
            raise ValueError(f"category {kind!r} has no AAF file type; pass file_type")
        by_type.setdefault(kind, []).append(request)
    directory.mkdir(parents=True, exist_ok=True)
    return [
        write_file(directory / f"{prefix}_{flavour}_{stamp}_{kind}_{index:04d}.xml", by_type[kind], encoding=encoding)
        for kind in FILE_TYPES
        if kind in by_type
    ]


def write_delta(directory: Path, requests: Iterable[RequestSpec], **options) -> list[Path]:
    """`write_requests` for a Delta set: (operation, category, id, attributes) tuples, grouped by type."""
    return write_requests(directory, requests, flavour="Delta", **options)


def write_academie(
    academie: Academie,
    directory: Path,
    *,
    encoding: str = DEFAULT_ENCODING,
    max_per_file: int = 50_000,
    prefix: str = "ENT_DEMO",
) -> list[Path]:
    """Write the académie as an AAF Complet set dated the school year's 1 September; return the files."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}_Complet_{academie.school_year}0901"
    group_kinds = {(g.uai, g.code): g.kind for e in academie.establishments for g in e.groups}
    sources: dict[str, Iterator] = {
        "EtabEducNat": (
            ("add", "EtabEducNat", structure_id(e.uai), establishment_attributes(e)) for e in academie.establishments
        ),
        "MefEducNat": (nomenclature_request(n) for n in demo_nomenclature(NomenclatureKind.MEF)),
        "MatiereEducNat": (nomenclature_request(n) for n in demo_nomenclature(NomenclatureKind.MATIERE)),
        "PersEducNat": (person_request(p, group_kinds) for p in staff_roles(academie)),
        "Eleve": (person_request(p, group_kinds) for p in academie.persons_of(PersonKind.ELEVE)),
        "PersRelEleve": (person_request(p, group_kinds) for p in academie.persons_of(PersonKind.PARENT)),
    }
    written = []
    for kind in FILE_TYPES:
        written += _write_chunks(directory, f"{stem}_{kind}", sources[kind], encoding, max_per_file)
    return written


def nomenclature_request(n: Nomenclature) -> RequestSpec:
    """A MefEducNat or MatiereEducNat addRequest."""
    if n.kind == NomenclatureKind.MEF:
        return ("add", "Mef", n.code, {"ENTMefJointure": n.code, "ENTLibelleMef": n.label,
                                       "ENTMEFSTAT11": n.national_code, "ENTNivFormation": n.niveau,
                                       "ENTFiliere": n.filiere})  # fmt: skip
    return ("add", "Matiere", n.code, {"ENTMatJointure": n.code, "ENTLibelleMatiere": n.label,
                                       "ENTMatiereRattach": n.national_code})  # fmt: skip


def establishment_attributes(e: Establishment) -> dict[str, str | list[str] | None]:
    """An establishment as EtabEducNat attributes (groups as ``code$libellé``)."""
    return {
        "ENTStructureJointure": structure_id(e.uai),
        "ENTStructureUAI": e.uai,
        "ENTStructureNomCourant": e.name,
        "ENTStructureTypeStruct": STRUCTURE_TYPES[EstablishmentKind(e.kind)],
        "l": e.commune or None,
        "ENTEtablissementBassin": e.territorial_unit,
        HUB_ZONE: e.zone,
        HUB_SECTEUR: e.secteur_college,
        "ENTStructureClasses": [f"{g.code}${g.label}" for g in e.groups if g.kind == GroupKind.DIVISION] or None,
        "ENTStructureGroupes": [f"{g.code}${g.label}" for g in e.groups if g.kind == GroupKind.GROUPE] or None,
    }


def person_request(p: Person, group_kinds: Mapping[tuple[str, str], str]) -> RequestSpec:
    """A person as an addRequest of its category (staff functions and principal flags as the person has them)."""
    category = PERSON_FILE_TYPE[PersonKind(p.kind)]
    a: dict[str, str | list[str] | None] = {
        "ENTPersonJointure": p.jointure,
        "sn": p.last_name,
        "givenName": p.first_name,
        "ENTPersonDateNaissance": p.birth_date.strftime("%d/%m/%Y") if p.birth_date else None,
        "mail": p.email,
        "ENTPersonStructRattach": structure_id(p.uai) if p.uai else None,
    }
    if p.kind == PersonKind.ELEVE:
        e = p.enrollment
        a["ENTEleveINE"] = p.ine
        a["ENTEleveMEF"] = e.mef if e else None
        a["ENTEleveNivFormation"] = e.niveau if e else None
        for name, kind in (("ENTEleveClasses", GroupKind.DIVISION), ("ENTEleveGroupes", GroupKind.GROUPE)):
            a[name] = [f"{structure_id(m.uai)}${m.code}" for m in p.memberships if m.kind == kind] or None
        a["ENTElevePersRelEleve"] = [
            f"{g.parent_key.removeprefix('jnt:')}${'1' if g.rank else '90'}$1${'1' if g.rank else '0'}$1$0"
            for g in p.guardians
        ] or None
        a["ENTEleveStructRattachId"] = a["ENTPersonStructRattach"]
        parents = [g.parent_key.removeprefix("jnt:") for g in sorted(p.guardians, key=lambda g: (g.rank == 0, g.rank))]
        adult = p.birth_date is not None and p.birth_date.year <= (e.school_year if e else 0) - 18
        a.update(pupil_details(p, adult, parents))
    elif p.kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
        a.update({name: values or None for name, values in staff_values(p, structure_id, group_kinds).items()})
        a["PersEducNatPresenceDevantEleves"] = "O" if p.kind == PersonKind.ENSEIGNANT else "N"
        a.update(staff_details(p, p.kind == PersonKind.ENSEIGNANT, structure_id))
    else:
        a.update(parent_details(p))
    return ("add", category, p.jointure, a)


def _write_chunks(directory: Path, stem: str, specs: Iterable[RequestSpec], encoding: str, limit: int) -> list[Path]:
    """Files ``<stem>_0001.xml``… of at most ``limit`` requests each; always at least one file."""
    paths: list[Path] = []
    out: TextIO | None = None
    count = 0
    try:
        for spec in specs:
            if out is None or count == limit:
                if out is not None:
                    out.write("</ficAlimMENESR>\n")
                    out.close()
                paths.append(directory / f"{stem}_{len(paths) + 1:04d}.xml")
                out, count = _open(paths[-1], encoding), 0
            out.write(request_xml(*spec))
            count += 1
        if out is None:
            paths.append(directory / f"{stem}_0001.xml")
            out = _open(paths[-1], encoding)
        out.write("</ficAlimMENESR>\n")
    finally:
        if out is not None:
            out.close()
    return paths


def _open(path: Path, encoding: str) -> TextIO:
    out = open(path, "w", encoding=encoding, errors="xmlcharrefreplace", newline="\n")  # noqa: SIM115
    out.write(f'<?xml version="1.0" encoding="{encoding}"?>\n')
    out.write('<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">\n<ficAlimMENESR>\n')
    return out


def _text(value: str) -> str:
    return escape(str(value), {'"': "&quot;"})
