"""Write the demo académie's écoles as ONDE CSV exports, the way `plugins.onde.reader` reads them.

Files are Windows-1252, ``;``-separated, CRLF lines, like the exports a
directeur d'école downloads. Layouts (``demo_layout``):

* ``extraction`` (what an école really exports): a folder ``<UAI> <name>`` per
  école holding ``CSVExtraction-eleves.csv``, ``CSVExtraction-responsables.csv``
  (the parents, naming their children by name and class) and
  ``CSVExtraction-enseignants.csv`` (its first teacher is the directeur), no INE;
* ``ecole``: one ``ONDE_<UAI>.csv`` per école, a pupil per row with INE and parents;
* ``circonscription``: the same rows, one ``ONDE_circonscription_<NN>.csv`` per
  group of écoles feeding one collège.

People stream unit by unit (a collège and its écoles): only one unit's parents
(and one école's pupils, for the extraction) are held, never the académie.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from hub.demo import Academie
from hub.model import Establishment, EstablishmentKind, Person, PersonKind

DEFAULT_ENCODING = "cp1252"
LAYOUTS = ("extraction", "ecole", "circonscription")
# The single-file layout with INE stays the default while other tests match ONDE and AAF pupils by INE
DEFAULT_LAYOUT = "extraction"
GUARDIAN_COLUMNS = ("Nom", "Prénom", "Lien", "Courriel", "Téléphone", "Autorité parentale")
HEADER = (
    "UAI école", "Nom école", "Commune école", "INE", "Nom élève", "Nom d'usage élève", "Prénom élève",
    "Date naissance", "Sexe", "Niveau", "Classe", "Cycle",
    *(f"{column} responsable {n}" for n in (1, 2) for column in GUARDIAN_COLUMNS),
)  # fmt: skip
CYCLES = {"TPS": "1", "PS": "1", "MS": "1", "GS": "1", "CP": "2", "CE1": "2", "CE2": "2", "CM1": "3", "CM2": "3"}
ROMAN = {"1": "I", "2": "II", "3": "III"}
ELEVES_HEADER = (
    "Nom Elève", "Nom d'usage Elève", "Prénom Elève", "Date naissance", "Sexe", "Adresse1", "Cp1", "Commune1",
    "Pays1", "Adresse2", "Cp2", "Commune2", "Pays2", " Cycle", "Niveau", "Classe", "Attestation fournie",
    "Autorisations associations", "Autorisations photos", "Décision de passage",
)  # fmt: skip
RESPONSABLES_HEADER = (
    "Civilité Responsable", "Nom usage responsable", "Nom responsable", "Prénom responsable", "Adresse responsable",
    "CP responsable", "Commune responsable", "Pays", "Courriel", "Téléphone domicile", "Téléphone travail",
    "Téléphone portable",
)  # fmt: skip
CHILD_HEADER = ("Nom d'usage enfant", "Nom de famille enfant", "Prénom enfant", "Classes enfants")
ENSEIGNANTS_HEADER = (
    "Civilité", "Nom usage", "Nom", "Prénom", "Adresse", "CP", "Commune", "Pays", "Courriel", "Téléphone domicile",
    "Téléphone portable", "Directeur", "Classe",
)  # fmt: skip


def write_file(
    path: Path,
    rows: Iterable[Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = DEFAULT_ENCODING,
    delimiter: str = ";",
    quoting: int = csv.QUOTE_MINIMAL,
) -> Path:
    """Write one export from hand-made rows (tests, fixtures)."""
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=quoting)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_academie(
    academie: Academie, directory: Path, *, layout: str = DEFAULT_LAYOUT, encoding: str = DEFAULT_ENCODING
) -> list[Path]:
    """Write the écoles' pupils with their parents (and teachers, for the extraction); return the files written."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown ONDE layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, ecoles in enumerate(_ecoles_by_unit(academie), 1):
        if layout == "extraction":
            for ecole, pupils, family, teachers in ecoles:
                written += write_extraction(directory, ecole, list(pupils), family, list(teachers), encoding=encoding)
        elif layout == "ecole":
            for ecole, pupils, family, _ in ecoles:
                labels = _labels(ecole)
                rows = (_row(ecole, labels, p, family) for p in pupils)
                written.append(write_file(directory / f"ONDE_{ecole.uai}.csv", rows, encoding=encoding))
        else:
            rows = (
                _row(e, labels, p, family) for e, pupils, family, _ in ecoles for labels in [_labels(e)] for p in pupils
            )
            written.append(write_file(directory / f"ONDE_circonscription_{number:02d}.csv", rows, encoding=encoding))
    return written


def write_extraction(directory: Path, ecole: Establishment, pupils: list[Person], family: dict[str, Person],
                     teachers: list[Person], *, encoding: str = DEFAULT_ENCODING) -> list[Path]:  # fmt: skip
    """One école's three files in ``<UAI> <name>/``; ``family`` holds the pupils' parents by jointure."""
    folder = directory / f"{ecole.uai} {ecole.name.replace('/', '-')}"
    folder.mkdir(exist_ok=True)
    return [write_file(folder / name, rows, header=header, encoding=encoding)
            for name, (header, rows) in extraction_tables(ecole, pupils, family, teachers).items()]  # fmt: skip


Table = tuple[tuple[str, ...], list[list[str]]]  # a file's header and rows


