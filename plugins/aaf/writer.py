"""Write AAF XML files: the demo académie as a Complet set, and hand-made requests for Deltas and tests.

Files are written as text, one request per line, never as a tree: a million-person
académie streams through in constant memory, and a line number is a record number.
Characters the encoding lacks become character references, so any name survives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import escape

from hub.demo import Academie
from hub.demo_vocabulary import DISCIPLINES
from hub.model import Establishment, EstablishmentKind, GroupKind, Person, PersonKind
from hub.sdet import HUB_SECTEUR, HUB_ZONE

DEFAULT_ENCODING = "ISO-8859-15"
FILE_TYPES = ("EtabEducNat", "PersEducNat", "Eleve", "PersRelEleve")  # also the import order
OPERATIONS = {"add": "addRequest", "modify": "modifyRequest", "delete": "deleteRequest"}
PERSON_FILE_TYPE = {
    PersonKind.ENSEIGNANT: "PersEducNat",
    PersonKind.PERSONNEL: "PersEducNat",
    PersonKind.ELEVE: "Eleve",
    PersonKind.PARENT: "PersRelEleve",
}
STRUCTURE_TYPES = {
    EstablishmentKind.ECOLE: "ECOLE PRIMAIRE",
    EstablishmentKind.COLLEGE: "COLLEGE",
    EstablishmentKind.LYCEE: "LYCEE",
    EstablishmentKind.LYCEE_PRO: "LYCEE PROFESSIONNEL",
    EstablishmentKind.EREA: "EREA",
    EstablishmentKind.OTHER: "AUTRE",
}
# Functions given to non-teaching staff, in order, per establishment (the model has no role field)
STAFF_FUNCTIONS = (("DIR", "DIRECTION"), ("EDU", "EDUCATION"), ("AED", "ASSISTANT D'EDUCATION"), ("ADF", "GESTION"))

Attributes = Mapping[str, str | Sequence[str] | None]
RequestSpec = tuple[str, str, str | None, Attributes | None]  # (operation, category, id, attributes)


def structure_id(uai: str) -> str:
    """The ENTStructureJointure the demo gives an establishment: numeric, distinct from its UAI."""
    return f"1{uai[:7]}"


def request_xml(operation: str, category: str, identifier: str | None, attributes: Attributes | None = None) -> str:
    """One request on one line; ``operation`` is add, modify, delete or a tag name; id None leaves it out."""
    tag = OPERATIONS.get(operation, operation)
    kind = "categorieStructure" if category == "EtabEducNat" else "categoriePersonne"
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
        kind = file_type or request[1]
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
    functions: dict[str, int] = {}
    sources: dict[str, Iterator] = {
        "EtabEducNat": (
            ("add", "EtabEducNat", structure_id(e.uai), establishment_attributes(e)) for e in academie.establishments
        ),
        "PersEducNat": chain(academie.persons_of(PersonKind.ENSEIGNANT), academie.persons_of(PersonKind.PERSONNEL)),
        "Eleve": academie.persons_of(PersonKind.ELEVE),
        "PersRelEleve": academie.persons_of(PersonKind.PARENT),
    }
    written = []
    for kind in FILE_TYPES:
        specs = (
            item if kind == "EtabEducNat" else person_request(item, group_kinds, functions) for item in sources[kind]
        )
        written += _write_chunks(directory, f"{stem}_{kind}", specs, encoding, max_per_file)
    return written


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


def person_request(p: Person, group_kinds: Mapping[tuple[str, str], str], functions: dict[str, int]) -> RequestSpec:
    """A person as an addRequest of its category; ``functions`` counts non-teaching staff per UAI."""
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
    elif p.kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
        sid = structure_id(p.uai) if p.uai else ""
        if p.kind == PersonKind.ENSEIGNANT:
            code, label = DISCIPLINES.get(p.assignments[0].subject, ("", "")) if p.assignments else ("", "")
            a["ENTPersonFonctions"] = f"{sid}$ENS$ENSEIGNEMENT${code}${label}"
        else:
            n = functions[p.uai or ""] = functions.get(p.uai or "", -1) + 1
            code, label = STAFF_FUNCTIONS[n if n < 2 else 2 + n % 2]
            a["ENTPersonFonctions"] = f"{sid}${code}${label}"
        for name, kind in (
            ("ENTAuxEnsClassesMatieres", GroupKind.DIVISION),
            ("ENTAuxEnsGroupesMatieres", GroupKind.GROUPE),
        ):
            a[name] = [
                f"{structure_id(t.uai)}${t.group_code}${t.subject}"
                for t in p.assignments
                if group_kinds.get((t.uai, t.group_code), GroupKind.DIVISION) == kind
            ] or None
        a["PersEducNatPresenceDevantEleves"] = "O" if p.kind == PersonKind.ENSEIGNANT else "N"
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
