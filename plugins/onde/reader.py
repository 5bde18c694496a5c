"""Read ONDE CSV exports (pupils with their legal representatives) as a stream of `hub.model` items.

ONDE (ex Base élèves 1er degré) lets a directeur d'école (or a circonscription)
download an "extraction élèves" with the legal representatives. Its official
column list is not published; this reader accepts the export as it is
downloaded, described here:

* one CSV file per école or per circonscription; every ``*.csv`` of the folder
  is read, in name order, one file at a time, row by row (never a whole file
  in memory);
* fields separated by ``;`` (setting ``delimiter``), first line = header;
* encoded in UTF-8 (with or without BOM) or Windows-1252/Latin-1: the bytes are
  tried as strict UTF-8 first, then as Windows-1252; the feed's description
  says which was used for which file;
* header names are matched case- and accent-insensitively, any run of
  punctuation or blanks counting as one space ("Nom d'usage élève" =
  "NOM D USAGE ELEVE"); the first column matching a field wins. The setting
  ``column_names`` maps a field below to the header a local export uses
  instead. The lists below live in `plugins.onde.columns`.

=================  ==========================================================  =========
field              accepted headers (besides a ``column_names`` override)       mandatory
=================  ==========================================================  =========
uai                UAI école, UAI, Code UAI, UAI de l'école, Numéro UAI, RNE    yes [1]
school_name        Nom école, Nom de l'école, Dénomination école, École          no [2]
commune            Commune école, Commune de l'école, Commune, Ville école       no
ine                INE, INE élève, Numéro INE, Identifiant national élève       yes
last_name          Nom d'usage élève, Nom d'usage, Nom usage élève               yes [3]
birth_name         Nom élève, Nom de famille élève, Nom de naissance élève, Nom  yes [3]
first_name         Prénom élève, Prénom, Premier prénom élève                    yes
birth_date         Date naissance, Date de naissance, Date naissance élève,      yes
                   Né(e) le — JJ/MM/AAAA (AAAA-MM-JJ also read)
sex                Sexe, Sexe élève                                              no [4]
niveau             Niveau, Niveau élève, Niveau scolaire                         yes
classe             Classe, Libellé classe, Nom classe, Classe élève              yes
cycle              Cycle, Cycle élève                                            no [4]
guardian<n>_*      "<what> responsable <n>" or "responsable <n> <what>"          no
                   (also "resp", "représentant légal"), <what> one of:
  _last_name       Nom, Nom d'usage, Nom de famille
  _first_name      Prénom
  _link            Lien, Lien de parenté, Qualité                               [4]
  _email           Courriel, Email, E-mail, Mél, Mail, Adresse mail
  _phone           Téléphone, Tél, Téléphone portable, Portable, Téléphone
                   domicile (the first one listed is used)
  _authority       Autorité parentale (Oui/Non; absent or empty: Oui)
=================  ==========================================================  =========

[1] or taken from a file name ending in ``_<UAI>.csv`` (per-école exports);
a circonscription export must have the column. [2] without it no
`Establishment` is yielded: the école must already be known (from AAF). [3]
one of the two: the usage name is preferred, the birth name is the fallback.
[4] read for the record, not kept: the model has no field for them.

What is yielded, per file: one `Establishment` (kind école, with its classes as
division groups) per UAI first seen in it, then for each row the representatives
not yielded before and the pupil. A pupil is keyed by INE only (the same key
as the collège pupil in AAF). Niveau: CP, CE1, CE2, CM1, CM2 and the maternelle
sections TPS, PS, MS, GS, as codes or labels ("CM2 - Cours moyen 2e année").
The division code is the class label with blanks collapsed (cut to 60
characters with a hash suffix when longer); MEF is left empty (ONDE has none).

Representatives have no identifier in ONDE: each gets a deterministic jointure
``onde-<hex>``, a BLAKE2b hash of the upper-cased, accent-stripped,
blank-collapsed last name, first name and e-mail (the phone when there is no
e-mail; the école's UAI when there is neither, so two namesakes in a département
are not merged). A parent seen through two children is one person, whatever
the files. Those with "Autorité parentale" Oui are ranked 1, 2… in column
order, the others 0.

Errors: a file without a mandatory column, undecodable, or not CSV text raises
`SourceError` (the run aborts, nothing applied). A row with a bad or missing
value, or a wrong number of fields, becomes `Rejected` (``file:line``) and the
rest goes on; the representatives of a rejected pupil are still yielded.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hub.errors import SourceError
from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    Rejected,
)
from hub.sync import Feed
from plugins.onde.columns import GUARDIAN_FIELDS, Layout, fold, read_layout, unaccented

NIVEAUX = ("TPS", "PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2")
NIVEAU_LABELS = (  # on normalized labels (see `fold`), for exports that spell the niveau out
    (re.compile(r"\bTOUTE PETITE SECTION\b"), "TPS"),
    (re.compile(r"\bPETITE SECTION\b"), "PS"),
    (re.compile(r"\bMOYENNE SECTION\b"), "MS"),
    (re.compile(r"\bGRANDE SECTION\b"), "GS"),
    (re.compile(r"\bCOURS PREPARATOIRE\b"), "CP"),
    (re.compile(r"\bCOURS ELEMENTAIRE (?:1|1E|1ER|1RE|1ERE|PREMIERE)\b"), "CE1"),
    (re.compile(r"\bCOURS ELEMENTAIRE (?:2|2E|2EME|DEUXIEME|SECOND|SECONDE)\b"), "CE2"),
    (re.compile(r"\bCOURS MOYEN (?:1|1E|1ER|1RE|1ERE|PREMIERE)\b"), "CM1"),
    (re.compile(r"\bCOURS MOYEN (?:2|2E|2EME|DEUXIEME|SECOND|SECONDE)\b"), "CM2"),
)
NO = {"NON", "N", "0", "FAUX", "FALSE", "NO"}
DIVISION_MAX = 60  # enrollment.division column width
CHUNK = 1 << 16


def fold_name(text: str) -> str:
    """A name as the representative key sees it: upper case, no accents, blanks collapsed."""
    text = unaccented(text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.encode("ascii", "ignore").decode().split())


@dataclass(frozen=True, slots=True)
class OndeFile:
    path: Path
    codec: str  # for open()
    encoding: str  # for people: UTF-8, UTF-8 with BOM, Windows-1252
    layout: Layout


def list_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise SourceError(f"ONDE directory {directory} does not exist")
    files = sorted((p for p in directory.iterdir() if p.suffix.lower() == ".csv" and p.is_file()),
                   key=lambda p: p.name)  # fmt: skip
    if not files:
        raise SourceError(f"no ONDE file in {directory}: expected *.csv exports")
    return files


def detect_encoding(path: Path) -> tuple[str, str]:
    """(codec, label): strict UTF-8 over every byte if it decodes, else Windows-1252; SourceError otherwise."""
    try:
        with path.open("rb") as raw:
            head = raw.read(len(codecs.BOM_UTF8))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not head:
        raise SourceError(f"{path}: empty file, expected a CSV header line")
    utf8 = _first_error(path, "utf-8")
    if utf8 is None:
        return ("utf-8-sig", "UTF-8 with BOM") if head == codecs.BOM_UTF8 else ("utf-8", "UTF-8")
    if (cp1252 := _first_error(path, "cp1252")) is None:
        return "cp1252", "Windows-1252"
    raise SourceError(f"{path}: not a text file in UTF-8 ({utf8}) nor in Windows-1252 ({cp1252})")


def _first_error(path: Path, codec: str) -> str | None:
    """None if the whole file decodes in ``codec``, else where it fails; NUL bytes mean not CSV at all."""
    decoder, offset = codecs.getincrementaldecoder(codec)("strict"), 0
    with path.open("rb") as raw:
        while chunk := raw.read(CHUNK):
            if (nul := chunk.find(b"\x00")) >= 0:
                raise SourceError(f"{path}: not CSV text (NUL byte at offset {offset + nul}: binary or UTF-16?)")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = offset + exc.start - (len(exc.object) - len(chunk))  # the decoder may hold earlier bytes
                return f"byte 0x{exc.object[exc.start]:02x} at offset {at}"
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return f"truncated sequence at offset {offset}"
    return None


def read_feed(directory: Path, *, school_year: int, delimiter: str = ";", column_names: dict | None = None) -> Feed:
    """Check every file's encoding and header now (errors surface at once); read the rows as the core iterates."""
    files = []
    for path in list_files(directory):
        codec, label = detect_encoding(path)
        files.append(OndeFile(path, codec, label, read_layout(path, codec, delimiter, column_names or {})))
    by_encoding: dict[str, list[str]] = {}
    for f in files:
        by_encoding.setdefault(f.encoding, []).append(f.path.name)
    encodings = "; ".join(
        f"{label}: {', '.join(names)}" if len(names) <= 3 else f"{label}: {len(names)} files"
        for label, names in by_encoding.items()
    )
    return Feed(
        items=OndeReader(school_year, delimiter).items(files),
        complete=True,
        cursor=None,
        description=f"ONDE: {len(files)} CSV file(s) from {directory} ({encodings})",
        details={"files": [f.path.name for f in files], "encodings": {f.path.name: f.encoding for f in files}},
    )


