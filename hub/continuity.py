"""The école → collège → lycée continuity rules, in one place, as pure functions over the model.

The sync pipeline (`hub.sync.continuity`, `hub.sync.plan`, `hub.sync.outbox`) runs them in
SQL over the whole store; here they are stated once, on single records, so each rule
can be read and table-tested without a database:

- **School year.** A school year is named by the year it starts (2026 for 2026-2027) and
  starts on the configured rollover day (``[continuity] rollover = "MM-DD"``). The sources
  stamp each enrollment with its year; an establishment's stored year is the newest one a
  complete read brought it. The first complete read of a later year *rolls it over*: the
  new enrollments replace the old (as always), and last year's classes that nobody names
  any more are archived, never deleted. A run bringing a year that has not started yet is
  held.
- **Cycle-3 networks.** An école and its secteur collège (the collège it feeds) form a
  network: one inter-establishment group per cycle-3 niveau (CM1, CM2, 6e), kept under the
  collège's UAI, holding the école pupils of CM1 and CM2 and the collège's 6e pupils, and
  the teachers of their classes (a class's niveaux are read from its code: école classes
  are named by their niveaux, "CM1-CM2"; collège 6e classes start with 6).
- **Inclusion.** A pupil of an inclusion scheme (ULIS, SEGPA, UPE2A) is in their division
  *and* in the scheme's group of their establishment, beside it.
- **Scopes.** A person is served by a target while attached to an establishment it serves
  (staff: or while holding a function there); a parent while one of their children, active,
  is. Crossing a target's scope is ``leave`` (then ``archive`` when the grace period ends)
  or ``join``; a person gone from every directory is ``delete`` (then ``archive``, then
  ``purge`` when the grace period ends): nothing is erased before the purge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache

from hub.model import Establishment, Group, GroupKind, Membership, Person, PersonKind

# --- school years ------------------------------------------------------------------------


def month_day(rollover: str) -> tuple[int, int]:
    """``"08-25"`` → ``(8, 25)``."""
    month, day = rollover.split("-")
    return int(month), int(day)


def school_year(today: date, rollover: str) -> int:
    """The school year ``today`` belongs to: the year it started, on the rollover day."""
    return today.year if (today.month, today.day) >= month_day(rollover) else today.year - 1


def year_starts(year: int, rollover: str) -> date:
    """The day school year ``year`` starts."""
    return date(year, *month_day(rollover))


def rolls_over(stored_year: int | None, read_year: int | None, *, complete: bool) -> bool:
    """Whether a read of an establishment rolls it over to a new school year.

    Only a complete read does (a Delta carries a few people; the year turns when the
    source's whole picture is the new year's), only onto a later year, and never on a
    first load (nothing stored, nothing to archive).
    """
    return complete and stored_year is not None and read_year is not None and read_year > stored_year


def too_early(read_year: int, stored_year: int | None, today: date, rollover: str) -> bool:
    """A run bringing a later school year than the store's before that year has started: held."""
    return stored_year is not None and read_year > stored_year and read_year > school_year(today, rollover)


def archives_group(*, rolled_over: bool, declared: bool, members: int, taught: int, archived: bool) -> bool:
    """Last year's class is archived when its establishment rolls over and nobody declares, joins or teaches it."""
    return rolled_over and not archived and not declared and members == 0 and taught == 0


# --- cycle-3 networks --------------------------------------------------------------------

# niveau spellings (ONDE codes, AAF ENTEleveNivFormation) → the cycle-3 niveau they are
CYCLE3 = {"CM1": "CM1", "CM2": "CM2", "6EME": "6EME", "6E": "6EME", "SIXIEME": "6EME"}
NETWORK_PREFIX = "CYCLE3-"
NETWORK_LABELS = {"CM1": "CM1", "CM2": "CM2", "6EME": "6e"}


@lru_cache(maxsize=4096)  # asked for every pupil; a few hundred spellings
def cycle3_level(niveau: str | None) -> str | None:
    """The cycle-3 niveau (CM1, CM2, 6EME) a pupil's niveau is, or None."""
    words = (niveau or "").upper().replace("È", "E").split()
    return CYCLE3.get("".join(words)) or (CYCLE3.get(words[0]) if words else None)  # "6EME SEGPA" is a 6e


