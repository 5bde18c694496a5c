"""Read AAF XML files (Complet or Delta) as a stream of `hub.model` items.

Files are parsed with ``lxml.etree.iterparse`` one request at a time and each
request is dropped from the tree once read, so memory stays flat whatever the
file size. The DTD named by the DOCTYPE is never loaded, nor anything else from
the network. A malformed file stops the whole run (`SourceError`): half a
directory is not a snapshot. A readable but unusable record becomes a
`Rejected` item and the stream goes on.

``<structKey>`` tokens (ENTPersonStructRattach, ENTEleveClasses…) name a
structure by its EtabEducNat ``<id>`` or by its UAI; the EtabEducNat files come
first, so the map is known before any person. A Delta usually carries no
EtabEducNat file: the reader then learns the ids from the other EtabEducNat
files of the directory, and accepts a key that looks like a UAI as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lxml import etree

from hub.errors import SourceError
from hub.model import (
    Enrollment,
    Establishment,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonDeletion,
    PersonKind,
    PersonPatch,
    Rejected,
    TeachingAssignment,
)
from hub.sdet import BIRTH_DATE, HUB_SECTEUR, HUB_ZONE, TEACHING_FUNCTIONS, UAI_LIKE, establishment_kind, guardians
from hub.sync import Feed
from plugins.aaf.writer import FILE_TYPES

FILE_NAME = re.compile(r"_(EtabEducNat|PersEducNat|PersRelEleve|Eleve)(?:_(\d+))?\.xml$")
REQUEST_TAGS = ("addRequest", "modifyRequest", "deleteRequest")
PERSON_CATEGORIES = ("Eleve", "PersRelEleve", "PersEducNat")
# Delta modifications copied as they are: AAF attribute -> PersonPatch field
PATCH_FIELDS = {
    "sn": "last_name",
    "givenName": "first_name",
    "mail": "email",
    "ENTEleveINE": "ine",
    "ENTEleveMEF": "enrollment.mef",
    "ENTEleveNivFormation": "enrollment.niveau",
}


@dataclass(frozen=True, slots=True)
class AafFile:
    path: Path
    file_type: str  # EtabEducNat | PersEducNat | Eleve | PersRelEleve
    flavour: str  # Complet | Delta


@dataclass(slots=True)
class Request:
    """One add/modify/deleteRequest, out of the tree: attribute name -> stripped values."""

    operation: str
    category: str
    id: str
    ref: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)  # modifications other than replace

    def first(self, name: str) -> str:
        for value in self.attributes.get(name, ()):
            if value:
                return value
        return ""

    def values(self, name: str) -> list[str]:
        return [v for v in self.attributes.get(name, ()) if v]


class Reject(Exception):
    """A record the reader cannot turn into an item; becomes `Rejected`."""


def sort_key(name: str) -> tuple:
    """Import order: by set (the name before the type), then by type as in FILE_TYPES, then by index."""
    m = FILE_NAME.search(name)
    if not m:
        return (name, len(FILE_TYPES), 0, name)
    return (name[: m.start()], FILE_TYPES.index(m.group(1)), int(m.group(2) or 0), name)


def list_files(directory: Path) -> list[AafFile]:
    """The AAF files of ``directory`` in import order, or SourceError when there are none."""
    if not directory.is_dir():
        raise SourceError(f"AAF directory {directory} does not exist")
    files = []
    for path in directory.glob("*.xml"):
        m = FILE_NAME.search(path.name)
        flavour = "Complet" if "Complet" in path.name else "Delta" if "Delta" in path.name else None
        if m and flavour and path.is_file():
            files.append(AafFile(path, m.group(1), flavour))
    if not files:
        raise SourceError(
            f"no AAF file in {directory}: expected *Complet*_<Type>_NNNN.xml or *Delta*_<Type>_NNNN.xml "
            f"with a type among {', '.join(FILE_TYPES)}"
        )
    return sorted(files, key=lambda f: sort_key(f.path.name))


def select_files(files: list[AafFile], mode: str, since: str | None) -> tuple[list[AafFile], bool, str | None]:
    """(files to read, complete?, cursor): a Complet set wins in auto mode; Deltas after ``since`` otherwise."""
    complets = [f for f in files if f.flavour == "Complet"]
    deltas = [f for f in files if f.flavour == "Delta"]
    where = files[0].path.parent
    if mode == "complet" or (mode == "auto" and complets):
        if not complets:
            raise SourceError(f"no AAF Complet file in {where}")
        return complets, True, None
    if not deltas:
        raise SourceError(f"no AAF Delta file in {where}")
    if since:
        deltas = [f for f in deltas if sort_key(f.path.name) > sort_key(since)]
    return deltas, False, deltas[-1].path.name if deltas else since


def iter_requests(path: Path) -> Iterator[Request]:
    """Stream the requests of one file; SourceError with file and line if it is not well-formed XML."""
    try:
        parser = etree.iterparse(
            str(path), events=("end",), tag=REQUEST_TAGS, resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=True,
        )  # fmt: skip
        for _, elem in parser:
            request = read_request(elem, path.name)
            elem.clear(keep_tail=True)
            while elem.getprevious() is not None:
                del elem.getparent()[0]
            yield request
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position or (0,))[0]
        raise SourceError(f"{path}:{line}: malformed XML: {exc.msg}") from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc


ATTR_TAGS = ("attr", "modification")


def read_request(elem, file_name: str) -> Request:
    """Copy one request element's content into a `Request` (the element is cleared afterwards)."""
    category, identifier, attributes, unsupported = "", "", {}, []
    for part in elem:
        if part.tag == "operationalAttributes":
            category = (part.findtext("attr/value") or "").strip()
        elif part.tag == "identifier":
            identifier = (part.findtext("id") or "").strip()
        elif part.tag in ("attributes", "modifications"):
            for attr in part.iterchildren(tag=ATTR_TAGS):  # the hot loop of a sync: keep it plain
                name = attr.get("name", "")
                values = [(v.text or "").strip() for v in attr.iterchildren(tag="value")]
                if name in attributes:
                    attributes[name].extend(values)
                else:
                    attributes[name] = values
                if attr.get("operation", "replace") != "replace":
                    unsupported.append(f"{attr.get('operation')} {name}")
    ref = f"{file_name}:{elem.sourceline} {category or '?'} {identifier or '?'}"
    return Request(elem.tag, category, identifier, ref, attributes, unsupported)


