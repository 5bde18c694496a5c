"""Where the ONDE exports are: the école folders and single files of ``[plugins.onde] path``.

`find_units` lists them, reads each file's header (so a broken file stops the
run before anything is read) and tells each file's kind; `plugins.onde.reader`
documents the layouts and reads the units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hub.errors import SourceError
from plugins.onde.columns import FOLDER_UAI, KINDS, Layout, file_kind, read_layout
from plugins.onde.csvfile import CsvFile, open_csv


@dataclass(frozen=True, slots=True)
class OndeFile:
    csv: CsvFile
    layout: Layout
    name: str  # as source_ref shows it: the file name, with its école folder when it has one

    @property
    def path(self) -> Path:
        return self.csv.path


@dataclass(slots=True)
class Unit:
    """What is read together: one école's folder (its three kinds of file), or one single file."""

    name: str  # the folder or file name, for messages
    uai: str = ""  # the folder's école; "" for a single file (its rows or file name say)
    school_name: str = ""  # from the folder name
    files: dict[str, list[OndeFile]] = field(default_factory=lambda: {kind: [] for kind in KINDS})


def find_units(directory: Path, delimiter: str, column_names: dict) -> tuple[list[Unit], list[str]]:
    """The école folders and single files of ``directory``, headers read; what was ignored."""
    if not directory.is_dir():
        raise SourceError(f"ONDE directory {directory} does not exist")
    entries = sorted(directory.iterdir(), key=lambda p: p.name)
    csvs = [p for p in entries if p.is_file() and p.suffix.lower() == ".csv"]
    folders = [(p, m) for p in entries if p.is_dir() and (m := FOLDER_UAI.match(p.name))]
    ignored = [f"{p.name}/" if p.is_dir() else p.name for p in entries if p not in csvs and p not in dict(folders)]
    units: list[Unit] = []
    if m := FOLDER_UAI.match(directory.name):  # path is an école's folder itself
        units.append(_ecole(directory, m, csvs, "", delimiter, column_names))
    else:
        for path in csvs:
            units.append(_single(path, delimiter, column_names))
    for folder, m in folders:
        inside = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        ignored += [f"{folder.name}/{p.name}" for p in sorted(folder.iterdir()) if p not in inside]
        units.append(_ecole(folder, m, inside, f"{folder.name}/", delimiter, column_names))
    if not any(u.files[kind] for u in units for kind in KINDS):
        raise SourceError(f"no ONDE file in {directory}: expected *.csv exports or a folder per école named by its UAI")
    return units, ignored


def _single(path: Path, delimiter: str, column_names: dict) -> Unit:
    f = open_csv(path, delimiter)
    kind = file_kind(path, f.header)
    if kind != "eleves":
        raise SourceError(f"{path}: a {kind} export belongs in its école's folder, named by the école's UAI "
                          f"(e.g. {path.parent / '0151001G'}/{path.name})")  # fmt: skip
    layout = read_layout(path, f.header, kind, delimiter=delimiter, overrides=column_names)
    unit = Unit(path.name)
    unit.files["eleves"].append(OndeFile(f, layout, path.name))
    return unit


def _ecole(folder: Path, m: re.Match, paths: list[Path], prefix: str, delimiter: str, column_names: dict) -> Unit:
    unit = Unit(folder.name, m[1].upper(), " ".join((m[2] or "").replace("_", " ").split()))
    for path in paths:
        f = open_csv(path, delimiter)
        kind = file_kind(path, f.header)
        layout = read_layout(path, f.header, kind, delimiter=delimiter, overrides=column_names, location_uai=unit.uai)
        unit.files[kind].append(OndeFile(f, layout, prefix + path.name))
    return unit


def notes(units: list[Unit], ignored: list[str]) -> list[str]:
    """For the operator: mixed-encoding files, école folders lacking a file, what was ignored."""
    notes = [f"{f.name}: {f.csv.encoding}, each line decoded on its own"
             for u in units for kind in KINDS for f in u.files[kind] if " and " in f.csv.encoding]  # fmt: skip
    for u in (u for u in units if u.uai):
        lacking = [f"CSVExtraction-{kind}.csv" for kind in KINDS if not u.files[kind]]
        if lacking:
            notes.append(f"école {u.name}: no {', no '.join(lacking)}")
    if ignored:
        notes.append(f"ignored (not a *.csv file or an école folder named by its UAI): {', '.join(ignored)}")
    return notes
