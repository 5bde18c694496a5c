"""The ONDE export's columns: which header names which field, matched without regard to accents or case.

`plugins.onde.reader` documents the accepted headers. `file_kind` tells a
pupils, responsables or enseignants file apart; `read_layout` maps one file's
header line to field positions, or says which mandatory columns are missing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from hub.errors import SourceError

FIELDS: dict[str, tuple[str, ...]] = {
    "uai": ("UAI école", "UAI", "Code UAI", "UAI de l'école", "Numéro UAI", "RNE"),
    "school_name": ("Nom école", "Nom de l'école", "Dénomination école", "École"),
    "commune": ("Commune école", "Commune de l'école", "Commune", "Ville école"),
    "ine": ("INE", "INE élève", "Numéro INE", "Identifiant national élève"),
    "last_name": ("Nom d'usage élève", "Nom d'usage", "Nom usage élève"),
    "birth_name": ("Nom élève", "Nom de famille élève", "Nom de naissance élève", "Nom"),
    "first_name": ("Prénom élève", "Prénom", "Premier prénom élève"),
    "birth_date": ("Date naissance", "Date de naissance", "Date naissance élève", "Né(e) le"),
    "sex": ("Sexe", "Sexe élève"),
    "niveau": ("Niveau", "Niveau élève", "Niveau scolaire"),
    "classe": ("Classe", "Libellé classe", "Nom classe", "Classe élève"),
    "cycle": ("Cycle", "Cycle élève"),
}
GUARDIAN_FIELDS: dict[str, tuple[str, ...]] = {
    "last_name": ("Nom", "Nom d'usage", "Nom de famille"),
    "first_name": ("Prénom",),
    "link": ("Lien", "Lien de parenté", "Qualité"),
    "email": ("Courriel", "Email", "E-mail", "Mél", "Mail", "Adresse mail"),
    "phone": ("Téléphone", "Tél", "Téléphone portable", "Portable", "Téléphone domicile"),
    "authority": ("Autorité parentale",),
}
# The extraction's responsables and enseignants files (CSVExtraction-responsables/-enseignants.csv)
RESPONSABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "last_name": ("Nom usage responsable", "Nom d'usage responsable"),
    "birth_name": ("Nom responsable", "Nom de famille responsable"),
    "first_name": ("Prénom responsable",),
    "civilite": ("Civilité responsable", "Civilité"),
    "email": ("Courriel", "Courriel responsable", "Email", "E-mail", "Mél"),
    "mobile": ("Téléphone portable",),
    "home": ("Téléphone domicile",),
    "work": ("Téléphone travail",),
}
CHILD_FIELDS: dict[str, tuple[str, ...]] = {  # repeated once per child, in this order
    "last_name": ("Nom d'usage enfant",),
    "birth_name": ("Nom de famille enfant", "Nom enfant"),
    "first_name": ("Prénom enfant",),
    "classe": ("Classes enfants", "Classe enfant", "Classe enfants", "Classes enfant"),
}
ENSEIGNANT_FIELDS: dict[str, tuple[str, ...]] = {
    "last_name": ("Nom usage", "Nom d'usage"),
    "birth_name": ("Nom", "Nom de famille"),
    "first_name": ("Prénom",),
    "civilite": ("Civilité",),
    "email": ("Courriel", "Email", "E-mail", "Mél"),
    "directeur": ("Directeur", "Directeur d'école"),
    "classe": ("Classe", "Classes"),
}
KINDS = ("eleves", "responsables", "enseignants")
EXTRACTION_NAME = re.compile(r"^CSVEXTRACTION (ELEVES|RESPONSABLES|ENSEIGNANTS)\b")
NUMBERED = re.compile(r" \d+$")  # "Prénom enfant 2"
# Mandatory columns, as the error message names them
MANDATORY = {
    "name": "Nom d'usage élève or Nom élève",
    "first_name": "Prénom élève",
    "birth_date": "Date naissance",
    "niveau": "Niveau",
    "classe": "Classe",
}
FILE_UAI = re.compile(r"(?:^|[^0-9A-Za-z])([0-9]{7}[A-Za-z])\.csv$", re.IGNORECASE)
# An école's folder: its UAI, then optionally its name ("0151001G", "0151001G École Jules Ferry", "0151001G_Ferry")
FOLDER_UAI = re.compile(r"^([0-9]{7}[A-Za-z])(?:[ _-]+(.*))?$")
GUARDIAN_HEADER = (
    re.compile(r"^(?P<what>.+?) (?:DU |DE LA |DE )?(?:RESPONSABLE|RESP|REPRESENTANT)(?: LEGALE?)? ?(?P<n>\d+)$"),
    re.compile(r"^(?:RESPONSABLE|RESP|REPRESENTANT)(?: LEGALE?)? ?(?P<n>\d+) (?P<what>.+)$"),
)
GUARDIAN_KEY = re.compile(r"^guardian(\d+)_(" + "|".join(GUARDIAN_FIELDS) + r")$")


def fold(text: str) -> str:
    """Upper case, no accents, every run of non-alphanumerics as one space: how headers and labels compare."""
    return " ".join(re.sub(r"[\W_]+", " ", unaccented(text)).encode("ascii", "ignore").decode().split())


def fold_name(text: str) -> str:
    """A name as the representative key sees it: upper case, no accents, blanks collapsed."""
    text = unaccented(text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.encode("ascii", "ignore").decode().split())


def unaccented(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.upper().replace("Œ", "OE").replace("Æ", "AE"))
    return "".join(c for c in text if not unicodedata.combining(c))


def check_column_names(names: dict[str, str]) -> dict[str, str]:
    """Validate a ``column_names`` setting: every key is a field of this reader, every header non-empty."""
    unknown = [k for k in names if k not in FIELDS and not GUARDIAN_KEY.match(k)]
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}, "
            f"guardian<n>_{{{','.join(GUARDIAN_FIELDS)}}}"
        )
    if empty := [k for k, v in names.items() if not fold(v)]:
        raise ValueError(f"empty header for {', '.join(empty)}")
    return names


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each field sits in one file's rows."""

    kind: str  # one of KINDS
    width: int
    columns: dict[str, int]  # field -> index
    guardians: tuple[tuple[int, dict[str, int]], ...] = ()  # pupils file: (n, field -> index), by n
    children: tuple[dict[str, int], ...] = ()  # responsables file: one field -> index per child group
    file_uai: str = ""  # from the folder or the file name, or ""


