"""One ONDE CSV file as rows: each physical line decoded on its own, damaged lines named.

ONDE exports are Windows-1252; a file edited or joined by hand may mix in UTF-8
lines, repeat its header, carry a byte order mark in the middle, or hold text
that was garbled before it reached us ("FranÃ§ois": UTF-8 read as Latin-1 and
saved again). Each physical line is decoded as strict UTF-8, else as
Windows-1252, so mixed files read right; a row holding a line that cannot be
trusted comes back with the reason, for the reader to reject with ``file:line``.
Only what makes the whole file unusable (not text, no header) raises `SourceError`.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hub.errors import SourceError

BOM = codecs.BOM_UTF8
# UTF-8 continuation bytes (0x80-0xBF) as Latin-1 or Windows-1252 shows them
_CONTINUATION = "".join(map(chr, range(0x80, 0xC0))) + bytes(range(0x80, 0xC0)).decode("cp1252", "ignore")
MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{re.escape(_CONTINUATION)}]{{1,3}}")


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A file whose header was read: ``encoding`` says how its lines decoded, for the operator."""

    path: Path
    header: list[str]
    encoding: str  # UTF-8, UTF-8 with BOM, Windows-1252, or "UTF-8 and Windows-1252 lines"


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # the row's first physical line
    cells: list[str]
    problem: str = ""  # why the row cannot be trusted; "" when it can


def open_csv(path: Path, delimiter: str) -> CsvFile:
    """Read the header and label the encoding (one pass over the bytes); SourceError if not CSV text."""
    codecs_seen: set[str] = set()
    header_text, bom = None, False
    try:
        with path.open("rb") as raw:
            for n, data in enumerate(raw, 1):
                if (nul := data.find(b"\x00")) >= 0:
                    raise SourceError(f"{path}:{n}: not CSV text (NUL byte at column {nul + 1}: binary or UTF-16?)")
                text, codec, problem = decode_line(data[len(BOM) :] if n == 1 and data.startswith(BOM) else data)
                codecs_seen.add(codec)
                if n == 1:
                    if problem:
                        raise SourceError(f"{path}:1: the header line {problem}")
                    header_text, bom = text, data.startswith(BOM)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if header_text is None:
        raise SourceError(f"{path}: empty file, expected a CSV header line")
    header = next(csv.reader([header_text], delimiter=delimiter), [])
    if not any(h.strip() for h in header):
        raise SourceError(f"{path}: the first line is empty, expected a CSV header")
    return CsvFile(path, header, _label(codecs_seen, bom))


def rows(f: CsvFile, delimiter: str) -> Iterator[Row]:
    """The rows after the header, blank ones skipped; SourceError only if the CSV itself breaks."""
    problems: dict[int, str] = {}
    header = [h.strip() for h in f.header]
    start = 2
    try:
        with f.path.open("rb") as raw:
            reader = csv.reader(_lines(raw, problems), delimiter=delimiter)
            next(reader, None)
            start = reader.line_num + 1
            for cells in reader:
                problem = next((problems.pop(n) for n in range(start, reader.line_num + 1) if n in problems), "")
                if not problem and [c.strip() for c in cells] == header:
                    problem = "the header line again (files joined?)"
                if problem or any(c.strip() for c in cells):
                    yield Row(start, cells, problem)
                start = reader.line_num + 1
                problems.clear()
    except (OSError, csv.Error) as exc:
        raise SourceError(f"{f.path}:{start}: cannot read: {exc}") from exc


def decode_line(data: bytes) -> tuple[str, str, str]:
    """(text, codec, problem): strict UTF-8, else Windows-1252; codec "ascii" when both would do."""
    if data.isascii():
        return data.decode("ascii"), "ascii", ""
    try:
        text, codec = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        try:
            text, codec = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError as exc:
            text = data.decode("cp1252", "replace")
            where = f"byte 0x{data[exc.start]:02x} at column {exc.start + 1}"
            return text, "", f"is neither UTF-8 nor Windows-1252 ({where})"
    if BOM in data:
        return text, codec, "holds a byte order mark (BOM) in the middle of the file (files joined?)"
    if garbled := mojibake(text):
        return text, codec, f"holds {garbled!r}, UTF-8 already misread as Latin-1 (mojibake): export the file again"
    return text, codec, ""


def mojibake(text: str) -> str:
    """The first run of characters that is UTF-8 bytes shown as Latin-1/Windows-1252 ("Ã©" for "é"), or ""."""
    for m in MOJIBAKE.finditer(text):
        raw = bytes(ord(c) if ord(c) < 256 else c.encode("cp1252")[0] for c in m.group())
        size = 2 if raw[0] < 0xE0 else 3 if raw[0] < 0xF0 else 4
        try:
            raw[:size].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return m.group()[:size]
    return ""


def _lines(raw: BinaryIO, problems: dict[int, str]) -> Iterator[str]:
    for n, data in enumerate(raw, 1):
        text, _, problem = decode_line(data[len(BOM) :] if n == 1 and data.startswith(BOM) else data)
        if problem:
            problems[n] = f"the line {problem}"
        yield text


def _label(codecs_seen: set[str], bom: bool) -> str:
    if {"utf-8", "cp1252"} <= codecs_seen:
        return "UTF-8 and Windows-1252 lines"
    if "cp1252" in codecs_seen:
        return "Windows-1252"
    return "UTF-8 with BOM" if bom else "UTF-8"