def class_levels(code: str, college: bool) -> set[str]:
    """The cycle-3 niveaux a class code names: ``CE2-CM1`` → {CM1}; at a collège, ``6A``/``601`` → {6EME}."""
    if college:
        return {"6EME"} if code[:1] == "6" else set()
    words = "".join(ch if ch.isalnum() else " " for ch in code.upper()).split()
    return {CYCLE3[w] for w in words if CYCLE3.get(w) in ("CM1", "CM2")}


def network_code(level: str) -> str:
    return f"{NETWORK_PREFIX}{level}"


def network_groups(college: Establishment) -> list[Group]:
    """The inter-establishment groups of the network a collège heads: one per cycle-3 niveau, under its UAI."""
    return [Group(college.uai, network_code(level), GroupKind.INTER,
                  f"Cycle 3 {NETWORK_LABELS[level]} — réseau {college.name}"[:255])
            for level in NETWORK_LABELS]


@dataclass(frozen=True)
class Networks:
    """Which collège each école feeds (``establishment.secteur_college``): the cycle-3 networks."""

    secteur: dict[str, str]  # école UAI → collège UAI; change it through `add`, which keeps `colleges` current
    enabled: bool = True  # [continuity] networks
    _colleges: list[frozenset[str]] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def colleges(self) -> frozenset[str]:
        """The collèges heading a network: computed once, as it is asked for every pupil of a sync."""
        if not self._colleges:
            self._colleges.append(frozenset(self.secteur.values()))
        return self._colleges[0]

    def add(self, ecole: str, college: str) -> None:
        """The école feeds this collège (an establishment staged in the run)."""
        self.secteur[ecole] = college
        self._colleges.clear()

    def network_of(self, uai: str | None, level: str | None) -> str | None:
        """The collège whose network a pupil of this niveau at ``uai`` belongs to, or None."""
        if uai is None or level is None:
            return None
        if level in ("CM1", "CM2"):
            return self.secteur.get(uai)
        return uai if uai in self.colleges else None


# --- inclusion schemes -------------------------------------------------------------------

SCHEMES = ("ULIS", "SEGPA", "UPE2A")
_SCHEME_WORD = re.compile(r"^[0-9]*(ULIS|CLIS|SEGPA|UPE2A)")  # ULIS, ULISECOLE, 4SEGPA, 6EME SEGPA, UPE2A…


@lru_cache(maxsize=16384)  # asked for every pupil; niveaux and divisions repeat
def scheme_of(niveau: str | None, division: str | None = None) -> str | None:
    """The inclusion scheme a niveau or division names (``ULIS``, ``CLIS``, ``6EME SEGPA``, ``4SEGPA``), or None."""
    for text in (niveau, division):
        for word in "".join(c if c.isalnum() else " " for c in (text or "").upper()).split():
            if found := _SCHEME_WORD.match(word):
                return "ULIS" if found[1] == "CLIS" else found[1]
    return None


# --- what a pupil's record gains ---------------------------------------------------------


def derived_memberships(person: Person, networks: Networks) -> tuple[Membership, ...]:
    """A pupil's memberships with the continuity groups added: their cycle-3 network group, their scheme group;
    a teacher's with the network groups of the cycle-3 classes they teach.

    Network memberships are recomputed (a stored record brought back by a Delta loses a stale
    one); a scheme group the source already names is kept as it is.
    """
    if person.kind == PersonKind.ENSEIGNANT:
        return _teacher_memberships(person, networks)
    if person.kind != PersonKind.ELEVE:
        return person.memberships
    kept = [m for m in person.memberships if m.kind != GroupKind.INTER]
    e = person.enrollment
    if e is None:
        return tuple(kept)
    level = cycle3_level(e.niveau)
    college = networks.network_of(e.uai, level)
    if college:
        kept.append(Membership(college, network_code(level), GroupKind.INTER))
    scheme = scheme_of(e.niveau, e.division)
    if scheme and not any(m.uai == e.uai and m.code == scheme for m in kept):  # (a division may be the group)
        kept.append(Membership(e.uai, scheme, GroupKind.GROUPE))
    return tuple(kept)