def extraction_tables(ecole: Establishment, pupils: list[Person], family: dict[str, Person], teachers: list[Person],
                      *, directors: set[str] | None = None) -> dict[str, Table]:  # fmt: skip
    """One école's extraction as ``{file name: (header, rows)}``, the three files ONDE writes.

    Pupils need an enrollment; ``family`` maps the jointure of every parent the pupils name (their
    ``guardians``) to that parent. ``directors``: the jointures of the teachers marked Directeur;
    None marks the first teacher (the demo's rule).
    """
    labels = _labels(ecole)
    children: dict[str, list[Person]] = {}  # parent jointure -> children, parents in order of first mention
    for p in pupils:
        for g in p.guardians:
            children.setdefault(g.parent_key.removeprefix("jnt:"), []).append(p)
    groups = max((len(c) for c in children.values()), default=1)
    responsables = []
    for jointure, mine in children.items():
        parent = family[jointure]
        row = ["", parent.last_name, parent.last_name, parent.first_name, "", "", "", "", parent.email or "", "",
               "", ""]  # fmt: skip
        for child in mine:
            row += ["", child.last_name, child.first_name, labels.get(child.enrollment.division, "")]
        responsables.append(row + [""] * len(CHILD_HEADER) * (groups - len(mine)))
    enseignants = []
    for n, t in enumerate(teachers):
        classes = [labels.get(a.group_code, a.group_code) for a in t.assignments] or [""]
        director = n == 0 if directors is None else t.jointure in directors
        enseignants += [["", t.last_name, t.last_name, t.first_name, "", "", "", "", t.email or "", "", "",
                         "oui" if director else "non", label] for label in classes]  # fmt: skip
    return {
        "CSVExtraction-eleves.csv": (ELEVES_HEADER, [_extraction_row(p, labels) for p in pupils]),
        "CSVExtraction-responsables.csv": (RESPONSABLES_HEADER + CHILD_HEADER * groups, responsables),
        "CSVExtraction-enseignants.csv": (ENSEIGNANTS_HEADER, enseignants),
    }


def table_bytes(header: Sequence[str], rows: Iterable[Sequence[str]], *, encoding: str = DEFAULT_ENCODING,
                delimiter: str = ";") -> bytes:  # fmt: skip
    """A file's content as `write_file` writes it (``;``, CRLF, quoted when needed), in memory; no header line
    when ``header`` is empty."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _ecoles_by_unit(academie: Academie) -> Iterator[Iterator[tuple]]:
    """Per unit that has écoles, per école: (école, its pupils, the unit's parents by jointure, its teachers).

    Consume each fully, in order, before the next. Pupils, parents and teachers stream unit by unit, site by
    site (see `hub.demo.Academie.persons_of`); the plan's counts say where each unit and site ends.
    """
    pupils = academie.persons_of(PersonKind.ELEVE)
    parents = academie.persons_of(PersonKind.PARENT)
    teachers = academie.persons_of(PersonKind.ENSEIGNANT)
    for unit in academie.units:
        family = {p.jointure: p for p in islice(parents, unit.parents)}
        if not any(s.establishment.kind == EstablishmentKind.ECOLE for s in unit.sites):
            deque(islice(pupils, unit.pupils), maxlen=0)
            deque(islice(teachers, sum(s.teachers for s in unit.sites)), maxlen=0)
            continue

        def ecoles(unit=unit, family=family):
            for site in unit.sites:
                mine, staff = islice(pupils, site.pupils), islice(teachers, site.teachers)
                if site.establishment.kind == EstablishmentKind.ECOLE:
                    yield site.establishment, mine, family, staff
                else:
                    deque(mine, maxlen=0)
                    deque(staff, maxlen=0)

        yield ecoles()


def _extraction_row(pupil: Person, labels: dict[str, str]) -> list[str]:
    e = pupil.enrollment
    cycle = f"CYCLE {ROMAN[CYCLES[e.niveau]]}" if e.niveau in CYCLES else ""
    born = pupil.birth_date.isoformat() if pupil.birth_date else ""
    addresses = [""] * 8
    return [pupil.last_name, "", pupil.first_name, born, "", *addresses, cycle, e.niveau,
            labels.get(e.division, e.division), "", "", "", ""]  # fmt: skip


def _labels(ecole: Establishment) -> dict[str, str]:
    return {g.code: g.label or g.code for g in ecole.groups}


def _row(ecole: Establishment, labels: dict[str, str], pupil: Person, family: dict[str, Person]) -> list[str]:
    """One pupil's row of the single-file layouts; ``family`` holds the parents of the pupil's unit by jointure."""
    if pupil.uai != ecole.uai or pupil.enrollment is None:
        raise RuntimeError(f"demo académie order changed: pupil {pupil.ine} is not in école {ecole.uai}")
    e = pupil.enrollment
    row = [
        ecole.uai, ecole.name, ecole.commune, pupil.ine or "", pupil.last_name, pupil.last_name, pupil.first_name,
        pupil.birth_date.strftime("%d/%m/%Y") if pupil.birth_date else "", "", e.niveau,
        labels.get(e.division, e.division), CYCLES.get(e.niveau, ""),
    ]  # fmt: skip
    for n in range(2):
        g = pupil.guardians[n] if n < len(pupil.guardians) else None
        parent = g and family.get(g.parent_key.removeprefix("jnt:"))
        if g and parent is None:
            raise RuntimeError(f"demo académie order changed: parent {g.parent_key} is not in the pupil's unit")
        if parent is None:
            row += [""] * len(GUARDIAN_COLUMNS)
        else:
            row += [parent.last_name, parent.first_name, "", parent.email or "", "", "Oui" if g.rank else "Non"]
    return row
