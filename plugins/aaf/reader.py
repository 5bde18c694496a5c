"""Read AAF XML files (Complet or Delta) as a stream of `hub.model` items.

**Files.** The drop folder holds the files of one or more *feeds* (``ENT2D-CLERMONT``,
``ENT1D-CLERMONT``, ``ENT_0690078K``…). A file is read when its name is
``<feed>_<Complet|Delta>[_<AAAAMMJJ>[_<sequence>]]_<Type>[_<NNNN>].xml`` with a type among
EtabEducNat, MefEducNat, MatiereEducNat, PersEducNat, Eleve, PersRelEleve, e.g.
``ENT2D-CLERMONT_Delta_20260903_Eleve_0002.xml``, ``ENT_CLERMONT_Delta_20260903_1530_Eleve_0001.xml``,
``ENT_Complet_Eleve_0000.xml``. The *sequence* (a time such as ``153000`` or a counter, glued to
the date or after ``_``/``-``) orders the sets of one day; ``NNNN`` numbers the chunks of a file.
A name without a date takes the modification time of the newest file of its feed and flavour.
Any other ``*.xml`` (another AAF type such as a file of functions, another name) is not read,
and the run's notes list it.

**Which files a run reads** (``mode = "auto"``). Per feed, the newest Complet set (by date and
sequence) counts; older Complets, and Deltas not after that Complet, are skipped and the notes
say so. Then:

- a feed's newest Complet not read yet: the run reads the new Complets (a complete read, which
  deletes whoever they leave out, when every feed of the folder has one in the run; otherwise
  nobody is deleted and the notes say why); the Deltas after them wait for the next run;
- otherwise the Deltas not read yet, of every feed, by date, sequence, type, chunk — never by
  feed name — so one feed's late file is still read;
- nothing new, and no Delta since the Complets: the Complets are read again (this changes nothing).

``mode = "complet"`` reads the newest Complet of every feed, ``mode = "delta"`` only Deltas. The
cursor the core keeps is JSON ``{feed: last file read}``; an older cursor (one file name) is
understood once. Within a feed, a Delta file that arrives after a later one was read is not read.

**Content.** Files are parsed with ``lxml.etree.iterparse`` one request at a time and each
request is dropped from the tree once read, so memory stays flat whatever the file size. Only the
values of the attributes the hub uses are copied (`READ_ATTRIBUTES`); big sets are parsed in
child processes (`hub.sync.reader_process`, see `_in_children`) while the core works on what came before. The
DTD named by the DOCTYPE is never loaded, nor anything else from the network. CRLF line ends
are fine; a file without an XML declaration is read as UTF-8, or ISO-8859-15 when it is not valid
UTF-8. A malformed file stops the whole run (`SourceError`): half a directory is not a snapshot.
A readable but unusable record becomes a `Rejected` item and the stream goes on.

``<structKey>`` tokens (ENTPersonStructRattach, ENTEleveClasses, ENTPersonFonctions…) name a
structure by its EtabEducNat ``<id>`` or by its code; the EtabEducNat files come first, so the
map is known before any person. A Delta usually carries no EtabEducNat file: the reader then
learns the ids from the other EtabEducNat files of the folder, and accepts a key that looks like
a UAI as one. A structure whose code fails the UAI check letter (a replacement zone, a
placeholder such as ``0000000V``) is kept as a pseudo-structure with its people, with one notice;
a code longer than 8 characters cannot be stored and the structure is rejected.

Staff: ENTPersonFonctions gives their functions (one per establishment named) and whether they
teach; ENTAuxEnsClassesMatieres / ENTAuxEnsGroupesMatieres their classes and groups with a
subject, ENTAuxEnsClasses / ENTAuxEnsGroupes those without, ENTAuxEnsClassesPrincipal
(``structKey$classCode``) the classes they are professeur principal of. A Delta modification
replaces the whole list of assignments, so it must carry ENTAuxEnsClassesMatieres and
ENTAuxEnsGroupesMatieres (the other three, when absent, count as empty). Modifications of
attributes the hub does not keep (mobile, addresses…) are counted in one note, not applied.
"""

