"""A deterministic synthetic académie, so every source can be fed the same people.

`generate_academie` only plans the académie: establishments, their divisions and
how many people each holds. People are generated on demand, one unit at a time
(a collège with the écoles of its secteur, or a lycée), from a random stream
seeded by the unit's UAI, so ``persons()`` yields the same people on every call
and a million-person académie never sits in memory.

Families are drawn within a unit: a parent is one person linked to every child
they have there (about 10% of pupils share their parents with a sibling).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

from hub.demo_details import demo_subjects
from hub.demo_vocabulary import (
    ACADEMIC_DOMAIN,
    COLLEGE_SUBJECTS,
    COMMUNES,
    DEPARTEMENTS,
    FIRST_NAMES,
    GROUP_SUBJECT,
    LAST_NAMES,
    LEVELS,
    LYCEE_SUBJECTS,
    NAMESAKES,
    PARENT_DOMAINS,
)
from hub.model import (
    Enrollment,
    Establishment,
    EstablishmentKind,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    TeachingAssignment,
    check_letter,
)

SIBLING_SHARE = 0.10  # pupils who share their parents with a brother or sister
TWO_PARENT_SHARE = 0.55  # families with two parents in the directory
STAFF_SHARE = 0.05
PUPIL_BASE, PARENT_BASE, STAFF_BASE = 10_000_000, 40_000_000, 70_000_000  # jointure ranges
UAI_PER_DEPARTEMENT = 9000
DIVISION_SIZE = {EstablishmentKind.ECOLE: 26, EstablishmentKind.COLLEGE: 28, EstablishmentKind.LYCEE: 34}
# pupils per parent-record, used to size the plan before families are drawn
_PARENTS_PER_PUPIL = (1 - SIBLING_SHARE / 2) * (1 + TWO_PARENT_SHARE)


@dataclass(frozen=True, slots=True)
class Division:
    """A class of one establishment and how many pupils of each niveau it holds."""

    code: str
    label: str
    pupils: tuple[tuple[str, int], ...]


@dataclass(slots=True)
class Site:
    """The plan of one establishment: small, kept in memory."""

    establishment: Establishment
    divisions: list[Division]
    teachers: int
    personnel: int

    @property
    def pupils(self) -> int:
        return sum(n for d in self.divisions for _, n in d.pupils)


@dataclass(slots=True)
class Unit:
    """Establishments whose people are generated together: a collège and its écoles, or a lycée."""

    key: str
    sites: list[Site]
    pupil_offset: int = 0
    parent_offset: int = 0
    staff_offset: int = 0

    @property
    def pupils(self) -> int:
        return sum(s.pupils for s in self.sites)

    @property
    def sibling_pairs(self) -> int:
        return min(round(self.pupils * SIBLING_SHARE / 2), self.pupils // 2)

    @property
    def families(self) -> int:
        return self.pupils - self.sibling_pairs

    @property
    def two_parent_families(self) -> int:
        return round(self.families * TWO_PARENT_SHARE)

    @property
    def parents(self) -> int:
        return self.families + self.two_parent_families


class Academie:
    """A planned académie: establishments in memory, people regenerated on each call."""

    def __init__(self, *, persons: int, seed: int, school_year: int, units: list[Unit]):
        self.requested = persons
        self.seed = seed
        self.school_year = school_year
        self.units = units
        self.establishments: list[Establishment] = [s.establishment for u in units for s in u.sites]

    def __repr__(self) -> str:
        return f"Academie(persons={self.requested}, seed={self.seed}, school_year={self.school_year})"

    def counts(self) -> dict[PersonKind, int]:
        """People per kind, from the plan: nothing is generated."""
        sites = [s for u in self.units for s in u.sites]
        return {
            PersonKind.ELEVE: sum(u.pupils for u in self.units),
            PersonKind.PARENT: sum(u.parents for u in self.units),
            PersonKind.ENSEIGNANT: sum(s.teachers for s in sites),
            PersonKind.PERSONNEL: sum(s.personnel for s in sites),
        }

    def persons(self) -> Iterator[Person]:
        """Every person, unit by unit (staff, pupils, parents); equal objects on every call."""
        for unit in self.units:
            yield from self._staff(unit)
            families, family_of = self._families(unit)
            yield from self._pupils(unit, families, family_of)
            yield from (p for _, parents in families for p in parents)

    def persons_of(self, kind: PersonKind | str) -> Iterator[Person]:
        """The persons of one kind, in ``persons()`` order, generating only what that kind needs."""
        kind = PersonKind(kind)
        for unit in self.units:
            if kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
                yield from (p for p in self._staff(unit) if p.kind == kind)
                continue
            families, family_of = self._families(unit)
            if kind == PersonKind.ELEVE:
                yield from self._pupils(unit, families, family_of)
            else:
                yield from (p for _, parents in families for p in parents)

    def _rng(self, unit: Unit, stream: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.school_year}:{unit.key}:{stream}")

    def _families(self, unit: Unit) -> tuple[list[tuple[str, tuple[Person, ...]]], list[int]]:
        rng = self._rng(unit, "families")
        two = [True] * unit.two_parent_families + [False] * (unit.families - unit.two_parent_families)
        rng.shuffle(two)
        families, number = [], PARENT_BASE + unit.parent_offset
        for both in two:
            last = rng.choice(LAST_NAMES)
            parents = []
            for rank in (1, 2) if both else (1,):
                name = last if rank == 1 or rng.random() < 0.6 else rng.choice(LAST_NAMES)
                first = rng.choice(FIRST_NAMES)
                domain = rng.choice(PARENT_DOMAINS)  # the number keeps namesakes' addresses apart
                email = f"{ascii_name(first)}.{ascii_name(name)}{number % 10_000_000}@{domain}"
                parents.append(Person(PersonKind.PARENT, name, first, jointure=str(number), email=email))
                number += 1
            families.append((last, tuple(parents)))
        family_of = [-1] * unit.pupils
        for i, pupil in enumerate(rng.sample(range(unit.pupils), 2 * unit.sibling_pairs)):
            family_of[pupil] = i // 2
        following = unit.sibling_pairs
        for pupil in range(unit.pupils):
            if family_of[pupil] < 0:
                family_of[pupil], following = following, following + 1
        return families, family_of

    def _pupils(self, unit: Unit, families, family_of: list[int]) -> Iterator[Person]:
        rng = self._rng(unit, "pupils")
        k = 0
        for site in unit.sites:
            uai = site.establishment.uai
            groups = {g.code for g in site.establishment.groups if g.kind == GroupKind.GROUPE}
            for division in site.divisions:
                for niveau, count in division.pupils:
                    age, mef = LEVELS[niveau]
                    for _ in range(count):
                        number = unit.pupil_offset + k
                        last, parents = families[family_of[k]]
                        k += 1
                        first = rng.choice(FIRST_NAMES)
                        born = date(self.school_year - age - (rng.random() < 0.04), 1, 1)
                        memberships = [Membership(uai, division.code, GroupKind.DIVISION)]
                        draws = rng.random(), rng.random()
                        if "LATIN" in groups and niveau in ("5EME", "4EME", "3EME") and draws[0] < 0.2:
                            memberships.append(Membership(uai, "LATIN", GroupKind.GROUPE))
                        if "EURO-ANG" in groups and draws[0] < 0.1:
                            memberships.append(Membership(uai, "EURO-ANG", GroupKind.GROUPE))
                        if "ULIS" in groups and draws[1] < 0.03:
                            memberships.append(Membership(uai, "ULIS", GroupKind.GROUPE))
                        jointure = str(PUPIL_BASE + number)
                        yield Person(
                            PersonKind.ELEVE,
                            last,
                            first,
                            jointure=jointure,
                            ine=demo_ine(self.seed, number),
                            birth_date=born + timedelta(days=rng.randrange(365)),
                            uai=uai,
                            enrollment=Enrollment(
                                self.school_year, uai, mef, niveau, division.code, demo_subjects(jointure, mef)
                            ),
                            memberships=tuple(memberships),
                            guardians=tuple(Guardianship(f"jnt:{p.jointure}", r) for r, p in enumerate(parents, 1)),
                        )

    def _staff(self, unit: Unit) -> Iterator[Person]:
        rng = self._rng(unit, "staff")
        number, emails = STAFF_BASE + unit.staff_offset, set()
        for site in unit.sites:
            plan = teaching_plan(site)
            for i in range(site.teachers + site.personnel):
                last, first = rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES)
                email = f"{ascii_name(first)}.{ascii_name(last)}"
                while email in emails:
                    email += str(rng.randint(1, 9))
                emails.add(email)
                teacher = i < site.teachers
                yield Person(
                    PersonKind.ENSEIGNANT if teacher else PersonKind.PERSONNEL,
                    last,
                    first,
                    jointure=str(number),
                    email=f"{email}@{ACADEMIC_DOMAIN}",
                    birth_date=date(self.school_year - rng.randint(24, 63), 1, 1) + timedelta(days=rng.randrange(365)),
                    uai=site.establishment.uai,
                    assignments=plan[i] if teacher else (),
                )
                number += 1


def teaching_plan(site: Site) -> list[tuple[TeachingAssignment, ...]]:
    """Who teaches what where: one class per école teacher, a subject over several divisions otherwise."""
    e = site.establishment
    codes = [d.code for d in site.divisions]
    if e.kind == EstablishmentKind.ECOLE:
        return [
            (TeachingAssignment(e.uai, codes[i], "POLYVALENT"),) if i < len(codes) else () for i in range(site.teachers)
        ]
    subjects = COLLEGE_SUBJECTS if e.kind == EstablishmentKind.COLLEGE else LYCEE_SUBJECTS
    by_subject = [list(range(j, site.teachers, len(subjects))) for j in range(len(subjects))]
    plan: list[tuple[TeachingAssignment, ...]] = []
    for i in range(site.teachers):
        subject = subjects[i % len(subjects)]
        colleagues = by_subject[i % len(subjects)]
        mine = codes[colleagues.index(i) :: len(colleagues)]
        assignments = [TeachingAssignment(e.uai, code, subject) for code in mine]
        for group in e.groups:
            if colleagues[0] == i and group.kind == GroupKind.GROUPE and GROUP_SUBJECT.get(group.code) == subject:
                assignments.append(TeachingAssignment(e.uai, group.code, subject))
        plan.append(tuple(assignments))
    return plan


def demo_ine(seed: int, number: int) -> str:
    """A unique all-digit INE with its check letter: an affine bijection of the pupil's number."""
    digits = f"{(number * 104_729 + seed * 1_234_567_891) % 10**10:010d}"
    return digits + check_letter(digits)