def read_feed(directory: Path, *, mode: str, since: str | None, school_year: int) -> Feed:
    """Choose the files now (errors surface at once), read them lazily as the core iterates."""
    every = list_files(directory)
    files, complete, cursor = select_files(every, mode, since)
    reader = AafReader(school_year)
    if not complete:
        chosen = set(files)
        reader.learn_structures(f for f in every if f.file_type == "EtabEducNat" and f not in chosen)
    flavour = "Complet" if complete else "Delta"
    return Feed(
        items=reader.items(files),
        complete=complete,
        cursor=cursor,
        description=f"AAF {flavour}: {len(files)} file(s) from {directory}",
        details={"mode": mode, "files": [f.path.name for f in files]},
    )


class AafReader:
    """Turns the requests of a file sequence into model items, keeping the structure map between files."""

    def __init__(self, school_year: int):
        self.school_year = school_year
        self.structures: dict[str, str] = {}  # structure id or UAI -> UAI
        self.lenient = False  # in a Delta, accept an unknown structKey that looks like a UAI

    def learn_structures(self, files: Iterable[AafFile]) -> None:
        """Read only the ids and UAIs of EtabEducNat files outside the run (a Delta's context)."""
        for f in files:
            try:
                for r in iter_requests(f.path):
                    if r.operation == "addRequest" and r.id and (uai := r.first("ENTStructureUAI")):
                        self.structures[r.id] = self.structures[uai.upper()] = uai.upper()
            except SourceError:
                continue  # only context: the files of the run itself are what must be readable

    def items(self, files: Iterable[AafFile]) -> Iterator:
        for f in files:
            self.lenient = f.flavour == "Delta"
            for request in iter_requests(f.path):
                try:
                    yield from self.items_of(request)
                except Reject as exc:
                    key = f"jnt:{request.id}" if request.id and request.category in PERSON_CATEGORIES else ""
                    yield Rejected(request.ref, str(exc), key)

    def items_of(self, r: Request) -> Iterator:
        if not r.id:
            raise Reject("missing identifier")
        if r.category == "EtabEducNat":
            if r.operation != "addRequest":
                what = "modifications" if r.operation == "modifyRequest" else "deletions"
                raise Reject(f"establishment {what} are not supported in a Delta; send a Complet")
            yield self.establishment(r)
        elif r.category in PERSON_CATEGORIES:
            if r.operation != "addRequest" and not self.lenient:
                raise Reject(f"{r.operation} in a Complet file, which holds only addRequest")
            if r.operation == "addRequest":
                yield self.person(r)
            elif r.operation == "deleteRequest":
                yield PersonDeletion(f"jnt:{r.id}", r.ref)
            else:
                yield from self.patch(r)
        else:
            raise Reject(f"unknown category {r.category!r}" if r.category else "missing category")

    def establishment(self, r: Request) -> Establishment:
        uai = (r.first("ENTStructureUAI") or r.first("ENTEtablissementUAI")).upper()
        if not uai:
            raise Reject("missing mandatory attribute ENTStructureUAI")
        self.structures[r.id] = self.structures[uai] = uai
        groups = [
            Group(uai, tokens[0], kind, tokens[1] if len(tokens) > 1 else "")
            for name, kind in (("ENTStructureClasses", GroupKind.DIVISION), ("ENTStructureGroupes", GroupKind.GROUPE))
            for tokens in (v.split("$") for v in r.values(name))
        ]
        return Establishment(
            uai, r.first("ENTStructureNomCourant"), establishment_kind(r.first("ENTStructureTypeStruct")),
            commune=r.first("l"), secteur_college=r.first(HUB_SECTEUR).upper() or None,
            zone=r.first(HUB_ZONE) or None, territorial_unit=r.first("ENTEtablissementBassin") or None, groups=groups,
            source_ref=r.ref,
        )  # fmt: skip

    def person(self, r: Request) -> Person:
        last, first = _mandatory(r, "sn"), _mandatory(r, "givenName")
        common = dict(
            jointure=r.id, birth_date=_birth_date(r), email=r.first("mail") or None,
            uai=self.attachment(r), source_ref=r.ref,
        )  # fmt: skip
        if r.category == "PersRelEleve":
            return Person(PersonKind.PARENT, last, first, **common)
        if r.category == "PersEducNat":
            functions = (f.split("$") for f in r.values("ENTPersonFonctions"))
            teaching = any(len(t) > 1 and t[1] in TEACHING_FUNCTIONS for t in functions)
            kind = PersonKind.ENSEIGNANT if teaching else PersonKind.PERSONNEL
            return Person(kind, last, first, assignments=self.assignments(r), **common)
        classes, groups = self.keyed(r, "ENTEleveClasses"), self.keyed(r, "ENTEleveGroupes")
        uai = common["uai"] = common["uai"] or (classes[0][0] if classes else None)
        niveau = r.first("ENTEleveNivFormation") or r.first("ENTEleveLibelleMEF")
        division = classes[0][1] if classes else ""
        enrollment = Enrollment(self.school_year, uai, r.first("ENTEleveMEF"), niveau, division) if uai else None
        return Person(
            PersonKind.ELEVE, last, first, ine=r.first("ENTEleveINE") or None, enrollment=enrollment,
            memberships=_memberships(classes, GroupKind.DIVISION) + _memberships(groups, GroupKind.GROUPE),
            guardians=_guardians(r), **common,
        )  # fmt: skip

    def patch(self, r: Request) -> Iterator:
        """A Delta modifyRequest as a PersonPatch; an assignment list that cannot be replaced alone is rejected."""
        if r.unsupported:
            raise Reject(f"modification {', '.join(r.unsupported)} is not supported (only replace)")
        fields: dict = {}
        for name, target in PATCH_FIELDS.items():
            if name in r.attributes:
                value = r.first(name)
                fields[target] = (
                    value if target.startswith("enrollment.") or target.endswith("_name") else value or None
                )
        if "ENTEleveLibelleMEF" in r.attributes and "ENTEleveNivFormation" not in r.attributes:
            fields["enrollment.niveau"] = r.first("ENTEleveLibelleMEF")
        if "ENTPersonDateNaissance" in r.attributes:
            fields["birth_date"] = _birth_date(r)
        pupil = r.category == "Eleve"
        if any(a in r.attributes for a in ("ENTPersonStructRattach", "ENTEleveStructRattachId")):
            fields["uai"] = self.attachment(r)
            if pupil:
                fields["enrollment.uai"] = fields["uai"]
        if "ENTEleveClasses" in r.attributes:
            classes = self.keyed(r, "ENTEleveClasses")
            fields["memberships:division"] = _memberships(classes, GroupKind.DIVISION)
            if pupil:
                fields["enrollment.division"] = classes[0][1] if classes else ""
        if "ENTEleveGroupes" in r.attributes:
            fields["memberships:groupe"] = _memberships(self.keyed(r, "ENTEleveGroupes"), GroupKind.GROUPE)
        if "ENTElevePersRelEleve" in r.attributes or "ENTEleveAutoriteParentale" in r.attributes:
            fields["guardians"] = _guardians(r)
        teaching = [a for a in ("ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres") if a in r.attributes]
        if len(teaching) == 2:
            fields["assignments"] = self.assignments(r)
        if fields:
            yield PersonPatch(f"jnt:{r.id}", fields, r.ref)
        if len(teaching) == 1:
            yield Rejected(
                r.ref,
                f"{teaching[0]} alone cannot be applied: the hub keeps one list of assignments; "
                "send ENTAuxEnsClassesMatieres and ENTAuxEnsGroupesMatieres together",
                f"jnt:{r.id}",
            )

    def attachment(self, r: Request) -> str | None:
        for name in ("ENTPersonStructRattach", "ENTEleveStructRattachId"):
            if key := r.first(name):
                return self.resolve(key, name)
        return None

    def resolve(self, key: str, attribute: str) -> str:
        """The UAI a structKey names: a known structure id or UAI, or (in a Delta) anything shaped like a UAI."""
        uai = self.structures.get(key) or self.structures.get(key.upper())
        if uai:
            return uai
        if self.lenient and UAI_LIKE.match(key.upper()):
            return key.upper()
        raise Reject(f"unknown structure {key!r} in {attribute}")

    def keyed(self, r: Request, attribute: str) -> list[tuple[str, str, str]]:
        """``structKey$code[$subject]`` values as (UAI, code, subject)."""
        result = []
        for value in r.values(attribute):
            tokens = value.split("$")
            if len(tokens) < 2 or not tokens[1]:
                raise Reject(f"{attribute} value {value!r} is not structKey$code")
            result.append((self.resolve(tokens[0], attribute), tokens[1], tokens[2] if len(tokens) > 2 else ""))
        return result

    def assignments(self, r: Request) -> tuple[TeachingAssignment, ...]:
        return tuple(
            TeachingAssignment(uai, code, subject)
            for name in ("ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres")
            for uai, code, subject in self.keyed(r, name)
        )


def _mandatory(r: Request, name: str) -> str:
    value = r.first(name)
    if not value:
        raise Reject(f"missing mandatory attribute {name}")
    return value


def _birth_date(r: Request) -> date | None:
    value = r.first("ENTPersonDateNaissance")
    if not value:
        return None
    if m := BIRTH_DATE.match(value):
        try:
            return date(int(m[3]), int(m[2]), int(m[1]))
        except ValueError:
            pass
    raise Reject(f"ENTPersonDateNaissance {value!r} is not a date (JJ/MM/AAAA)")


def _memberships(keyed: list[tuple[str, str, str]], kind: GroupKind) -> tuple[Membership, ...]:
    return tuple(Membership(uai, code, kind) for uai, code, _ in keyed)


def _guardians(r: Request) -> tuple[Guardianship, ...]:
    return guardians(r.values("ENTElevePersRelEleve"), r.values("ENTEleveAutoriteParentale"))
