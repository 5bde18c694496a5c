"""ONDE extractions as the écoles really export them, written by the tests: a folder per école, three files.

``CSVExtraction-eleves.csv``, ``-responsables.csv`` and ``-enseignants.csv``, ``;``-separated,
Windows-1252, no INE and no UAI column (the école is the folder's).
"""

from __future__ import annotations

import csv
from pathlib import Path

from plugins.onde import writer

UAI = "0151001G"
FOLDER = f"{UAI} École Jules Ferry"


def eleve(nom: str, prenom: str, *, born: str = "2016-03-14", niveau: str = "CE2", classe: str = "CE2 Mme Martin",
          usage: str = "") -> list[str]:  # fmt: skip
    values = {"Nom Elève": nom, "Nom d'usage Elève": usage, "Prénom Elève": prenom, "Date naissance": born,
              "Sexe": "F", "Adresse1": "1 rue des Écoles", "Cp1": "15000", "Commune1": "AURILLAC", "Pays1": "FRANCE",
              " Cycle": "CYCLE II", "Niveau": niveau, "Classe": classe, "Autorisations photos": "OUI"}  # fmt: skip
    return [values.get(h, "") for h in writer.ELEVES_HEADER]


def responsable(nom: str, prenom: str, *children: tuple[str, str, str], courriel: str = "", portable: str = "",
                usage: str | None = None) -> list[str]:  # fmt: skip
    """A responsables row; ``children`` as (family name, first name, class)."""
    row = ["MME", nom if usage is None else usage, nom, prenom, "1 rue des Écoles", "15000", "AURILLAC", "FRANCE",
           courriel, "04 71 00 00 00", "", portable]  # fmt: skip
    for family_name, first_name, classe in children:
        row += ["", family_name, first_name, classe]
    return row


def enseignant(nom: str, prenom: str, *, courriel: str = "", directeur: str = "non", classe: str = "") -> list[str]:
    return ["M.", nom, nom, prenom, "", "", "", "", courriel, "", "", directeur, classe]


def write_ecole(root: Path, eleves, responsables=(), enseignants=(), *, folder: str = FOLDER,
                encoding: str = "cp1252", quoting: int = csv.QUOTE_MINIMAL) -> Path:  # fmt: skip
    """Write one école's three files; return its folder."""
    directory = root / folder
    directory.mkdir(parents=True, exist_ok=True)
    width = len(writer.RESPONSABLES_HEADER)
    groups = max([(len(r) - width) // len(writer.CHILD_HEADER) for r in responsables] + [1])
    header = writer.RESPONSABLES_HEADER + writer.CHILD_HEADER * groups
    padded = [r + [""] * (len(header) - len(r)) for r in responsables]
    for name, rows, head in (("eleves", eleves, writer.ELEVES_HEADER), ("responsables", padded, header),
                             ("enseignants", enseignants, writer.ENSEIGNANTS_HEADER)):  # fmt: skip
        writer.write_file(directory / f"CSVExtraction-{name}.csv", rows, header=head, encoding=encoding,
                          quoting=quoting)  # fmt: skip
    return directory


def header_line(header=writer.ELEVES_HEADER) -> bytes:
    return (";".join(header) + "\r\n").encode("cp1252")


def line(row: list[str], encoding: str = "cp1252") -> bytes:
    return (";".join(row) + "\r\n").encode(encoding)
