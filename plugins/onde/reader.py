"""Read ONDE CSV exports (pupils, their responsables, the écoles' teachers) as a stream of `hub.model` items.

ONDE (ex Base élèves 1er degré) lets a directeur d'école download an
"extraction" of the école, and a circonscription export several écoles in one
file. Its official column list is not published; this reader accepts the
exports as they are downloaded, described here.

Two layouts of the folder ``[plugins.onde] path``, which may sit side by side:

* **one sub-folder per école** (the écoles' own extraction): named by the
  école's UAI, optionally followed by its name (``0151001G``,
  ``0151001G École Jules Ferry``, ``0151001G_Jules_Ferry``), holding the three
  files ONDE writes: ``CSVExtraction-eleves.csv``,
  ``CSVExtraction-responsables.csv``, ``CSVExtraction-enseignants.csv``. They
  have no INE and no UAI column: the école is the folder's. ``path`` may itself
  be such a folder.
* **single files** at the top of ``path`` (the older layout): one per école or
  per circonscription, a pupil per row with its representatives in columns, an
  INE column and a UAI école column (or a file name ending in ``_<UAI>.csv``).

A file's kind comes from its name (``CSVExtraction-eleves``, ``-responsables``,
``-enseignants``, any case), else from its header (a ``Prénom enfant`` column:
responsables; ``Directeur``: enseignants; otherwise pupils). A responsables or
enseignants file must be in an école's folder. Sub-folders not named by a UAI
and files other than ``*.csv`` are ignored; the feed's notes list them.

Every file is read row by row, in name order (never a whole file in memory):
fields separated by ``;`` (setting ``delimiter``), quoted or not, first line =
header. Each physical line is decoded on its own, as strict UTF-8 else as
Windows-1252 (ONDE's own), so a file mixing both reads right; the feed's
description says which each file used. Header names are matched case- and
accent-insensitively, any run of punctuation or blanks counting as one space
("Nom d'usage élève" = "NOM D USAGE ELEVE"); the first column matching a field
wins. The setting ``column_names`` maps a pupils-file field below to the header
a local export uses instead. The lists live in `plugins.onde.columns`.

Pupils (``CSVExtraction-eleves.csv``, or a single file):

=================  ==========================================================  =========
field              accepted headers (besides a ``column_names`` override)       mandatory
=================  ==========================================================  =========
uai                UAI école, UAI, Code UAI, UAI de l'école, Numéro UAI, RNE    [1]
school_name        Nom école, Nom de l'école, Dénomination école, École          no [2]
commune            Commune école, Commune de l'école, Commune, Ville école       no
ine                INE, INE élève, Numéro INE, Identifiant national élève       no
last_name          Nom d'usage élève, Nom d'usage, Nom usage élève               yes [3]
birth_name         Nom élève, Nom de famille élève, Nom de naissance élève, Nom  yes [3]
first_name         Prénom élève, Prénom, Premier prénom élève                    yes
birth_date         Date naissance, Date de naissance, Date naissance élève,      yes
                   Né(e) le — JJ/MM/AAAA or AAAA-MM-JJ
sex                Sexe, Sexe élève                                              no [4]
niveau             Niveau, Niveau élève, Niveau scolaire                         yes [5]
classe             Classe, Libellé classe, Nom classe, Classe élève              yes
cycle              Cycle, Cycle élève (``CYCLE II``…)                            no [4]
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

Responsables (``CSVExtraction-responsables.csv``): Civilité responsable [4];
Nom usage responsable and/or Nom responsable (the usage name preferred);
Prénom responsable; Courriel; Téléphone portable, domicile, travail (the first
non-empty, in that order, for the key); addresses [4]; then one group per child,
repeated: Nom d'usage enfant, Nom de famille enfant, Prénom enfant, Classes
enfants. Enseignants (``CSVExtraction-enseignants.csv``): Civilité [4]; Nom
usage and/or Nom; Prénom; Courriel; Directeur (oui/non); Classe; addresses and
phones [4]. A teacher on several rows (one per class) is one person.

[1] or the école's folder, or a file name ending in ``_<UAI>.csv``. [2] or the
folder's name; without either no `Establishment` is yielded: the école must
already be known (from AAF). [3] one of the two: the usage name is shown, the
birth name is the fallback. [4] read, not kept: the model has no field for it.
[5] CP, CE1, CE2, CM1, CM2, the maternelle sections TPS, PS, MS, GS, and the
inclusion schemes ULIS (also written CLIS, ULIS école) and UPE2A, as codes or
labels ("CM2 - Cours moyen 2e année", "Grande section"); an unknown or empty
niveau leaves the pupil without one, with a warning.

Keys. A pupil is keyed by INE when the file has one, else by the jointure
``onde-<hex>``, a BLAKE2b hash of the école's UAI, the folded birth name (Nom
élève, else the usage name), first name and birth date. Every pupil carries
that jointure, with an INE too, so the core recognises the pupil when the INE
becomes known. Two pupils are never merged on names alone: two rows of one
école with the same names and birth date and no INE share a key, and the core
rejects the second as a duplicate for someone to look at. A responsable gets
``onde-<hex>`` from the folded last name, first name and e-mail (the phone when
there is no e-mail, the école's UAI when neither: two namesakes in a
département are not merged); a parent seen through two children is one person,
whatever the files. A teacher gets ``onde-ens-<hex>`` from the folded names and
e-mail (the école's UAI without one), the function ENS in the école (and DIR
when Directeur is oui) and the division of each class. Folded: upper case, no
accents, blanks collapsed.

What is yielded, per école: its `Establishment` (kind école, its classes as
division groups) when its name is known, the responsables, then the pupils
(parents always before their children); the teachers come last. Single-file
representatives with "Autorité parentale" Oui are ranked 1, 2… in column order,
the others 0; the responsables of an extraction are ranked 1, 2… in the order
the file lists them for the child, once the child is found among the école's
pupils by family name (birth or usage), first name and class. A child no pupil
or several pupils fit is a `Notice` (a warning), never a guess. The division
code is the class label with blanks collapsed (cut to 60 characters with a hash
suffix when longer); MEF is left empty (ONDE has none). An invalid e-mail is
left out with a `Notice`, the person kept.

Errors. A file without a mandatory column, not CSV text (binary, UTF-16, no
header), or a responsables/enseignants file outside an école's folder raises
`SourceError` (the run aborts, nothing applied). A row that cannot be trusted
becomes `Rejected` (``file:line`` and the reason) and the rest goes on: a line
in neither encoding, text already garbled ("FranÃ§ois": UTF-8 misread as
Latin-1), a byte order mark in the middle, the header line again, a number of
fields other than the header's (extra empty fields at the end excepted: a
shifted row is then caught by its values), missing names or birth date, no
class. The
representatives of a rejected pupil are still yielded. A file with its header
only yields nothing (an école folder whose pupils file is empty yields nothing
at all); the notes say so.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hub.hookspecs import Feed
from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Notice,
    Person,
    PersonKind,
    Rejected,
)
from plugins.onde import people
from plugins.onde.columns import CHILD_FIELDS, GUARDIAN_FIELDS, KINDS, fold, fold_name
from plugins.onde.csvfile import Row, rows
from plugins.onde.folders import OndeFile, Unit, find_units, notes

__all__ = ["division_code", "fold_name", "parse_niveau", "read_feed"]

NIVEAUX = ("TPS", "PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2", "ULIS", "UPE2A")
NIVEAU_CODES = {**{n: n for n in NIVEAUX}, "CLIS": "ULIS", "ULISECOLE": "ULIS"}
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
    (re.compile(r"\b(?:UNITE LOCALISEE|CLASSE) POUR L INCLUSION SCOLAIRE\b"), "ULIS"),
    (re.compile(r"\bUNITE PEDAGOGIQUE POUR (?:LES )?ELEVES ALLOPHONES\b"), "UPE2A"),
)
NO = {"NON", "N", "0", "FAUX", "FALSE", "NO"}
DIVISION_MAX = 60  # enrollment.division column width


def read_feed(directory: Path, *, school_year: int, delimiter: str = ";", column_names: dict | None = None) -> Feed:
    """Check every file's encoding and header now (errors surface at once); read the rows as the core iterates."""
    units, ignored = find_units(directory, delimiter, column_names or {})
    files = [f for u in units for kind in KINDS for f in u.files[kind]]
    by_encoding: dict[str, list[str]] = {}
    for f in files:
        by_encoding.setdefault(f.csv.encoding, []).append(f.name)
    encodings = "; ".join(
        f"{label}: {', '.join(names)}" if len(names) <= 3 else f"{label}: {len(names)} files"
        for label, names in by_encoding.items()
    )
    feed = Feed(
        items=(),
        complete=True,
        cursor=None,
        description=f"ONDE: {len(files)} CSV file(s) from {directory} ({encodings})",
        details={"files": [f.name for f in files], "encodings": {f.name: f.csv.encoding for f in files}},
        notes=notes(units, ignored),
    )
    feed.items = OndeReader(school_year, delimiter, feed).items(units)
    return feed


