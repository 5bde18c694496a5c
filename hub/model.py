"""Domain types shared by sources, the core and targets.

Sources turn their own format into these records; the core validates them,
stages them and diffs them against the store; targets receive them back in
`Change` objects. Nothing here knows a vendor or a file format.

Records are plain slotted dataclasses: a directory holds up to a million
people, so they must be cheap to build and hash.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache

from hub.errors import RecordError

# The 23 letters used by the Education nationale check key (no I, O, Q).
CHECK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
UAI_PATTERN = re.compile(r"^[0-9]{7}[A-Z]$")
INE_PATTERN = re.compile(r"^[0-9A-Z]{10}[A-Z]$")


class EstablishmentKind(StrEnum):
    ECOLE = "ecole"
    COLLEGE = "college"
    LYCEE = "lycee"
    LYCEE_PRO = "lycee_pro"
    EREA = "erea"
    OTHER = "autre"


class PersonKind(StrEnum):
    ELEVE = "eleve"
    PARENT = "parent"
    ENSEIGNANT = "enseignant"
    PERSONNEL = "personnel"


class PersonStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENDING_DELETION = "pending_deletion"


class NomenclatureKind(StrEnum):
    MATIERE = "matiere"  # a subject (AAF MatiereEducNat)
    MEF = "mef"  # a formation module, the grade a pupil follows (AAF MefEducNat)


class GroupKind(StrEnum):
    DIVISION = "division"
    GROUPE = "groupe"
    INTER = "inter"  # spans establishments, e.g. a cycle-3 école–collège group


def check_letter(digits: str) -> str:
    """The check letter of a 7-digit UAI or a 10-digit INE: number mod 23."""
    return CHECK_LETTERS[int(digits) % 23]


def validate_uai(value: str, *, record: str = "") -> str:
    """Return the canonical UAI or raise RecordError saying what is wrong."""
    uai, problem = _checked_uai(value or "")
    if problem:
        raise RecordError(record, problem)
    return uai


@lru_cache(maxsize=16384)  # a few thousand establishments, named in every record of a sync
def _checked_uai(value: str) -> tuple[str, str]:
    uai = value.strip().upper()
    if not UAI_PATTERN.match(uai):
        return uai, f"UAI {value!r} is not 7 digits and a letter"
    expected = check_letter(uai[:7])
    if uai[7] != expected:
        return uai, f"UAI {uai} has check letter {uai[7]}, expected {expected}"
    return uai, ""


def validate_ine(value: str, *, record: str = "") -> str:
    """Return the canonical INE or raise RecordError.

    All INE formats are 11 characters ending with a letter; the all-digit
    (RNIE) form also carries the mod-23 check letter, which is verified.
    """
    ine = (value or "").strip().upper()
    if not INE_PATTERN.match(ine):
        raise RecordError(record, f"INE {value!r} is not 10 letters or digits and a letter")
    if ine[:10].isdigit() and ine[10] != check_letter(ine[:10]):
        raise RecordError(record, f"INE {ine} has check letter {ine[10]}, expected {check_letter(ine[:10])}")
    return ine


@dataclass(slots=True)
class Group:
    """A division (class), a teaching group, or an inter-establishment group."""

    uai: str
    code: str
    kind: GroupKind = GroupKind.DIVISION
    label: str = ""


@dataclass(slots=True)
class Establishment:
    uai: str
    name: str
    kind: EstablishmentKind
    commune: str = ""
    secteur_college: str | None = None  # for an école: the collège it feeds
    zone: str | None = None  # ZP/ZA of the collège network (ticket routing)
    territorial_unit: str | None = None
    groups: list[Group] = field(default_factory=list)
    # A structure whose code is not a valid UAI (a replacement zone, a placeholder such as
    # 0000000V): kept, with the people attached to it, and marked so targets can leave it out.
    pseudo: bool = False
    source_ref: str = ""  # where the record came from, for error messages

    def digest(self) -> str:
        parts = [self.uai, self.name, self.kind, self.commune, self.secteur_college,
                 self.zone, self.territorial_unit]
        parts += sorted(f"{g.code}|{g.kind}|{g.label}" for g in self.groups)
        if self.pseudo:
            parts.append("pseudo")
        return _digest(parts)


@dataclass(slots=True, frozen=True)
class Enrollment:
    """Where a pupil is schooled this year, at which grade, and the subjects (options) they follow there.

    ``subjects``: subject codes of the nomenclature (AAF ENTEleveCodeEnseignements), sorted; GAR gets them.
    """

    school_year: int  # the year the school year starts: 2026 for 2026-2027
    uai: str
    mef: str = ""
    niveau: str = ""
    division: str = ""
    subjects: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class Membership:
    uai: str
    code: str
    kind: GroupKind = GroupKind.GROUPE


@dataclass(slots=True, frozen=True)
class Guardianship:
    """A pupil's link to a parent; rank 1 or 2 for legal representatives, 0 for other contacts."""

    parent_key: str
    rank: int = 1


