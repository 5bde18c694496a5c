"""The département's zones file: per collège, whether its administrative zone (ZA) is taken over, whether it
is a cité mixte, and its territorial unit (UT1–UT4). Routing reads it (`hub.helpdesk.routing.Facts`).

Kept in a table of its own (``helpdesk_zone``), not on ``establishment``: the file is the only
authority on these facts, so no source's sync can overwrite them. The file is checked whole —
every UAI's check letter, every establishment known, no UAI twice, yes/no values, UT names —
and nothing is applied when one line is wrong.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select

from hub.clock import now
from hub.errors import HubError, RecordError
from hub.model import validate_uai
from hub.store.tables import establishment, helpdesk_zone
from hub.sync.journal import Journal

COLUMNS = {  # normalised header → field
    "uai": "uai",
    "za reprise": "za_taken_over", "zone administrative reprise": "za_taken_over", "reprise za": "za_taken_over",
    "za taken over": "za_taken_over",
    "ut": "territorial_unit", "unite territoriale": "territorial_unit", "territorial unit": "territorial_unit",
    "cite mixte": "cite_mixte",
}
YES, NO = {"oui", "o", "yes", "y", "1", "true", "x"}, {"non", "n", "no", "0", "false", ""}
UNIT = re.compile(r"^UT\d{1,2}$")
HEADER_HELP = "UAI;ZA reprise;UT[;cité mixte]"


class ZoneFileError(HubError):
    """The zones file cannot be applied: every problem, one line each."""

    def __init__(self, path: Path, problems: list[str]):
        shown = problems[:20]
        more = f"\n  … {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{path}: {len(problems)} problem(s), nothing applied:\n  " + "\n  ".join(shown) + more)
        self.problems = problems


@dataclass(frozen=True)
class Zone:
    uai: str
    za_taken_over: bool
    cite_mixte: bool
    territorial_unit: str | None


@dataclass
class ZoneImport:
    run_id: int | None
    lines: int
    changed: list[tuple[Zone | None, Zone | None]] = field(default_factory=list)  # (before, after)


def _plain(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _flag(value: str, line: int, column: str) -> bool:
    plain = _plain(value)
    if plain in YES or plain in NO:
        return plain in YES
    raise RecordError(f"line {line}", f"{column} {value!r} is not oui/non")


def parse_zone_file(path: Path, known: set[str]) -> tuple[list[Zone], list[str]]:
    """The zones of the file and every problem found (``known``: the stored UAIs)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=";")]
    if not rows:
        return [], [f"the file is empty; expected a header line {HEADER_HELP}"]
    header = [COLUMNS.get(_plain(name)) for name in rows[0]]
    missing = [label for name, label in (("uai", "UAI"), ("za_taken_over", "ZA reprise")) if name not in header]
    if missing:
        return [], [f"line 1: header {';'.join(rows[0])!r} has no {' or '.join(missing)} column; "
                    f"expected {HEADER_HELP}"]
    zones, problems, first_line = [], [], {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {name: cell.strip() for name, cell in zip(header, row, strict=False) if name}
        try:
            uai = validate_uai(values.get("uai", ""), record=f"line {number}")
            if uai not in known:
                raise RecordError(f"line {number}", f"establishment {uai} is not known to the hub")
            if uai in first_line:
                raise RecordError(f"line {number}", f"{uai} is already on line {first_line[uai]}")
            unit = values.get("territorial_unit", "").replace(" ", "").upper() or None
            if unit is not None and not UNIT.match(unit):
                raise RecordError(f"line {number}", f"territorial unit {values['territorial_unit']!r} is not UT1, "
                                  "UT2…")
            zone = Zone(uai, _flag(values.get("za_taken_over", ""), number, "ZA reprise"),
                        _flag(values.get("cite_mixte", ""), number, "cité mixte"), unit)
        except RecordError as exc:
            problems.append(str(exc))
            continue
        first_line[uai] = number
        zones.append(zone)
    return zones, problems


def import_zones(engine: Engine, path: Path, *, by: str, replace: bool = False, dry_run: bool = False) -> ZoneImport:
    """Check the file, then store its zones in one transaction (journaled, one event per change).

    ``replace``: establishments the file does not list lose their zone entry.
    Raises `ZoneFileError` listing every problem when any line is wrong.
    """
    with engine.connect() as conn:
        known = set(conn.execute(select(establishment.c.uai)).scalars())
        stored = {z.uai: z for z in stored_zones(conn)}
    zones, problems = parse_zone_file(path, known)
    if problems:
        raise ZoneFileError(path, problems)
    if not zones and not replace:
        raise ZoneFileError(path, ["no line after the header: nothing to import"])
    wanted = {z.uai: z for z in zones}
    changed = [(stored.get(uai), z) for uai, z in sorted(wanted.items()) if stored.get(uai) != z]
    if replace:
        changed += [(z, None) for uai, z in sorted(stored.items()) if uai not in wanted]
    result = ZoneImport(None, len(zones), changed)
    if dry_run or not changed:
        return result
    journal = Journal(engine)
    run_id = result.run_id = journal.start("zones", source=str(path)[:50], trigger=f"cli:{by}")
    moment = now()
    with engine.begin() as conn:
        gone = [before.uai for before, _ in changed if before is not None]
        for start in range(0, len(gone), 500):
            conn.execute(delete(helpdesk_zone).where(helpdesk_zone.c.uai.in_(gone[start:start + 500])))
        new = [{**after.__dict__, "updated_at": moment} for _, after in changed if after is not None]
        if new:
            conn.execute(insert(helpdesk_zone), new)
        for before, after in changed:
            journal.event(run_id, "info", path.name, f"{(after or before).uai}: {describe_zone(before)} → "
                          f"{describe_zone(after)}")
        journal.finish(run_id, "applied", conn=conn, counts={"zones.changed": len(changed), "lines": len(zones)},
                       message=f"zones of {len(changed)} establishment(s) set by {by}")
    return result


def zone_label(zone: Zone | None) -> str:
    """'ZA taken over', 'ZA rectorat, cité mixte' ('' without an entry)."""
    if zone is None:
        return ""
    return ("ZA taken over" if zone.za_taken_over else "ZA rectorat") + (", cité mixte" if zone.cite_mixte else "")


def describe_zone(zone: Zone | None) -> str:
    return f"{zone_label(zone)}, {zone.territorial_unit or 'no UT'}" if zone else "none"


def stored_zones(conn) -> list[Zone]:
    z = helpdesk_zone
    return [Zone(r.uai, r.za_taken_over, r.cite_mixte, r.territorial_unit)
            for r in conn.execute(select(z.c.uai, z.c.za_taken_over, z.c.cite_mixte, z.c.territorial_unit))]


def zones_by_uai(engine: Engine) -> dict[str, Zone]:
    with engine.connect() as conn:
        return {z.uai: z for z in stored_zones(conn)}