def file_kind(path: Path, header: list[str]) -> str:
    """By the extraction's file name (CSVExtraction-eleves…), else by the header; "eleves" by default."""
    if m := EXTRACTION_NAME.match(fold(path.stem)):
        return m[1].lower()
    folded = {NUMBERED.sub("", fold(h)) for h in header}
    if folded & {fold(a) for a in CHILD_FIELDS["first_name"]}:
        return "responsables"
    if folded & {fold(a) for a in ENSEIGNANT_FIELDS["directeur"]}:
        return "enseignants"
    return "eleves"


def read_layout(
    path: Path,
    header: list[str],
    kind: str,
    *,
    delimiter: str = ";",
    overrides: dict[str, str] | None = None,
    location_uai: str = "",
) -> Layout:
    """Map the header line to fields; SourceError naming the file and the missing mandatory columns."""
    if kind == "responsables":
        layout = Layout(kind, len(header), _columns(header, RESPONSABLE_FIELDS), children=_children(header))
        missing = _missing_names(layout.columns, "Nom usage responsable or Nom responsable", "Prénom responsable")
        if not any("first_name" in child for child in layout.children):
            missing.append("Prénom enfant")
    elif kind == "enseignants":
        layout = Layout(kind, len(header), _columns(header, ENSEIGNANT_FIELDS))
        missing = _missing_names(layout.columns, "Nom usage or Nom", "Prénom")
    else:
        layout, missing = _pupil_layout(path, header, overrides or {}, location_uai)
    if missing:
        configured = [f"{f} configured as {v!r}" for f, v in (overrides or {}).items()
                      if kind == "eleves" and f in FIELDS and f not in layout.columns]  # fmt: skip
        hint = f"; the header has one column: is the delimiter {delimiter!r} right?" if len(header) == 1 else ""
        raise SourceError(
            f"{path}: the header lacks mandatory column(s) {', '.join(missing)}"
            f"{' (' + ', '.join(configured) + ')' if configured else ''}{hint}; "
            f"found: {', '.join(h.strip() for h in header)}"
        )
    return layout


def _pupil_layout(path: Path, header: list[str], overrides: dict[str, str], location_uai: str):
    wanted = {f: {fold(a) for a in aliases} for f, aliases in FIELDS.items()}
    wanted_guardian = {f: {fold(a) for a in aliases} for f, aliases in GUARDIAN_FIELDS.items()}
    override_of = {fold(h): f for f, h in overrides.items()}
    columns: dict[str, int] = {}
    guardians: dict[int, dict[str, int]] = {}
    for index, name in enumerate(header):
        folded = fold(name)
        target = override_of.get(folded)
        if target and (m := GUARDIAN_KEY.match(target)):
            guardians.setdefault(int(m[1]), {}).setdefault(m[2], index)
            continue
        if target:
            columns.setdefault(target, index)
            continue
        if found := next((f for f, names in wanted.items() if folded in names and f not in overrides), None):
            columns.setdefault(found, index)
            continue
        for pattern in GUARDIAN_HEADER:
            if m := pattern.match(folded):
                what = next((f for f, names in wanted_guardian.items() if m["what"] in names), None)
                if what and f"guardian{int(m['n'])}_{what}" not in overrides:
                    guardians.setdefault(int(m["n"]), {}).setdefault(what, index)
                break
    file_uai = location_uai or (m[1].upper() if (m := FILE_UAI.search(path.name)) else "")
    missing = [
        label
        for f, label in MANDATORY.items()
        if f not in columns and not (f == "name" and ({"last_name", "birth_name"} & columns.keys()))
    ]
    if "uai" not in columns and not file_uai:
        missing.append("UAI école (or a folder named by the UAI, or a file name ending in _<UAI>.csv)")
    layout = Layout("eleves", len(header), columns, tuple(sorted(guardians.items())), file_uai=file_uai)
    return layout, missing


def _columns(header: list[str], fields: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Field -> index of the first header naming it."""
    wanted = {f: {fold(a) for a in aliases} for f, aliases in fields.items()}
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        folded = fold(name)
        if found := next((f for f, names in wanted.items() if folded in names), None):
            columns.setdefault(found, index)
    return columns


def _children(header: list[str]) -> tuple[dict[str, int], ...]:
    """The repeated child groups, in order: a field seen again starts the next group."""
    wanted = {f: {fold(a) for a in aliases} for f, aliases in CHILD_FIELDS.items()}
    groups: list[dict[str, int]] = []
    for index, name in enumerate(header):
        folded = NUMBERED.sub("", fold(name))
        if found := next((f for f, names in wanted.items() if folded in names), None):
            if not groups or found in groups[-1]:
                groups.append({})
            groups[-1][found] = index
    return tuple(groups)


def _missing_names(columns: dict[str, int], name: str, first_name: str) -> list[str]:
    missing = [] if {"last_name", "birth_name"} & columns.keys() else [name]
    return missing + ([] if "first_name" in columns else [first_name])