class Reject(Exception):
    """A row the reader cannot turn into a pupil; becomes `Rejected`."""


@dataclass(slots=True)
class School:
    """What the first pass over a file learns about one école."""

    ref: str
    name: str = ""
    commune: str = ""
    classes: dict[str, str] = field(default_factory=dict)  # code -> label


class OndeReader:
    """Turns the rows of a file sequence into model items, remembering écoles and parents across files."""

    def __init__(self, school_year: int, delimiter: str = ";"):
        self.school_year = school_year
        self.delimiter = delimiter
        self.schools_seen: set[str] = set()
        self.parents_seen: set[str] = set()  # jointures: one parent yielded once per feed

    def items(self, files: list[OndeFile]) -> Iterator:
        for f in files:
            for uai, school in self.survey(f).items():
                if uai not in self.schools_seen:
                    self.schools_seen.add(uai)
                    if school.name:
                        yield establishment(uai, school)
            for line, row in self.rows(f):
                yield from self.row_items(f, line, row)

    def rows(self, f: OndeFile) -> Iterator[tuple[int, list[str]]]:
        """(line number, fields) of each non-blank row after the header; SourceError if the file breaks."""
        line = 1
        try:
            with f.path.open(encoding=f.codec, newline="") as text:
                reader = csv.reader(text, delimiter=self.delimiter)
                next(reader, None)
                line = reader.line_num + 1
                for row in reader:
                    if any(cell.strip() for cell in row):
                        yield line, row
                    line = reader.line_num + 1
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(f"{f.path}:{line}: cannot read: {exc}") from exc

    def survey(self, f: OndeFile) -> dict[str, School]:
        """First pass: the écoles of a file, with their name, commune and classes (small, kept in memory)."""
        schools: dict[str, School] = {}
        columns = f.layout.columns
        for line, row in self.rows(f):
            if _fit(row, f.layout.width) is None:
                continue
            uai = _cell(row, columns, "uai").upper() or f.layout.file_uai
            if not uai:
                continue
            school = schools.setdefault(uai, School(f"{f.path.name}:{line}"))
            school.name = school.name or _cell(row, columns, "school_name")
            school.commune = school.commune or _cell(row, columns, "commune")
            if label := _cell(row, columns, "classe"):
                school.classes.setdefault(division_code(label), label)
        return schools

    def row_items(self, f: OndeFile, line: int, raw: list[str]) -> Iterator:
        ref = f"{f.path.name}:{line}"
        row = _fit(raw, f.layout.width)
        if row is None:
            yield Rejected(ref, f"{len(raw)} fields where the header has {f.layout.width}")
            return
        columns = f.layout.columns
        ine = _cell(row, columns, "ine").upper()
        uai = _cell(row, columns, "uai").upper() or f.layout.file_uai
        guardians: list[Guardianship] = []
        legal = 0
        for n, fields in f.layout.guardians:
            try:
                parent = self.representative(row, fields, uai, ref)
            except Reject as exc:
                yield Rejected(ref, f"responsable {n}: {exc}; the link is left out")
                continue
            if parent is None:
                continue
            if parent.jointure not in self.parents_seen:
                self.parents_seen.add(parent.jointure)
                yield parent
            authority = _cell(row, fields, "authority")
            rank = 0 if fold(authority) in NO else (legal := legal + 1)
            guardians.append(Guardianship(f"jnt:{parent.jointure}", rank))
        try:
            yield self.pupil(row, columns, ine, uai, tuple(guardians), ref)
        except Reject as exc:
            yield Rejected(ref, str(exc), f"ine:{ine}" if ine else "")

    def pupil(self, row, columns, ine: str, uai: str, guardians: tuple[Guardianship, ...], ref: str) -> Person:
        if not ine:
            raise Reject("no INE: an école pupil is matched by INE only")
        problems = []
        last = _cell(row, columns, "last_name") or _cell(row, columns, "birth_name")
        first = _cell(row, columns, "first_name")
        if not last or not first:
            problems.append("missing last name (Nom d'usage élève / Nom élève)" if not last else "missing first name")
        born = _cell(row, columns, "birth_date")
        birth_date = parse_date(born)
        if birth_date is None:
            problems.append(f"birth date {born!r} is not a date (JJ/MM/AAAA)" if born else "missing birth date")
        label = _cell(row, columns, "niveau")
        niveau = parse_niveau(label)
        if niveau is None:
            problems.append(f"unknown niveau {label!r} (expected {', '.join(NIVEAUX)})" if label else "missing niveau")
        classe = _cell(row, columns, "classe")
        if not classe:
            problems.append("missing Classe")
        if not uai:
            problems.append("no UAI école in the row nor in the file name")
        if problems:
            raise Reject("; ".join(problems))
        code = division_code(classe)
        return Person(
            PersonKind.ELEVE, last, first, ine=ine, birth_date=birth_date, uai=uai,
            enrollment=Enrollment(self.school_year, uai, "", niveau, code),
            memberships=(Membership(uai, code, GroupKind.DIVISION),), guardians=guardians, source_ref=ref,
        )  # fmt: skip

    def representative(self, row, fields: dict[str, int], uai: str, ref: str) -> Person | None:
        """The representative of one column group, or None when the group is empty."""
        values = {name: _cell(row, fields, name) for name in GUARDIAN_FIELDS}
        if not any(values[name] for name in ("last_name", "first_name", "email", "phone")):
            return None
        last, first, email = values["last_name"], values["first_name"], values["email"]
        if not last or not first:
            raise Reject("missing last name or first name")
        contact = email.lower() or _phone(values["phone"]) or f"uai:{uai}"
        text = "\x1f".join((fold_name(last), fold_name(first), contact))
        jointure = f"onde-{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"
        return Person(PersonKind.PARENT, last, first, jointure=jointure, email=email or None, source_ref=ref)


