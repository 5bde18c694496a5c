"""Write the demo académie's écoles as ONDE CSV exports, the way `plugins.onde.reader` reads them.

Files are Windows-1252, ``;``-separated, CRLF lines, like the exports a
directeur d'école downloads. Layouts: one ``ONDE_<UAI>.csv`` per école, or one
``ONDE_circonscription_<NN>.csv`` per group of écoles feeding one collège. People
stream unit by unit (a collège and its écoles): only one unit's parents are held,
never the académie.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from hub.demo import Academie
from hub.model import Establishment, EstablishmentKind, Person, PersonKind

DEFAULT_ENCODING = "cp1252"
LAYOUTS = ("ecole", "circonscription")
GUARDIAN_COLUMNS = ("Nom", "Prénom", "Lien", "Courriel", "Téléphone", "Autorité parentale")
HEADER = (
    "UAI école", "Nom école", "Commune école", "INE", "Nom élève", "Nom d'usage élève", "Prénom élève",
    "Date naissance", "Sexe", "Niveau", "Classe", "Cycle",
    *(f"{column} responsable {n}" for n in (1, 2) for column in GUARDIAN_COLUMNS),
)  # fmt: skip
CYCLES = {"TPS": "1", "PS": "1", "MS": "1", "GS": "1", "CP": "2", "CE1": "2", "CE2": "2", "CM1": "3", "CM2": "3"}


def write_file(
    path: Path,
    rows: Iterable[Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = DEFAULT_ENCODING,
    delimiter: str = ";",
) -> Path:
    """Write one export from hand-made rows (tests, fixtures)."""
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_academie(
    academie: Academie, directory: Path, *, layout: str = "ecole", encoding: str = DEFAULT_ENCODING
) -> list[Path]:
    """Write the écoles' pupils with their parents; return the files, in the order written."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown ONDE layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for number, ecoles in enumerate(_ecoles_by_unit(academie), 1):
        if layout == "ecole":
            for uai, rows in ecoles:
                written.append(write_file(directory / f"ONDE_{uai}.csv", rows, encoding=encoding))
        else:
            rows = (row for _, ecole_rows in ecoles for row in ecole_rows)
            written.append(write_file(directory / f"ONDE_circonscription_{number:02d}.csv", rows, encoding=encoding))
    return written


def _ecoles_by_unit(academie: Academie) -> Iterator[Iterator[tuple[str, Iterator[list[str]]]]]:
    """Per unit that has écoles, per école: (UAI, its rows). Consume each fully, in order, before the next.

    Pupils and parents both stream unit by unit, site by site (see `hub.demo.Academie.persons_of`);
    the plan's counts (``unit.parents``, ``site.pupils``) say where each unit and site ends.
    """
    pupils = academie.persons_of(PersonKind.ELEVE)
    parents = academie.persons_of(PersonKind.PARENT)
    for unit in academie.units:
        family = {p.jointure: p for p in islice(parents, unit.parents)}
        if not any(s.establishment.kind == EstablishmentKind.ECOLE for s in unit.sites):
            deque(islice(pupils, unit.pupils), maxlen=0)
            continue

        def ecoles(unit=unit, family=family):
            for site in unit.sites:
                mine = islice(pupils, site.pupils)
                e = site.establishment
                if e.kind == EstablishmentKind.ECOLE:
                    labels = {g.code: g.label or g.code for g in e.groups}
                    yield e.uai, (_row(e, labels, p, family) for p in mine)
                else:
                    deque(mine, maxlen=0)

        yield ecoles()


def _row(ecole: Establishment, labels: dict[str, str], pupil: Person, family: dict[str, Person]) -> list[str]:
    """One pupil's row; ``family`` holds the parents of the pupil's unit by jointure."""
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