class Reject(Exception):
    """A row the reader cannot turn into a pupil; becomes `Rejected`."""


@dataclass(slots=True)
class School:
    """What the first pass over a pupils file learns about one école."""

    ref: str
    name: str = ""
    commune: str = ""
    classes: dict[str, str] = field(default_factory=dict)  # code -> label


class OndeReader:
    """Turns the units into model items, remembering écoles, parents and teachers across units."""

    def __init__(self, school_year: int, delimiter: str, feed: Feed):
        self.school_year, self.delimiter, self.feed = school_year, delimiter, feed
        self.schools_seen: set[str] = set()
        self.parents_seen: set[str] = set()  # jointures: one parent yielded once per feed
        self.teachers = people.Teachers()

    def items(self, units: list[Unit]) -> Iterator:
        self.feed.records = 0
        for unit in units:
            yield from self.unit_items(unit)
        yield from self.teachers.people.values()

    def unit_items(self, unit: Unit) -> Iterator:
        children = people.Children()
        schools, pupils = self.survey(unit, children)
        if not pupils:
            where = ", ".join(f.name for f in unit.files["eleves"]) or "no pupils file"
            self.feed.notes.append(f"{unit.name}: no pupil ({where}): nothing read from it")
            return
        for uai, school in schools.items():
            school.name = school.name or (unit.school_name if uai == unit.uai else "")
            if uai not in self.schools_seen:
                self.schools_seen.add(uai)
                if school.name:
                    yield establishment(uai, school)
        links: dict[str, list[str]] = {}  # pupil source_ref -> parent jointures, in the file's order
        for f in unit.files["responsables"]:
            yield from self.responsables(f, unit.uai, children, links)
        for f in unit.files["enseignants"]:
            yield from self.enseignants(f, unit.uai)
        for f in unit.files["eleves"]:
            for row in self.rows(f):
                yield from self.row_items(f, row, links)

    def rows(self, f: OndeFile) -> Iterator[Row]:
        for row in rows(f.csv, self.delimiter):
            self.feed.records += 1
            yield row

    def survey(self, unit: Unit, children: people.Children) -> tuple[dict[str, School], int]:
        """First pass over the pupils files: the écoles with their classes, the children to link; the row count."""
        schools: dict[str, School] = {}
        count = 0
        for f in unit.files["eleves"]:
            columns = f.layout.columns
            for row in rows(f.csv, self.delimiter):
                count += 1
                cells, problem = _usable(f, row)
                if problem:
                    continue
                uai = _cell(cells, columns, "uai").upper() or f.layout.file_uai
                if not uai:
                    continue
                school = schools.setdefault(uai, School(f"{f.name}:{row.line}"))
                school.name = school.name or _cell(cells, columns, "school_name")
                school.commune = school.commune or _cell(cells, columns, "commune")
                label = _cell(cells, columns, "classe")
                if label:
                    school.classes.setdefault(division_code(label), label)
                if unit.files["responsables"]:
                    names = (_cell(cells, columns, "birth_name"), _cell(cells, columns, "last_name"))
                    children.add(f"{f.name}:{row.line}", names, _cell(cells, columns, "first_name"), label)
        return schools, count

    def row_items(self, f: OndeFile, row: Row, links: dict[str, list[str]]) -> Iterator:
        ref = f"{f.name}:{row.line}"
        cells, problem = _usable(f, row)
        if problem:
            yield Rejected(ref, problem)
            return
        columns = f.layout.columns
        uai = _cell(cells, columns, "uai").upper() or f.layout.file_uai
        guardians: list[Guardianship] = []
        legal = 0
        for n, fields in f.layout.guardians:
            try:
                parent, problem = self.representative(cells, fields, uai, ref)
            except Reject as exc:
                yield Rejected(ref, f"responsable {n}: {exc}; the link is left out")
                continue
            if parent is None:
                continue
            if problem:
                yield Notice(ref, f"responsable {n}: {problem}", f"jnt:{parent.jointure}")
            if parent.jointure not in self.parents_seen:
                self.parents_seen.add(parent.jointure)
                yield parent
            rank = 0 if fold(_cell(cells, fields, "authority")) in NO else (legal := legal + 1)
            guardians.append(Guardianship(f"jnt:{parent.jointure}", rank))
        for jointure in links.get(ref, ()):
            guardians.append(Guardianship(f"jnt:{jointure}", legal := legal + 1))
        yield from self.pupil(cells, columns, uai, tuple(guardians), ref)

    def pupil(self, cells: list[str], columns: dict[str, int], uai: str, guardians: tuple[Guardianship, ...],
              ref: str) -> Iterator:  # fmt: skip
        """The pupil of a row, with a Notice for an unknown niveau; Rejected when names or birth date lack."""
        ine = _cell(cells, columns, "ine").upper()
        birth = _cell(cells, columns, "birth_name")
        last, first = _cell(cells, columns, "last_name") or birth, _cell(cells, columns, "first_name")
        born = _cell(cells, columns, "birth_date")
        birth_date = parse_date(born)
        jointure = people.pupil_jointure(uai, birth or last, first, birth_date) if last and first and birth_date else ""
        problems = []
        if not last or not first:
            problems.append("missing last name (Nom d'usage élève / Nom élève)" if not last else "missing first name")
        if birth_date is None:
            problems.append(f"birth date {born!r} is not a date (JJ/MM/AAAA)" if born else "missing birth date")
        classe = _cell(cells, columns, "classe")
        if not classe:
            problems.append("missing Classe")
        if not uai:
            problems.append("no UAI école in the row, the folder or the file name")
        key = f"ine:{ine}" if ine else f"jnt:{jointure}" if jointure else ""
        if problems:
            yield Rejected(ref, "; ".join(problems), key)
            return
        label = _cell(cells, columns, "niveau")
        niveau = parse_niveau(label)
        if niveau is None:
            expected = ", ".join(NIVEAUX)
            what = f"unknown niveau {label!r}" if label else "no niveau"
            yield Notice(ref, f"{what}: the pupil is kept without one (expected {expected})", key)
        code = division_code(classe)
        yield Person(
            PersonKind.ELEVE, last, first, jointure=jointure, ine=ine or None, birth_date=birth_date, uai=uai,
            enrollment=Enrollment(self.school_year, uai, "", niveau or "", code),
            memberships=(Membership(uai, code, GroupKind.DIVISION),), guardians=guardians, source_ref=ref,
        )  # fmt: skip

    def representative(self, cells: list[str], fields: dict[str, int], uai: str,
                       ref: str) -> tuple[Person | None, str]:  # fmt: skip
        """The representative of one column group (None when the group is empty), and an e-mail problem."""
        values = {name: _cell(cells, fields, name) for name in GUARDIAN_FIELDS}
        if not any(values[name] for name in ("last_name", "first_name", "email", "phone")):
            return None, ""
        last, first = values["last_name"], values["first_name"]
        if not last or not first:
            raise Reject("missing last name or first name")
        email, problem = people.checked_email(values["email"])
        return people.parent(last, first, email, values["phone"], uai, ref), problem

    def responsables(self, f: OndeFile, uai: str, children: people.Children, links: dict[str, list[str]]) -> Iterator:
        """Each responsable once per feed, with a Notice for a child not found; ``links`` gets the found ones."""
        columns = f.layout.columns
        for row in self.rows(f):
            ref = f"{f.name}:{row.line}"
            cells, problem = _usable(f, row)
            if problem:
                yield Rejected(ref, f"{problem}; this responsable's links are left out")
                continue
            last = _cell(cells, columns, "last_name") or _cell(cells, columns, "birth_name")
            first = _cell(cells, columns, "first_name")
            if not last or not first:
                yield Rejected(ref, "missing Nom or Prénom responsable; this responsable's links are left out")
                continue
            email, problem = people.checked_email(_cell(cells, columns, "email"))
            phone = next((p for p in (_cell(cells, columns, n) for n in ("mobile", "home", "work")) if p), "")
            parent = people.parent(last, first, email, phone, uai, ref)
            key = f"jnt:{parent.jointure}"
            if problem:
                yield Notice(ref, problem, key)
            if parent.jointure not in self.parents_seen:
                self.parents_seen.add(parent.jointure)
                yield parent
            for n, group in enumerate(f.layout.children, 1):
                child = {name: _cell(cells, group, name) for name in CHILD_FIELDS}
                if not any(child.values()):
                    continue
                found = children.find((child["birth_name"], child["last_name"]), child["first_name"], child["classe"])
                if len(found) == 1:
                    mine = links.setdefault(found[0], [])
                    if parent.jointure not in mine:
                        mine.append(parent.jointure)
                    continue
                who = " ".join(filter(None, (child["first_name"], child["birth_name"] or child["last_name"])))
                why = f"fits {len(found)} pupils ({', '.join(found)})" if found else "is not among the école's pupils"
                yield Notice(ref, f"child {n} {who!r} of class {child['classe']!r} {why}: not linked", key)

    def enseignants(self, f: OndeFile, uai: str) -> Iterator:
        """Teachers are gathered (one per jointure, across écoles) and yielded at the end; rejects now."""
        columns = f.layout.columns
        for row in self.rows(f):
            ref = f"{f.name}:{row.line}"
            cells, problem = _usable(f, row)
            if problem:
                yield Rejected(ref, problem)
                continue
            last = _cell(cells, columns, "last_name") or _cell(cells, columns, "birth_name")
            first = _cell(cells, columns, "first_name")
            if not last or not first:
                yield Rejected(ref, "missing Nom or Prénom of the enseignant")
                continue
            email, problem = people.checked_email(_cell(cells, columns, "email"))
            directeur = fold(_cell(cells, columns, "directeur")) in people.YES
            classe = _cell(cells, columns, "classe")
            teacher = self.teachers.add(uai, last, first, email, directeur, (division_code(classe),) if classe else (),
                                        ref)  # fmt: skip
            if problem:
                yield Notice(ref, problem, f"jnt:{teacher.jointure}")


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
    """A niveau code from a code ("CE 1", "C.P.", "CLIS", "ULIS école") or a label ("CM2 - Cours moyen 2e année")."""
    tokens = fold(label).split()
    if not tokens:
        return None
    for candidate in (tokens[0], "".join(tokens[:2]), "".join(tokens[:3])):
        if candidate in NIVEAU_CODES:
            return NIVEAU_CODES[candidate]
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


def _usable(f: OndeFile, row: Row) -> tuple[list[str] | None, str]:
    """(the row's cells, "") when it can be read, else (None, why not): a decoding problem or a wrong width."""
    cells = _fit(row.cells, f.layout.width)
    if row.problem or cells is None:
        return None, row.problem or f"{len(row.cells)} fields where the header has {f.layout.width}"
    return cells, ""


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
