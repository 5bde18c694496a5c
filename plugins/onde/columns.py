"""The ONDE export's columns: which header names which field, matched without regard to accents or case.

`plugins.onde.reader` documents the accepted headers; `read_layout` maps one
file's header line to field positions, or says which mandatory columns are
missing.
"""

from __future__ import annotations

import csv
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
# Mandatory columns, as the error message names them
MANDATORY = {
    "ine": "INE",
    "name": "Nom d'usage élève or Nom élève",
    "first_name": "Prénom élève",
    "birth_date": "Date naissance",
    "niveau": "Niveau",
    "classe": "Classe",
}
FILE_UAI = re.compile(r"(?:^|[^0-9A-Za-z])([0-9]{7}[A-Za-z])\.csv$", re.IGNORECASE)
GUARDIAN_HEADER = (
    re.compile(r"^(?P<what>.+?) (?:DU |DE LA |DE )?(?:RESPONSABLE|RESP|REPRESENTANT)(?: LEGALE?)? ?(?P<n>\d+)$"),
    re.compile(r"^(?:RESPONSABLE|RESP|REPRESENTANT)(?: LEGALE?)? ?(?P<n>\d+) (?P<what>.+)$"),
)
GUARDIAN_KEY = re.compile(r"^guardian(\d+)_(" + "|".join(GUARDIAN_FIELDS) + r")$")


def fold(text: str) -> str:
    """Upper case, no accents, every run of non-alphanumerics as one space: how headers and labels compare."""
    return " ".join(re.sub(r"[\W_]+", " ", unaccented(text)).encode("ascii", "ignore").decode().split())


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

    width: int
    columns: dict[str, int]  # field -> index
    guardians: tuple[tuple[int, dict[str, int]], ...]  # (n, field -> index), by n
    file_uai: str  # from the file name, or ""


def read_layout(path: Path, codec: str, delimiter: str, overrides: dict[str, str]) -> Layout:
    """Map the header line to fields; SourceError naming the file and the missing mandatory columns."""
    try:
        with path.open(encoding=codec, newline="") as text:
            header = next(csv.reader(text, delimiter=delimiter), None)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the header: {exc}") from exc
    if not header or not any(h.strip() for h in header):
        raise SourceError(f"{path}: the first line is empty, expected a CSV header")
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
    file_uai = m[1].upper() if (m := FILE_UAI.search(path.name)) else ""
    missing = [
        label
        for f, label in MANDATORY.items()
        if f not in columns and not (f == "name" and ({"last_name", "birth_name"} & columns.keys()))
    ]
    if "uai" not in columns and not file_uai:
        missing.append("UAI école (or a file name ending in _<UAI>.csv)")
    if missing:
        configured = [f"{f} configured as {overrides[f]!r}" for f in overrides if f in FIELDS and f not in columns]
        hint = f"; the header has one column: is the delimiter {delimiter!r} right?" if len(header) == 1 else ""
        raise SourceError(
            f"{path}: the header lacks mandatory column(s) {', '.join(missing)}"
            f"{' (' + ', '.join(configured) + ')' if configured else ''}{hint}; "
            f"found: {', '.join(h.strip() for h in header)}"
        )
    return Layout(len(header), columns, tuple(sorted(guardians.items())), file_uai)