from __future__ import annotations

import codecs
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lxml import etree

from hub import forked
from hub.errors import RecordError, SourceError
from hub.hookspecs import Feed
from hub.model import (
    Enrollment,
    Establishment,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Nomenclature,
    NomenclatureKind,
    Notice,
    Person,
    PersonDeletion,
    PersonKind,
    PersonPatch,
    Rejected,
    TeachingAssignment,
    validate_uai,
)
from hub.sdet import (
    BIRTH_DATE,
    HUB_SECTEUR,
    HUB_ZONE,
    UAI_LIKE,
    establishment_kind,
    functions,
    guardians,
    staff_kind,
    teaching_assignments,
)
from hub.sync import reader_process
from plugins.aaf.drop_folder import AafFile, choose, list_files

REQUEST_TAGS = ("addRequest", "modifyRequest", "deleteRequest")
PERSON_CATEGORIES = ("Eleve", "PersRelEleve", "PersEducNat")
NOMENCLATURE_CATEGORIES = {"Mef": NomenclatureKind.MEF, "Matiere": NomenclatureKind.MATIERE}
MAX_CODE = 8  # a structure code is stored where UAIs are
# Delta modifications copied as they are: AAF attribute -> PersonPatch field
PATCH_FIELDS = {
    "sn": "last_name",
    "givenName": "first_name",
    "mail": "email",
    "ENTEleveINE": "ine",
    "ENTEleveMEF": "enrollment.mef",
    "ENTEleveNivFormation": "enrollment.niveau",
}
WITH_SUBJECTS = ("ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres")
WITHOUT_SUBJECTS = ("ENTAuxEnsClasses", "ENTAuxEnsGroupes")
PRINCIPAL = "ENTAuxEnsClassesPrincipal"
SUBJECTS = "ENTEleveCodeEnseignements"  # a pupil's subjects (options): codes of the MatiereEducNat nomenclature
ASSIGNMENT_ATTRIBUTES = (*WITH_SUBJECTS, *WITHOUT_SUBJECTS, PRINCIPAL)
# Attributes a Delta modification can change; any other is counted and ignored
MODELLED = {
    *PATCH_FIELDS, *ASSIGNMENT_ATTRIBUTES, "ENTPersonJointure", "ENTEleveLibelleMEF", "ENTPersonDateNaissance",
    "ENTPersonStructRattach", "ENTEleveStructRattachId", "ENTEleveClasses", "ENTEleveGroupes",
    "ENTElevePersRelEleve", "ENTEleveAutoriteParentale", "ENTPersonFonctions", SUBJECTS,
    "ENTEleveEnseignements",  # the labels of SUBJECTS: the hub takes them from the subject nomenclature
}  # fmt: skip
DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding", re.ASCII)
BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
FALLBACK_ENCODING = "ISO-8859-15"
CONTEXT_TYPES = ("EtabEducNat", "MefEducNat", "MatiereEducNat")  # what the people's records refer to
MAX_NUMBERS = 1 << 30  # items of a run numbered by file (`_in_children`): half of what the stage tables' seq holds
SECOND_PROCESS_BYTES = 16 << 20  # about 8,000 people of realistic width: below, one process is as fast
DELTA_SECOND_PROCESS_BYTES = 1 << 20  # a Delta's items cost the core a lookup each: a child pays sooner


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


def undeclared_encoding(path: Path) -> str | None:
    """ISO-8859-15 for a file with no encoding declared that is not valid UTF-8 (the XML default); else None."""
    with open(path, "rb") as f:
        head = f.read(256)
        if head.startswith(BOMS) or DECLARED.match(head):
            return None
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            chunk = head
            while chunk:
                decoder.decode(chunk)
                chunk = f.read(1 << 20)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return FALLBACK_ENCODING
    return None