@dataclass(slots=True, frozen=True)
class TeachingAssignment:
    """A teacher's class or group, with the subject taught there when the source says it.

    ``principal``: the teacher is the class's professeur principal (AAF ENTAuxEnsClassesPrincipal).
    """

    uai: str
    group_code: str
    subject: str = ""
    principal: bool = False


@dataclass(slots=True, frozen=True)
class Function:
    """What a staff member does in one establishment (AAF ENTPersonFonctions).

    ``code`` is the national function code (ENS, DOC, DIR, EDU, ADF…), ``discipline``
    the discipline code of a teacher's post when the source gives one. A person
    working in several establishments has a function in each.
    """

    uai: str
    code: str
    label: str = ""
    discipline: str = ""


@dataclass(slots=True, frozen=True)
class Nomenclature:
    """One entry of a national dictionary: a subject or a MEF (AAF MatiereEducNat, MefEducNat).

    ``national_code``: the subject's BCN code (ENTMatiereRattach) or the MEF's MEFSTAT11;
    ``niveau`` and ``filiere`` only for a MEF.
    """

    kind: NomenclatureKind
    code: str
    label: str
    national_code: str = ""
    niveau: str = ""
    filiere: str = ""
    source_ref: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.code}"

    def digest(self) -> str:
        return _digest([self.kind, self.code, self.label, self.national_code, self.niveau, self.filiere])


@dataclass(slots=True)
class Person:
    """One person as a source sees them, with the relations that source owns."""

    kind: PersonKind
    last_name: str
    first_name: str
    jointure: str | None = None
    ine: str | None = None
    birth_date: date | None = None
    email: str | None = None
    uai: str | None = None  # administrative attachment
    enrollment: Enrollment | None = None
    memberships: tuple[Membership, ...] = ()
    guardians: tuple[Guardianship, ...] = ()
    assignments: tuple[TeachingAssignment, ...] = ()
    functions: tuple[Function, ...] = ()
    source_ref: str = ""  # where the record came from, for error messages

    @property
    def key(self) -> str:
        """The identity key: INE for pupils who have one, jointure otherwise (never names)."""
        return person_key(self.kind, self.ine, self.jointure)

    def digest(self) -> str:
        """What the plan compares with the stored person's digest: any change of the text below makes every
        stored person look changed once, so it stays the text `_digest` makes of the fields, then of the sorted
        relations (None as "", the enrollment as a tuple), built in one string: it runs for every record."""
        return self.digests()[0]

    def digests(self) -> tuple[str, str]:
        """`digest`, and that of the relations alone (the text after the enrollment): a person whose
        relations did not change keeps their stored rows (apply rewrites only those that did)."""
        e = self.enrollment
        fields = (
            f"{self.kind}\x1f{'' if self.last_name is None else self.last_name}"
            f"\x1f{'' if self.first_name is None else self.first_name}"
            f"\x1f{'' if self.jointure is None else self.jointure}\x1f{'' if self.ine is None else self.ine}"
            f"\x1f{'' if self.birth_date is None else self.birth_date}"
            f"\x1f{'' if self.email is None else self.email}\x1f{'' if self.uai is None else self.uai}\x1f"
        )
        text = f"{'' if e is None else (e.school_year, e.uai, e.mef, e.niveau, e.division, *sorted(e.subjects))}"
        if self.memberships:
            text += "\x1f" + "\x1f".join(sorted([f"m|{m.uai}|{m.code}|{m.kind}" for m in self.memberships]))
        if self.guardians:
            text += "\x1f" + "\x1f".join(sorted([f"g|{g.parent_key}|{g.rank}" for g in self.guardians]))
        if self.assignments:
            text += "\x1f" + "\x1f".join(
                sorted(
                    [f"a|{a.uai}|{a.group_code}|{a.subject}" + ("|P" if a.principal else "") for a in self.assignments]
                )
            )
        if self.functions:
            text += "\x1f" + "\x1f".join(
                sorted([f"f|{f.uai}|{f.code}|{f.label}|{f.discipline}" for f in self.functions])
            )
        relations = text.encode()
        return (
            hashlib.blake2b(fields.encode() + relations, digest_size=16).hexdigest(),
            hashlib.blake2b(relations, digest_size=16).hexdigest(),
        )