def ascii_name(name: str) -> str:
    """The e-mail form of a name: lower case, no accents, no spaces or apostrophes."""
    name = name.lower().replace("œ", "oe").replace("æ", "ae")
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in folded if c.isalnum() or c == "-")


def generate_academie(persons: int = 2000, seed: int = 1, school_year: int = 2026) -> Academie:
    """Plan an académie of about ``persons`` people, the same for the same arguments.

    The académie is a sequence of units planned one after the other from their own
    random streams, taken until they hold ``persons`` people: a bigger académie
    extends a smaller one (the same establishments, the same people under the same
    keys, then more), so syncing a bigger demo over a smaller one adds people and
    conflicts with none. The first unit (a collège, its écoles and a lycée) holds
    about 300 people, the next ones about 900 each (a lycée every third unit).
    """
    if persons < 1:
        raise ValueError("an académie needs at least one person")
    units: list[Unit] = []
    offsets, serial, total = [0, 0, 0], 0, 0
    while total < persons:
        unit = _plan_unit(len(units), seed, school_year, serial)
        if serial + len(unit.sites) > UAI_PER_DEPARTEMENT * len(DEPARTEMENTS):
            raise ValueError(f"{persons} persons need more UAIs than the demo départements hold")
        serial += len(unit.sites)
        unit.pupil_offset, unit.parent_offset, unit.staff_offset = offsets
        staff = sum(s.teachers + s.personnel for s in unit.sites)
        offsets = [offsets[0] + unit.pupils, offsets[1] + unit.parents, offsets[2] + staff]
        total += unit.pupils + unit.parents + staff
        units.append(unit)
    return Academie(persons=persons, seed=seed, school_year=school_year, units=units)


