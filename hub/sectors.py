"""The département's sectorisation file: which collège each école feeds (``establishment.secteur_college``).

The AAF does not carry it; the département keeps it as a CSV (``UAI école;UAI collège``, UTF-8
or Windows-1252, one header line). `import_sectors` checks the whole file first — every UAI's
check letter, every establishment known and of the right kind, no école twice — and applies
nothing when one line is wrong. Applied, it is journaled (one event per école whose secteur
changes) and the targets serving those écoles get an establishment ``update``. The cycle-3
networks follow at the next sync (`hub.sync.continuity`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, update

from hub.clock import now
from hub.continuity import SectorLine, check_sector_pairs, parse_sector_rows
from hub.errors import HubError
from hub.hookspecs import Scope
from hub.store.tables import establishment, plan_change
from hub.sync.journal import Journal
from hub.sync.outbox import write_outbox

MAX_PROBLEMS_SHOWN = 20


class SectorFileError(HubError):
    """The file cannot be applied: every problem found, one line each."""

    def __init__(self, path: Path, problems: list[str]):
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = f"\n  … {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{path}: {len(problems)} problem(s), nothing applied:\n  " + "\n  ".join(shown) + more)
        self.problems = problems


@dataclass
class SectorImport:
    run_id: int | None
    pairs: int
    changed: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (école, before, after)


def read_sector_file(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every line after the header; UTF-8 (with or without BOM), else Windows-1252."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    rows = list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=";"), start=1))
    if rows and rows[0][1] and "UAI" in rows[0][1][0].upper() and not rows[0][1][0].strip()[:7].isdigit():
        rows = rows[1:]  # the header
    return rows


def import_sectors(engine: Engine, path: Path, *, scopes: dict[str, Scope], grace_days: int, by: str,
                   replace: bool = False, dry_run: bool = False) -> SectorImport:
    """Check the file, then set each listed école's secteur in one transaction (journaled, targets told).

    ``replace``: écoles the file does not list lose their secteur (the file is the whole sectorisation).
    Raises `SectorFileError` listing every problem when any line is wrong.
    """
    pairs, problems = parse_sector_rows(read_sector_file(path))
    e = establishment
    with engine.connect() as conn:
        stored = {row.uai: row for row in conn.execute(select(e.c.uai, e.c.kind, e.c.secteur_college))}
    problems += check_sector_pairs(pairs, {uai: row.kind for uai, row in stored.items()})
    if problems:
        raise SectorFileError(path, sorted(problems, key=_line_number))
    if not pairs and not replace:
        raise SectorFileError(path, ["no line after the header: nothing to import"])
    wanted = {pair.ecole: pair.college for pair in pairs}
    if replace:
        wanted.update({uai: None for uai, row in stored.items()
                       if row.kind == "ecole" and row.secteur_college and uai not in wanted})
    changed = sorted((uai, stored[uai].secteur_college, college) for uai, college in wanted.items()
                     if stored[uai].secteur_college != college)
    result = SectorImport(None, len(pairs), changed)
    if dry_run or not changed:
        return result
    journal = Journal(engine)
    run_id = result.run_id = journal.start("sectors", source=str(path)[:50], trigger=f"cli:{by}")
    moment = now()
    with engine.begin() as conn:
        for college in sorted({after for _, _, after in changed}, key=lambda c: c or ""):
            ecoles = [uai for uai, _, after in changed if after == college]
            for start in range(0, len(ecoles), 500):
                conn.execute(update(e).where(e.c.uai.in_(ecoles[start:start + 500]))
                             .values(secteur_college=college, updated_at=moment))
        conn.execute(insert(plan_change), [{"run_id": run_id, "source": "sectors", "entity": "establishment",
                                            "op": "update", "key": uai, "uai": uai} for uai, _, _ in changed])
        write_outbox(conn, run_id, scopes, moment, grace_days)
        conn.execute(delete(plan_change).where(plan_change.c.run_id == run_id))
        for uai, before, after in changed:
            journal.event(run_id, "info", f"{path.name}", f"école {uai}: secteur {before or 'none'} → "
                          f"{after or 'none'}", key="")
        journal.finish(run_id, "applied", conn=conn, counts={"establishment.update": len(changed),
                                                             "lines": len(pairs)},
                       message=f"secteur of {len(changed)} école(s) set by {by}")
    return result


def _line_number(problem: str) -> tuple[int, str]:
    head = problem.split(":", 1)[0]
    return (int(head.removeprefix("line ")) if head.startswith("line ") else 0, problem)


__all__ = ["SectorFileError", "SectorImport", "SectorLine", "import_sectors", "read_sector_file"]