def person_key(kind: str, ine: str | None, jointure: str | None) -> str:
    if kind == PersonKind.ELEVE and ine:
        return f"ine:{ine}"
    if jointure:
        return f"jnt:{jointure}"
    raise RecordError("", "a person needs an INE (pupils) or a jointure")


@dataclass(slots=True)
class PersonPatch:
    """Some fields of a stored person replaced (an AAF Delta modifyRequest).

    ``key`` may be ``jnt:<jointure>`` even for a pupil stored under their INE: the
    core finds the person by jointure. ``fields`` maps `Person` field names to new
    values, plus two shorthands: ``"enrollment.<field>"`` replaces one field of the
    enrollment, and ``"memberships:<kind>"`` replaces the memberships of one
    `GroupKind`, keeping the others.
    """

    key: str
    fields: dict
    source_ref: str = ""


@dataclass(slots=True)
class PersonDeletion:
    """A source says a person is gone (an AAF Delta deleteRequest); ``key`` as in `PersonPatch`."""

    key: str
    source_ref: str = ""


@dataclass(slots=True)
class Rejected:
    """A record the source could not read: journaled and skipped, the run goes on."""

    source_ref: str
    reason: str
    key: str = ""


@dataclass(slots=True)
class Notice:
    """Something the operator should know about a record the source did yield (kept, not skipped).

    E.g. an unknown niveau left empty, an invalid e-mail left out, a child a parent
    names that the école does not have. Journaled as a warning; the run goes on.
    """

    source_ref: str
    reason: str
    key: str = ""


@dataclass(slots=True, frozen=True)
class MembershipLink:
    """A person in a group, as a change of its own (entity ``membership``, ops add | remove)."""

    person_key: str
    uai: str
    code: str
    kind: GroupKind = GroupKind.DIVISION


@dataclass(slots=True, frozen=True)
class FamilyLink:
    """A pupil and one of their parents, as a change of its own (entity ``guardianship``, ops add | remove)."""

    pupil_key: str
    parent_key: str
    rank: int = 1


@dataclass(slots=True)
class Change:
    """What a target receives from the outbox: one operation on one entity.

    ``entity`` and its ops:
    ``establishment``: create | update; ``group``: create | update | archive (last year's
    class nobody names after a rollover) | restore (key ``UAI/code``; kind ``inter``: a
    cycle-3 network under its collège's UAI, see `hub.continuity`);
    ``person``: create | update | move | restore | delete | purge, and, for a target
    whose scope the person leaves or enters, leave | archive | join (see
    ``hookspecs.hub_target_scope``); a ``delete`` is followed by an ``archive`` once the
    grace period is over (unless restored), then ``purge``; ``membership`` (key
    ``person_key|UAI/code``) and ``guardianship`` (key ``pupil_key|parent_key``): add | remove.

    ``record`` is the entity's state when the change is delivered (None once it is
    gone); ``uai`` where the person is, ``old_uai`` where they were (a move, a delete).
    ``idempotency_key`` is the same on every retry of this change to this target.
    Within one sync, establishments and groups come before the people in them, and
    people before their memberships and family links.
    """

    op: str
    entity: str
    key: str
    idempotency_key: str
    record: Person | Establishment | Group | MembershipLink | FamilyLink | None = None
    run_id: int | None = None
    uai: str | None = None
    old_uai: str | None = None


def group_key(uai: str, code: str) -> str:
    return f"{uai}/{code}"


def _digest(parts: list) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