def iter_requests(path: Path) -> Iterator[Request]:
    """Stream the requests of one file; SourceError with file and line if it is not well-formed XML."""
    try:
        parser = etree.iterparse(
            str(path), events=("end",), tag=REQUEST_TAGS, resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=True, encoding=undeclared_encoding(path),
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
# The attributes whose values the reader uses; the others (addresses, phones, options…: most of a real
# record's bytes) are kept by name only, with no values, which saves copying them. Add here what you read.
READ_ATTRIBUTES = frozenset({
    *MODELLED, "ENTEleveINE", "ENTEleveMEF", "ENTEleveNivFormation", "mail", "sn", "givenName",
    "ENTStructureUAI", "ENTEtablissementUAI", "ENTStructureNomCourant", "ENTStructureTypeStruct", "l",
    "ENTEtablissementBassin", "ENTStructureClasses", "ENTStructureGroupes", HUB_SECTEUR, HUB_ZONE,
    "ENTMefJointure", "ENTLibelleMef", "ENTMEFSTAT11", "ENTNivFormation", "ENTFiliere",
    "ENTMatJointure", "ENTLibelleMatiere", "ENTMatiereRattach",
})  # fmt: skip


def read_request(elem, file_name: str) -> Request:
    """Copy one request element's content into a `Request` (the element is cleared afterwards)."""
    category, identifier, attributes, unsupported = "", "", {}, []
    wanted = READ_ATTRIBUTES
    for part in elem:
        tag = part.tag
        if tag == "operationalAttributes":
            category = (part.findtext("attr/value") or "").strip()
        elif tag == "identifier":
            identifier = (part.findtext("id") or "").strip()
        elif tag in ("attributes", "modifications"):
            for attr in part.iterchildren(tag=ATTR_TAGS):  # the hot loop of a sync: keep it plain
                name = attr.get("name", "")
                values = [(v.text or "").strip() for v in attr.iterchildren(tag="value")] if name in wanted else []
                if name in attributes:
                    attributes[name].extend(values)
                else:
                    attributes[name] = values
                if tag == "modifications" and attr.get("operation", "replace") != "replace":
                    unsupported.append(f"{attr.get('operation')} {name}")
    ref = f"{file_name}:{elem.sourceline} {category or '?'} {identifier or '?'}"
    return Request(elem.tag, category, identifier, ref, attributes, unsupported)


def read_feed(
    directory: Path, *, mode: str, since: str | None, school_year: int, second_process: bool | None = None
) -> Feed:
    """Choose the files now (errors surface at once), read them lazily as the core iterates.

    ``second_process``: parse in a child process (`hub.sync.reader_process`) while the core works;
    None decides by size: from `SECOND_PROCESS_BYTES` of files on, where it pays for its start.
    """
    listing = list_files(directory)
    choice = choose(listing, mode, since)
    reader = AafReader(school_year)
    chosen = set(choice.files)
    # a Delta's structures: the EtabEducNat files outside the run, learnt where its files are read
    outside = [] if choice.complete else [f for f in listing.files if f.file_type == "EtabEducNat" and f not in chosen]

    def items() -> Iterator:
        reader.learn_structures(outside)
        yield from reader.items(choice.files, feed)

    flavours = sorted({f.flavour for f in choice.files}) or ["Delta"]
    feed = Feed(
        items=(),
        complete=choice.complete,
        cursor=choice.cursor,
        description=f"AAF {'+'.join(flavours)}: {len(choice.files)} file(s) from {directory}",
        details={"mode": mode, "files": [f.path.name for f in choice.files]},
        notes=choice.notes,
    )
    if second_process is None:
        threshold = SECOND_PROCESS_BYTES if choice.complete else DELTA_SECOND_PROCESS_BYTES
        second_process = sum(f.path.stat().st_size for f in choice.files) >= threshold
    if second_process and forked.available():
        feed.items = _in_children(reader, choice.files, feed, items)
        children = feed.items.children
        feed.description += f", parsed in {children} child process{'es' if children > 1 else ''}"
    else:
        feed.items = items()
    return feed


def _in_children(reader: AafReader, files: list[AafFile], feed: Feed, items: Callable[[], Iterator]
                 ) -> reader_process.InChild:
    """The files parsed by child processes (`hub.sync.reader_process`). A Complet's files of people are
    shared out between one child per core, each taking the next file when done with one: the
    establishments and nomenclatures are read first, in the core (the people need them), and a file's
    items are numbered from where the files before it could end (a request takes 8 bytes at least). A
    Delta, whose order counts, is read by one child, as ``items()``."""
    context = [f for f in files if f.file_type in CONTEXT_TYPES]
    people = [f for f in files if f.file_type not in CONTEXT_TYPES]
    children = min(os.cpu_count() or 1, len(people)) if all(f.flavour == "Complet" for f in files) else 1

    def carried_back(result: tuple[int, list]) -> None:  # what a child learnt by the end of its files
        records, notes = result
        feed.records = (feed.records or 0) + records - reader.requests  # the core's reader: what it read
        feed.notes.extend(note for note in notes if note not in feed.notes)

    def result():
        return reader.requests, feed.notes

    starts = [0]
    for f in people:
        starts.append(starts[-1] + f.path.stat().st_size // 8 + 1)
    if children < 2 or starts[-1] >= MAX_NUMBERS:
        return reader_process.items_in_child("AAF", items, result, carried_back)
    shared_out = reader_process.shared_out(len(people), starts.__getitem__, lambda i: reader.items([people[i]], feed))
    return reader_process.InChild("AAF", shared_out, result, carried_back, before=reader.items(context, feed),
                                  children=children)


class AafReader:
    """Turns the requests of a file sequence into model items, keeping the structure map between files."""

    def __init__(self, school_year: int):
        self.school_year = school_year
        self.structures: dict[str, str] = {}  # structure id or code -> code (a UAI, or a pseudo-structure's)
        self.pseudo: set[str] = set()  # pseudo-structures already announced
        self.lenient = False  # in a Delta, accept an unknown structKey that looks like a UAI
        self.unmodelled: Counter[str] = Counter()  # attribute -> modifications ignored
        self.requests = 0  # read so far

    def learn_structures(self, files: Iterable[AafFile]) -> None:
        """Read only the ids and codes of EtabEducNat files outside the run (a Delta's context)."""
        for f in files:
            try:
                for r in iter_requests(f.path):
                    if r.operation == "addRequest" and r.id and (code := _structure_code(r)):
                        self.structures[r.id] = self.structures[code] = code
            except SourceError:
                continue  # only context: the files of the run itself are what must be readable

    def items(self, files: Iterable[AafFile], feed: Feed) -> Iterator:
        """The items of the files, in order; ``feed.records`` and ``feed.notes`` are filled at the end."""
        for f in files:
            self.lenient = f.flavour == "Delta"
            for request in iter_requests(f.path):
                self.requests += 1
                try:
                    yield from self.items_of(request)
                except Reject as exc:
                    key = f"jnt:{request.id}" if request.id and request.category in PERSON_CATEGORIES else ""
                    yield Rejected(request.ref, str(exc), key)
        feed.records = self.requests
        if self.unmodelled:
            ranked = sorted(self.unmodelled.items(), key=lambda item: (-item[1], item[0]))
            counts = ", ".join(f"{name}: {n:,}" for name, n in ranked)
            feed.notes.append(f"{self.unmodelled.total():,} modifications of unmodelled attributes ignored ({counts})")

    def items_of(self, r: Request) -> Iterator:
        if not r.id:
            raise Reject("missing identifier")
        if r.category in PERSON_CATEGORIES:
            if r.operation != "addRequest" and not self.lenient:
                raise Reject(f"{r.operation} in a Complet file, which holds only addRequest")
            if r.operation == "addRequest":
                yield self.person(r)
            elif r.operation == "deleteRequest":
                yield PersonDeletion(f"jnt:{r.id}", r.ref)
            else:
                yield from self.patch(r)
        elif r.category == "EtabEducNat" or r.category in NOMENCLATURE_CATEGORIES:
            if r.operation != "addRequest":
                what = "modifications" if r.operation == "modifyRequest" else "deletions"
                thing = "establishment" if r.category == "EtabEducNat" else "nomenclature"
                raise Reject(f"{thing} {what} are not supported in a Delta; send a Complet")
            yield from self.establishment(r) if r.category == "EtabEducNat" else (self.nomenclature(r),)
        else:
            raise Reject(f"unknown category {r.category!r}" if r.category else "missing category")

    def establishment(self, r: Request) -> Iterator:
        code = _structure_code(r)
        if not code:
            raise Reject("missing mandatory attribute ENTStructureUAI")
        if len(code) > MAX_CODE:
            raise Reject(f"structure code {code!r} is longer than {MAX_CODE} characters and cannot be stored")
        self.structures[r.id] = self.structures[code] = code
        try:
            validate_uai(code)
            pseudo = False
        except RecordError as exc:
            pseudo = True
            if code not in self.pseudo:
                self.pseudo.add(code)
                yield Notice(r.ref, f"structure {code} fails the UAI check ({_uai_problem(code, exc.reason)}): "
                             "kept as a pseudo-structure")  # fmt: skip
        groups = [
            Group(code, tokens[0], kind, tokens[1] if len(tokens) > 1 else "")
            for name, kind in (("ENTStructureClasses", GroupKind.DIVISION), ("ENTStructureGroupes", GroupKind.GROUPE))
            for tokens in (v.split("$") for v in r.values(name))
        ]
        yield Establishment(
            code, r.first("ENTStructureNomCourant"), establishment_kind(r.first("ENTStructureTypeStruct")),
            commune=r.first("l"), secteur_college=r.first(HUB_SECTEUR).upper() or None,
            zone=r.first(HUB_ZONE) or None, territorial_unit=r.first("ENTEtablissementBassin") or None, groups=groups,
            pseudo=pseudo, source_ref=r.ref,
        )  # fmt: skip

    def nomenclature(self, r: Request) -> Nomenclature:
        kind = NOMENCLATURE_CATEGORIES[r.category]
        if kind == NomenclatureKind.MEF:
            return Nomenclature(
                kind, r.first("ENTMefJointure") or r.id, _mandatory(r, "ENTLibelleMef"), r.first("ENTMEFSTAT11"),
                r.first("ENTNivFormation"), r.first("ENTFiliere"), source_ref=r.ref,
            )  # fmt: skip
        return Nomenclature(kind, r.first("ENTMatJointure") or r.id, _mandatory(r, "ENTLibelleMatiere"),
                            r.first("ENTMatiereRattach"), source_ref=r.ref)  # fmt: skip

    def person(self, r: Request) -> Person:
        last, first = _mandatory(r, "sn"), _mandatory(r, "givenName")
        common = dict(
            jointure=r.id, birth_date=_birth_date(r), email=r.first("mail") or None,
            uai=self.attachment(r), source_ref=r.ref,
        )  # fmt: skip
        if r.category == "PersRelEleve":
            return Person(PersonKind.PARENT, last, first, **common)
        if r.category == "PersEducNat":
            found = self.functions(r)
            return Person(staff_kind(found), last, first, assignments=self.assignments(r), functions=found, **common)
        classes, groups = self.keyed(r, "ENTEleveClasses"), self.keyed(r, "ENTEleveGroupes")
        uai = common["uai"] = common["uai"] or (classes[0][0] if classes else None)
        niveau = r.first("ENTEleveNivFormation") or r.first("ENTEleveLibelleMEF")
        division = classes[0][1] if classes else ""
        mef = r.first("ENTEleveMEF")
        enrollment = Enrollment(self.school_year, uai, mef, niveau, division, _subjects(r)) if uai else None
        return Person(
            PersonKind.ELEVE, last, first, ine=r.first("ENTEleveINE") or None, enrollment=enrollment,
            memberships=_memberships(classes, GroupKind.DIVISION) + _memberships(groups, GroupKind.GROUPE),
            guardians=_guardians(r), **common,
        )  # fmt: skip

    def patch(self, r: Request) -> Iterator:
        """A Delta modifyRequest as a PersonPatch; an assignment list that cannot be replaced alone is rejected."""
        if r.unsupported:
            raise Reject(f"modification {', '.join(r.unsupported)} is not supported (only replace)")
        for name in r.attributes:
            if name not in MODELLED:
                self.unmodelled[name] += 1
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
        if SUBJECTS in r.attributes and pupil:
            fields["enrollment.subjects"] = _subjects(r)
        if "ENTEleveGroupes" in r.attributes:
            fields["memberships:groupe"] = _memberships(self.keyed(r, "ENTEleveGroupes"), GroupKind.GROUPE)
        if "ENTElevePersRelEleve" in r.attributes or "ENTEleveAutoriteParentale" in r.attributes:
            fields["guardians"] = _guardians(r)
        if "ENTPersonFonctions" in r.attributes:
            fields["functions"] = self.functions(r)
        teaching = [a for a in ASSIGNMENT_ATTRIBUTES if a in r.attributes]
        complete_list = all(a in r.attributes for a in WITH_SUBJECTS)
        if complete_list:
            fields["assignments"] = self.assignments(r)
        if fields:
            yield PersonPatch(f"jnt:{r.id}", fields, r.ref)
        if teaching and not complete_list:
            yield Rejected(
                r.ref,
                f"{', '.join(teaching)} alone cannot be applied: the hub keeps one list of assignments; "
                "send ENTAuxEnsClassesMatieres and ENTAuxEnsGroupesMatieres with it",
                f"jnt:{r.id}",
            )

    def attachment(self, r: Request) -> str | None:
        for name in ("ENTPersonStructRattach", "ENTEleveStructRattachId"):
            if key := r.first(name):
                return self.resolve(key, name)
        return None

    def resolve(self, key: str, attribute: str) -> str:
        """The code a structKey names: a known structure id or code, or (in a Delta) anything shaped like a UAI."""
        code = self.structures.get(key) or self.structures.get(key.upper())
        if code:
            return code
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
        return teaching_assignments(
            [k for name in WITH_SUBJECTS for k in self.keyed(r, name)],
            [k for name in WITHOUT_SUBJECTS for k in self.keyed(r, name)],
            self.keyed(r, PRINCIPAL),
        )

    def functions(self, r: Request):
        return functions(r.values("ENTPersonFonctions"), lambda key: self.resolve(key, "ENTPersonFonctions"))


def _structure_code(r: Request) -> str:
    return (r.first("ENTStructureUAI") or r.first("ENTEtablissementUAI")).upper()


def _uai_problem(code: str, reason: str) -> str:
    """'expected 0000000A' for a wrong check letter, the core's reason otherwise."""
    return f"expected {code[:7]}{reason[-1]}" if UAI_LIKE.match(code) else reason


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


def _subjects(r: Request) -> tuple[str, ...]:
    """The pupil's subject codes, once each and sorted: the AAF lists them in no particular order."""
    return tuple(sorted(set(r.values(SUBJECTS))))


def _memberships(keyed: list[tuple[str, str, str]], kind: GroupKind) -> tuple[Membership, ...]:
    return tuple(Membership(uai, code, kind) for uai, code, _ in keyed)


def _guardians(r: Request) -> tuple[Guardianship, ...]:
    return guardians(r.values("ENTElevePersRelEleve"), r.values("ENTEleveAutoriteParentale"))