def _teacher_memberships(person: Person, networks: Networks) -> tuple[Membership, ...]:
    kept = [m for m in person.memberships if m.kind != GroupKind.INTER]
    joined = {(college, level) for a in person.assignments
              for level in class_levels(a.group_code, a.uai in networks.colleges)
              if (college := networks.network_of(a.uai, level))}
    kept += [Membership(college, network_code(level), GroupKind.INTER) for college, level in sorted(joined)]
    return tuple(kept)


def with_continuity(person: Person, networks: Networks) -> Person:
    """The person as the hub stores them: their source record, plus the groups the rules put them in."""
    memberships = derived_memberships(person, networks)
    return person if memberships == person.memberships else replace(person, memberships=memberships)


# --- scopes: what a target hears ---------------------------------------------------------


def person_op(op: str, *, was_served: bool, is_served: bool) -> str | None:
    """The op a scoped target receives for a person's planned op, or None when it hears nothing.

    ``was_served``/``is_served``: the person was / is in the target's scope before / after the run.
    """
    if op == "delete":
        return "delete" if was_served else None
    if was_served and is_served:
        return op
    if is_served:
        return "join" if op in ("move", "update") else op
    if was_served:
        return "leave"
    return None


def parent_served(children: list[tuple[str | None, bool]], served: set[str] | None) -> bool:
    """A parent is served while one of their children — (UAI, active) — is active in a served establishment."""
    return any(active and uai is not None and (served is None or uai in served) for uai, active in children)


def parent_kept(*, named_deleted: bool, mentioned: bool, complete: bool, active_children: int) -> bool:
    """Whether the core keeps a parent: a complete read that leaves them out deletes them only once no
    child of theirs stays active; a source that names them deleted (a Delta deleteRequest) deletes them."""
    if named_deleted:
        return False
    return mentioned or not complete or active_children > 0


def staff_served(uai: str | None, function_uais: list[str], served: set[str] | None) -> bool:
    """A member of staff is served where they are attached and wherever they hold a function."""
    places = {u for u in (uai, *function_uais) if u}
    return bool(places) and (served is None or bool(places & served))


# --- sectorisation file ------------------------------------------------------------------


@dataclass(frozen=True)
class SectorLine:
    line: int
    ecole: str
    college: str


def parse_sector_rows(rows: list[tuple[int, list[str]]]) -> tuple[list[SectorLine], list[str]]:
    """The (école, collège) pairs of a sectorisation file's rows, and one error per bad line.

    ``rows``: (line number, fields) after the header. Each line is two UAIs with their check
    letters; an école listed twice is an error (one école feeds one collège).
    """
    from hub.errors import RecordError
    from hub.model import validate_uai

    pairs: list[SectorLine] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, fields in rows:
        cells = [f.strip() for f in fields]
        if not any(cells):
            continue
        if len(cells) != 2:
            problems.append(f"line {number}: {len(cells)} field(s), expected 2 (UAI école; UAI collège)")
            continue
        try:
            ecole, college = validate_uai(cells[0]), validate_uai(cells[1])
        except RecordError as exc:
            problems.append(f"line {number}: {exc.reason}")
            continue
        if ecole in seen:
            problems.append(f"line {number}: école {ecole} is already on line {seen[ecole]}")
            continue
        seen[ecole] = number
        pairs.append(SectorLine(number, ecole, college))
    return pairs, problems


def check_sector_pairs(pairs: list[SectorLine], kinds: dict[str, str]) -> list[str]:
    """Pairs whose écoles or collèges are unknown, or not an école and a collège (``kinds``: UAI → kind)."""
    problems = []
    for pair in pairs:
        for uai, expected in ((pair.ecole, "ecole"), (pair.college, "college")):
            kind = kinds.get(uai)
            if kind is None:
                problems.append(f"line {pair.line}: {uai} is not a known establishment")
            elif kind != expected:
                problems.append(f"line {pair.line}: {uai} is a {kind}, not a{'n' if expected == 'ecole' else ''} "
                                f"{'école' if expected == 'ecole' else 'collège'}")
    return problems