FIRST_UNIT_PERSONS, UNIT_PERSONS = 300, 900


def _plan_unit(index: int, seed: int, school_year: int, serial: int) -> Unit:
    """One unit, from its own random stream: whatever comes after it does not change it."""
    rng = random.Random(f"academie-unit:{index}:{seed}:{school_year}")
    with_lycee = index % 3 == 0
    persons = FIRST_UNIT_PERSONS if index == 0 else UNIT_PERSONS * (2 if with_lycee else 1)
    layout = _unit_layout(rng, index, serial, with_lycee)
    jitters = [[rng.uniform(0.8, 1.2) for _ in _levels(e)] for _, e, _ in layout]
    pupils = round(persons * (1 - STAFF_SHARE) / (1 + _PARENTS_PER_PUPIL))
    for _ in range(2):  # size the staff from a first guess, then give the pupils the rest
        sites = _sites(layout, jitters, pupils)
        staff = sum(s.teachers + s.personnel for s in sites)
        pupils = max(0, round((persons - staff) / (1 + _PARENTS_PER_PUPIL)))
    sites = _sites(layout, jitters, pupils)
    return Unit(sites[0].establishment.uai, sites)


def _uai(serial: int) -> str:
    departement = DEPARTEMENTS[serial // UAI_PER_DEPARTEMENT][:3]
    digits = f"{departement}{1000 + serial % UAI_PER_DEPARTEMENT:04d}"
    return digits + check_letter(digits)


def _unit_layout(rng: random.Random, index: int, serial: int,
                 with_lycee: bool) -> list[tuple[int, Establishment, float]]:
    """(unit, establishment, share of the unit's cohort) for a collège, its écoles and maybe a lycée."""

    def place(bassin: str | None = None) -> tuple[str, str, int]:
        communes = COMMUNES[DEPARTEMENTS[serial // UAI_PER_DEPARTEMENT][:3]]
        commune, b = rng.choice([c for c in communes if bassin in (None, c[1])] or communes)
        return commune, b, list(dict.fromkeys(b for _, b in communes)).index(b)

    commune, bassin, zone = place()
    college = Establishment(
        _uai(serial),
        f"Collège {rng.choice(NAMESAKES)}",
        EstablishmentKind.COLLEGE,
        commune,
        zone=f"{'ZP' if rng.random() < 0.7 else 'ZA'}-{zone + 1}",
        territorial_unit=bassin,
    )
    layout = [(index, college, 1.0)]
    serial += 1
    ecoles = rng.randint(3, 5)
    for _ in range(ecoles):
        commune, _, _ = place(bassin)
        label = rng.choice(("élémentaire", "primaire"))
        ecole = Establishment(_uai(serial), f"École {label} {rng.choice(NAMESAKES)}", EstablishmentKind.ECOLE, commune,
                              secteur_college=college.uai)
        layout.append((index, ecole, 1 / ecoles))
        serial += 1
    if with_lycee:
        commune, _, _ = place()
        lycee = Establishment(_uai(serial), f"Lycée {rng.choice(NAMESAKES)}", EstablishmentKind.LYCEE, commune)
        layout.append((index, lycee, 1.0))
    return layout


def _levels(e: Establishment) -> list[str]:
    ages = {EstablishmentKind.ECOLE: range(6, 11), EstablishmentKind.COLLEGE: range(11, 15)}.get(e.kind, range(15, 18))
    return [niveau for niveau, (age, _) in LEVELS.items() if age in ages]


def _sites(layout, jitters, pupils: int) -> list[Site]:
    """Share ``pupils`` among every (establishment, niveau) and cut them into divisions."""
    weights = [share * j for (_, _, share), js in zip(layout, jitters, strict=True) for j in js]
    counts = iter(_allocate(pupils, weights))
    sites = []
    for _, e, _ in layout:
        cohorts = [(niveau, next(counts)) for niveau in _levels(e)]
        divisions = _ecole_classes(cohorts) if e.kind == EstablishmentKind.ECOLE else _divisions(e, cohorts)
        size = sum(n for _, n in cohorts)
        e.groups = [Group(e.uai, d.code, GroupKind.DIVISION, d.label) for d in divisions]
        if e.kind == EstablishmentKind.COLLEGE:
            e.groups += [
                Group(e.uai, "LATIN", GroupKind.GROUPE, "Latin"),
                Group(e.uai, "ULIS", GroupKind.GROUPE, "ULIS collège"),
            ]
        elif e.kind == EstablishmentKind.LYCEE:
            e.groups += [
                Group(e.uai, "EURO-ANG", GroupKind.GROUPE, "Section européenne anglais"),
                Group(e.uai, "ULIS", GroupKind.GROUPE, "ULIS lycée"),
            ]
        if e.kind == EstablishmentKind.ECOLE:
            teachers, personnel = max(1, len(divisions)), 0
        else:
            teachers, personnel = max(4, round(size / 8)), max(1, round(size / 30))
        sites.append(Site(e, divisions, teachers, personnel))
    return sites


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder rounding: integers proportional to ``weights`` that sum to ``total``."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _divisions(e: Establishment, cohorts: list[tuple[str, int]]) -> list[Division]:
    divisions = []
    for niveau, count in cohorts:
        n = max(1, ceil(count / DIVISION_SIZE[e.kind]))
        prefix, label = {"2NDE": ("2", "2nde"), "1ERE": ("1", "1re"), "TLE": ("T", "Terminale")}.get(
            niveau, (niveau[0], f"{niveau[0]}e")
        )
        for i in range(n):
            letter = _letters(i)
            divisions.append(Division(f"{prefix}{letter}", f"{label} {letter}", ((niveau, (count + i) // n),)))
    return divisions


def _ecole_classes(cohorts: list[tuple[str, int]]) -> list[Division]:
    """Single-level classes when a cohort is big enough, mixed ones (CE2-CM1-CM2) otherwise."""
    size = DIVISION_SIZE[EstablishmentKind.ECOLE]
    classes: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    for niveau, count in cohorts:
        if count > size:
            classes += [current] if current else []
            n, current = ceil(count / size), []
            classes += [[(niveau, (count + i) // n)] for i in range(n)]
        elif count:
            current.append((niveau, count))
            if sum(c for _, c in current) >= 18:
                classes, current = classes + [current], []
    if current and classes and sum(c for _, c in current) < 8:
        classes[-1] = classes[-1] + current
    elif current:
        classes.append(current)
    codes = ["-".join(n for n, _ in members) for members in classes]
    divisions, used = [], {}
    for code, members in zip(codes, classes, strict=True):
        if codes.count(code) > 1:
            used[code] = used.get(code, -1) + 1
            code = f"{code}-{_letters(used[code])}"
        divisions.append(Division(code, code, tuple(members)))
    return divisions


def _letters(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else _letters(i // 26 - 1) + chr(ord("A") + i % 26)