def establishment(uai: str, school: School) -> Establishment:
    groups = [Group(uai, code, GroupKind.DIVISION, label) for code, label in school.classes.items()]
    return Establishment(uai, school.name, EstablishmentKind.ECOLE, school.commune, groups=groups,
                         source_ref=school.ref)  # fmt: skip


def division_code(label: str) -> str:
    """The class label with blanks collapsed; a label over 60 characters is cut and suffixed with its hash."""
    code = " ".join(label.split())
    if len(code) <= DIVISION_MAX:
        return code
    suffix = hashlib.blake2b(code.encode(), digest_size=4).hexdigest()
    return f"{code[: DIVISION_MAX - 9].rstrip()}-{suffix}"


def parse_niveau(label: str) -> str | None:
    """CP…CM2 or a maternelle section, from a code ("CE 1", "C.P.") or a label ("CM2 - Cours moyen 2e année")."""
    tokens = fold(label).split()
    if not tokens:
        return None
    for candidate in (tokens[0], "".join(tokens[:2]), "".join(tokens[:3])):
        if candidate in NIVEAUX:
            return candidate
    folded = " ".join(tokens)
    return next((code for pattern, code in NIVEAU_LABELS if pattern.search(folded)), None)


DATE_FORMATS = (re.compile(r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})$"),
                re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})$"))  # fmt: skip


def parse_date(value: str) -> date | None:
    for pattern in DATE_FORMATS:
        if m := pattern.match(value):
            try:
                return date(int(m["y"]), int(m["m"]), int(m["d"]))
            except ValueError:
                return None
    return None


def _fit(row: list[str], width: int) -> list[str] | None:
    """The row if it has the header's width (extra empty trailing fields are dropped), else None."""
    if len(row) == width:
        return row
    if len(row) > width and not any(cell.strip() for cell in row[width:]):
        return row[:width]
    return None


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return " ".join(row[index].split()) if index is not None else ""


def _phone(value: str) -> str:
    """Digits only, +33/0033 written as a leading 0, so one number written two ways is one key."""
    digits = re.sub(r"\D", "", value)
    for prefix in ("0033", "33"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 9:
            return "0" + digits[len(prefix) :]
    return digits
