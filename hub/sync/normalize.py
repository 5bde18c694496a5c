"""Normalize what sources yield: validate identifiers, canonicalize values, apply Delta patches.

Pure functions over `hub.model` records: a RecordError names the record and the
reason, and the caller journals it and skips the record.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date
from functools import lru_cache

from hub.errors import RecordError
from hub.model import (
    Establishment,
    EstablishmentKind,
    GroupKind,
    Membership,
    Person,
    PersonKind,
    PersonPatch,
    validate_ine,
    validate_uai,
)
from hub.store.tables import enrollment as enrollment_table
from hub.store.tables import establishment as establishment_table
from hub.store.tables import group as group_table
from hub.store.tables import person as person_table
from hub.store.tables import teaching_assignment


def _limit(column) -> int:
    return column.type.length


# The widths of the stored columns: a longer value is the record's error, not the run's.
LIMITS = {
    "last name": _limit(person_table.c.last_name), "first name": _limit(person_table.c.first_name),
    "email": _limit(person_table.c.email), "jointure": _limit(person_table.c.jointure),
    "MEF": _limit(enrollment_table.c.mef), "niveau": _limit(enrollment_table.c.niveau),
    "division": _limit(enrollment_table.c.division), "group code": _limit(group_table.c.code),
    "group label": _limit(group_table.c.label), "subject": _limit(teaching_assignment.c.subject),
    "name": _limit(establishment_table.c.name), "commune": _limit(establishment_table.c.commune),
}


def check_lengths(record: str, **values: str | None) -> None:
    """Refuse a value wider than its column (keyword names are LIMITS keys with _ for spaces)."""
    for name, value in values.items():
        label = name.replace("_", " ")
        limit = LIMITS[label]
        if value and len(value) > limit:
            raise RecordError(record, f"{label} {value[:40]!r}… is {len(value)} characters, more than {limit}")


def normalize_establishment(item: Establishment) -> Establishment:
    ref = item.source_ref or f"establishment {item.uai}"
    uai = validate_uai(item.uai, record=ref)
    if not (item.name or "").strip():
        raise RecordError(ref, "missing name")
    check_lengths(ref, name=item.name.strip(), commune=item.commune)
    groups, seen = [], set()
    for g in item.groups:
        code = (g.code or "").strip()
        check_lengths(ref, group_code=code, group_label=g.label)
        if code and code not in seen:
            seen.add(code)
            groups.append(dataclasses.replace(g, uai=uai, code=code, kind=GroupKind(g.kind)))
    return dataclasses.replace(
        item, uai=uai, name=item.name.strip(), kind=EstablishmentKind(item.kind),
        secteur_college=validate_uai(item.secteur_college, record=ref) if item.secteur_college else None,
        groups=groups,
    )


def normalize_person(item: Person) -> Person:
    """Validate and canonicalize one person, or raise RecordError naming it and the reason."""
    ref = item.source_ref or f"person {item.jointure or item.ine}"
    kind = PersonKind(item.kind)
    last, first = (item.last_name or "").strip(), (item.first_name or "").strip()
    if not last or not first:
        raise RecordError(ref, "missing last name or first name")
    email, jointure = (item.email or "").strip() or None, (item.jointure or "").strip() or None
    check_lengths(ref, last_name=last, first_name=first, email=email, jointure=jointure)
    ine = validate_ine(item.ine, record=ref) if item.ine else None
    if kind == PersonKind.ELEVE and not ine and not item.jointure:
        raise RecordError(ref, "a pupil needs an INE or a jointure")
    if item.birth_date is not None and not isinstance(item.birth_date, date):
        raise RecordError(ref, f"birth date {item.birth_date!r} is not a date")
    uai = validate_uai(item.uai, record=ref) if item.uai else None
    enrollment = item.enrollment
    if enrollment:
        check_lengths(ref, MEF=enrollment.mef, niveau=enrollment.niveau, division=enrollment.division)
        enrollment = dataclasses.replace(enrollment, uai=validate_uai(enrollment.uai, record=ref))
    for m in item.memberships:
        check_lengths(ref, group_code=m.code)
    for a in item.assignments:
        check_lengths(ref, group_code=a.group_code, subject=a.subject)
    memberships = tuple(dict.fromkeys(
        Membership(validate_uai(m.uai, record=ref), m.code.strip(), GroupKind(m.kind))
        for m in item.memberships if m.code.strip()
    ))
    guardians = tuple({g.parent_key: g for g in item.guardians}.values())
    assignments = tuple(dict.fromkeys(
        dataclasses.replace(a, uai=validate_uai(a.uai, record=ref)) for a in item.assignments
    ))
    return dataclasses.replace(
        item, kind=kind, last_name=last, first_name=first, ine=ine, uai=uai, enrollment=enrollment,
        memberships=memberships, guardians=guardians, assignments=assignments,
        email=email, jointure=jointure,
    )


def apply_patch(stored: Person, patch: PersonPatch) -> Person:
    """The stored person with the patch's fields replaced (see `PersonPatch` for the shorthands)."""
    known = {f.name for f in dataclasses.fields(Person)}
    changes: dict = {}
    enrollment = stored.enrollment
    memberships = list(stored.memberships)
    for name, value in patch.fields.items():
        if name.startswith("enrollment.") and enrollment is not None:
            enrollment = dataclasses.replace(enrollment, **{name.split(".", 1)[1]: value})
        elif name.startswith("memberships:"):
            kind = GroupKind(name.split(":", 1)[1])
            memberships = [m for m in memberships if m.kind != kind] + list(value)
        elif name in known - {"kind", "source_ref"}:
            changes[name] = value
        else:
            raise RecordError(patch.source_ref, f"cannot modify {name}")
    changes.setdefault("enrollment", enrollment)
    changes.setdefault("memberships", tuple(memberships))
    return dataclasses.replace(stored, source_ref=patch.source_ref, **changes)




def match_key(person: Person) -> str:
    """Names and birth date, folded (no accents, case, hyphens): equal for homonyms, never an identity."""
    return f"{fold(person.last_name)}|{fold(person.first_name)}|{person.birth_date or ''}"


@lru_cache(maxsize=65536)  # names repeat a lot: folding each spelling once saves a second per 100k people
def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.upper().split())
