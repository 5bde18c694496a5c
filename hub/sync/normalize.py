"""Normalize what sources yield: validate identifiers, canonicalize values, apply Delta patches.

Pure functions over `hub.model` records: a RecordError names the record and the
reason, and the caller journals it and skips the record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from datetime import date
from functools import lru_cache

from hub.errors import RecordError
from hub.model import (
    Establishment,
    EstablishmentKind,
    Function,
    GroupKind,
    Membership,
    Nomenclature,
    NomenclatureKind,
    Person,
    PersonKind,
    PersonPatch,
    validate_ine,
)
from hub.model import (
    validate_uai as _validate_uai,
)
from hub.sdet import staff_kind
from hub.store.tables import SUBJECT_SEPARATOR, person_function, teaching_assignment
from hub.store.tables import enrollment as enrollment_table
from hub.store.tables import establishment as establishment_table
from hub.store.tables import group as group_table
from hub.store.tables import nomenclature as nomenclature_table
from hub.store.tables import person as person_table

MATCH_KEY_WIDTH = person_table.c.match_key.type.length
KEY_WIDTH = person_table.c.person_key.type.length
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PSEUDO_CODE = re.compile(r"^[0-9A-Z][0-9A-Z._-]{0,7}$")


def _limit(column) -> int:
    return column.type.length


# The widths of the stored columns: a longer value is the record's error, not the run's.
LIMITS = {
    "last name": _limit(person_table.c.last_name),
    "first name": _limit(person_table.c.first_name),
    "email": _limit(person_table.c.email),
    "jointure": _limit(person_table.c.jointure),
    "MEF": _limit(enrollment_table.c.mef),
    "niveau": _limit(enrollment_table.c.niveau),
    "division": _limit(enrollment_table.c.division),
    "group code": _limit(group_table.c.code),
    "group label": _limit(group_table.c.label),
    "subject": _limit(teaching_assignment.c.subject),
    "name": _limit(establishment_table.c.name),
    "commune": _limit(establishment_table.c.commune),
    "zone": _limit(establishment_table.c.zone),
    "territorial unit": _limit(establishment_table.c.territorial_unit),
    "guardian key": KEY_WIDTH,
    "function code": _limit(person_function.c.code),
    "function label": _limit(person_function.c.label),
    "discipline": _limit(person_function.c.discipline),
    "code": _limit(nomenclature_table.c.code),
    "label": _limit(nomenclature_table.c.label),
    "national code": _limit(nomenclature_table.c.national_code),
    "niveau label": _limit(nomenclature_table.c.niveau),
    "filiere": _limit(nomenclature_table.c.filiere),
}


GROUP_CODE_WIDTH, SUBJECT_WIDTH = LIMITS["group code"], LIMITS["subject"]
LAST_WIDTH, FIRST_WIDTH, EMAIL_WIDTH = LIMITS["last name"], LIMITS["first name"], LIMITS["email"]
JOINTURE_WIDTH, MEF_WIDTH, NIVEAU_WIDTH = LIMITS["jointure"], LIMITS["MEF"], LIMITS["niveau"]
DIVISION_WIDTH, FUNCTION_CODE_WIDTH = LIMITS["division"], LIMITS["function code"]
FUNCTION_LABEL_WIDTH, DISCIPLINE_WIDTH = LIMITS["function label"], LIMITS["discipline"]
# keyword (as check_text takes it) -> (label, column width)
_CHECKS = {label.replace(" ", "_"): (label, width) for label, width in LIMITS.items()}


def check_text(record: str, **values: str | None) -> None:
    """Refuse a value wider than its column, or carrying a control, escape or bidi-override character (which
    would garble a terminal or a page). Keyword names are LIMITS keys with _ for spaces."""
    for name, value in values.items():
        label, limit = _CHECKS[name]
        if not value or (len(value) <= limit and value.isprintable()):  # the usual case, C-fast
            continue
        if len(value) > limit:
            raise RecordError(record, f"{label} {value[:40]!r}… is {len(value)} characters, more than {limit}")
        if bad := CONTROL.search(value):
            raise RecordError(
                record,
                f"{label} {CONTROL.sub('?', value)[:40]!r} contains the control character U+{ord(bad.group()):04X}",
            )


def normalize_establishment(item: Establishment) -> Establishment:
    ref = item.source_ref or f"establishment {item.uai}"
    uai = pseudo_code(item.uai, record=ref) if item.pseudo else _validate_uai(item.uai, record=ref)
    if not (item.name or "").strip():
        raise RecordError(ref, "missing name")
    check_text(
        ref, name=item.name.strip(), commune=item.commune, zone=item.zone, territorial_unit=item.territorial_unit
    )
    groups, seen = [], set()
    for g in item.groups:
        code = (g.code or "").strip()
        check_text(ref, group_code=code, group_label=g.label)
        if code and code not in seen:
            seen.add(code)
            groups.append(dataclasses.replace(g, uai=uai, code=code, kind=GroupKind(g.kind)))
    return dataclasses.replace(
        item,
        uai=uai,
        name=item.name.strip(),
        kind=EstablishmentKind(item.kind),
        secteur_college=_validate_uai(item.secteur_college, record=ref) if item.secteur_college else None,
        groups=groups,
        pseudo=bool(item.pseudo),
    )


def pseudo_code(value: str, *, record: str) -> str:
    """The code of a pseudo-structure: up to 8 letters, digits and . _ - (it is stored where UAIs are)."""
    code = (value or "").strip().upper()
    if not PSEUDO_CODE.match(code):
        raise RecordError(
            record,
            f"structure code {value!r} is neither a UAI nor a storable pseudo-structure code "
            "(up to 8 letters, digits, . _ -)",
        )
    return code


_VALID_UAIS: dict[str, str] = {}  # a valid UAI as written -> canonical: the same few thousand in every record


def _fine(value: str, width: int) -> bool:
    """The usual case of `check_text`, without its call: short enough and printable."""
    return len(value) <= width and value.isprintable()


def normalize_person(item: Person, pseudo: frozenset[str] | set[str] = frozenset()) -> Person:
    """Validate and canonicalize one person, or raise RecordError naming it and the reason.

    ``pseudo``: the codes of known pseudo-structures, accepted where a UAI is expected.
    Runs once per record of every sync: the common case (canonical values) is kept cheap.
    """
    ref = item.source_ref or f"person {item.jointure or item.ine}"

    def checked_uai(value: str, *, record: str) -> str:
        if (known := _VALID_UAIS.get(value)) is not None:  # valid whatever the pseudo-structures
            return known
        code = (value or "").strip().upper()
        if code in pseudo:
            return code
        code = _validate_uai(value, record=record)
        if len(_VALID_UAIS) < 100_000:
            _VALID_UAIS[value] = code
        return code

    kind = item.kind if type(item.kind) is PersonKind else PersonKind(item.kind)
    last, first = (item.last_name or "").strip(), (item.first_name or "").strip()
    if not last or not first:
        raise RecordError(ref, "missing last name or first name")
    email, jointure = (item.email or "").strip() or None, (item.jointure or "").strip() or None
    if not (
        _fine(last, LAST_WIDTH)
        and _fine(first, FIRST_WIDTH)
        and (email is None or _fine(email, EMAIL_WIDTH))
        and (jointure is None or _fine(jointure, JOINTURE_WIDTH))
    ):
        check_text(ref, last_name=last, first_name=first, email=email, jointure=jointure)
    ine = validate_ine(item.ine, record=ref) if item.ine else None
    if kind == PersonKind.ELEVE and not ine and not item.jointure:
        raise RecordError(ref, "a pupil needs an INE or a jointure")
    if item.birth_date is not None and not isinstance(item.birth_date, date):
        raise RecordError(ref, f"birth date {item.birth_date!r} is not a date")
    uai = checked_uai(item.uai, record=ref) if item.uai else None
    enrollment = item.enrollment
    if enrollment:
        if not (
            _fine(enrollment.mef or "", MEF_WIDTH)
            and _fine(enrollment.niveau or "", NIVEAU_WIDTH)
            and _fine(enrollment.division or "", DIVISION_WIDTH)
        ):
            check_text(ref, MEF=enrollment.mef, niveau=enrollment.niveau, division=enrollment.division)
        for subject in enrollment.subjects:
            if not _fine(subject, SUBJECT_WIDTH):
                check_text(ref, subject=subject)
            if SUBJECT_SEPARATOR in subject or not subject.strip():  # it separates the codes enrollment keeps
                raise RecordError(ref, f"subject code {subject!r} is empty or contains {SUBJECT_SEPARATOR!r}")
        if (code := checked_uai(enrollment.uai, record=ref)) != enrollment.uai:
            enrollment = dataclasses.replace(enrollment, uai=code)
    # the relations below are rebuilt only where a value changes: most records are canonical already
    memberships = []
    for m in item.memberships:
        if not _fine(m.code, GROUP_CODE_WIDTH):
            check_text(ref, group_code=m.code)
        if code := m.code.strip():
            member_uai = checked_uai(m.uai, record=ref)
            canonical = code == m.code and member_uai == m.uai and type(m.kind) is GroupKind
            memberships.append(m if canonical else Membership(member_uai, code, GroupKind(m.kind)))
    for g in item.guardians:
        if not _fine(g.parent_key, KEY_WIDTH):
            check_text(ref, guardian_key=g.parent_key)
    guardians = tuple({g.parent_key: g for g in item.guardians}.values())
    assignments = []
    for a in item.assignments:
        if not (_fine(a.group_code, GROUP_CODE_WIDTH) and _fine(a.subject or "", SUBJECT_WIDTH)):
            check_text(ref, group_code=a.group_code, subject=a.subject)
        code = checked_uai(a.uai, record=ref)
        assignments.append(a if code == a.uai else dataclasses.replace(a, uai=code))
    functions = []
    for f in item.functions:
        code = (f.code or "").strip().upper()
        if not (
            _fine(code, FUNCTION_CODE_WIDTH)
            and _fine(f.label or "", FUNCTION_LABEL_WIDTH)
            and _fine(f.discipline or "", DISCIPLINE_WIDTH)
        ):
            check_text(ref, function_code=code, function_label=f.label, discipline=f.discipline)
        if code:
            label, discipline = (f.label or "").strip(), (f.discipline or "").strip()
            function_uai = checked_uai(f.uai, record=ref)
            canonical = code == f.code and label == f.label and discipline == f.discipline and function_uai == f.uai
            functions.append(f if canonical else Function(function_uai, code, label, discipline))
    return Person(
        kind,
        last,
        first,
        jointure,
        ine,
        item.birth_date,
        email,
        uai,
        enrollment,
        tuple(memberships) if len(memberships) < 2 else tuple(dict.fromkeys(memberships)),
        guardians,
        tuple(assignments) if len(assignments) < 2 else tuple(dict.fromkeys(assignments)),
        tuple(functions) if len(functions) < 2 else tuple(dict.fromkeys(functions)),
        item.source_ref,
    )


def normalize_nomenclature(item: Nomenclature) -> Nomenclature:
    ref = item.source_ref or f"{item.kind} {item.code}"
    code, label = (item.code or "").strip(), (item.label or "").strip()
    if not code:
        raise RecordError(ref, "missing code")
    check_text(
        ref, code=code, label=label, national_code=item.national_code, niveau_label=item.niveau, filiere=item.filiere
    )
    return dataclasses.replace(
        item,
        kind=NomenclatureKind(item.kind),
        code=code,
        label=label,
        national_code=(item.national_code or "").strip(),
        niveau=(item.niveau or "").strip(),
        filiere=(item.filiere or "").strip(),
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
    if "functions" in changes and stored.kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
        changes["kind"] = staff_kind(changes["functions"])  # a member of staff who now teaches is a teacher
    return dataclasses.replace(stored, source_ref=patch.source_ref, **changes)


def match_key(person: Person) -> str:
    """Names and birth date, folded (no accents, case, hyphens): equal for homonyms, never an identity.

    Two long names may not fit the column: the key is then cut and suffixed with a hash of
    the whole, so it stays equal for equal people and fits on every backend.
    """
    key = f"{fold(person.last_name)}|{fold(person.first_name)}|{person.birth_date or ''}"
    if len(key) <= MATCH_KEY_WIDTH:
        return key
    return f"{key[: MATCH_KEY_WIDTH - 17]}#{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"


@lru_cache(maxsize=65536)  # names repeat a lot: folding each spelling once saves a second per 100k people
def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.upper().split())
