"""The SDET/AAF vocabulary every directory source shares: value formats, codes and their meaning.

The AAF files and the académie LDAP carry the same attributes (SDET names) with
the same packed values (``structKey$code``, ``id$lien$financier$légal$…``,
``structKey$fonction$libellé$discipline$libellé``); each source reads its own
transport, and this module says what the values mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from hub.model import EstablishmentKind, Function, Guardianship, PersonKind, TeachingAssignment

UAI_LIKE = re.compile(r"^[0-9]{7}[A-Z]$")
BIRTH_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
# ENTPersonFonctions codes that make a member of staff a teacher (GAR profile National_ENS / National_DOC)
TEACHING_FUNCTIONS = {"ENS", "DOC"}
# ENTStructureTypeStruct written for each kind (establishment_kind reads these and the other spellings back)
STRUCTURE_TYPES = {
    EstablishmentKind.ECOLE: "ECOLE PRIMAIRE",
    EstablishmentKind.COLLEGE: "COLLEGE",
    EstablishmentKind.LYCEE: "LYCEE",
    EstablishmentKind.LYCEE_PRO: "LYCEE PROFESSIONNEL",
    EstablishmentKind.EREA: "EREA",
    EstablishmentKind.OTHER: "AUTRE",
}
# Hub attributes that AAF lacks, written by the demo so it round-trips; a real AAF file does not have them
HUB_SECTEUR, HUB_ZONE = "HubSecteurCollege", "HubZone"

# ENTPersonProfils (SDET v5 National_XXX, or the v3 National_1..7) -> kind
PROFILE_KINDS = {
    "ELV": PersonKind.ELEVE, "TUT": PersonKind.PARENT, "ENS": PersonKind.ENSEIGNANT, "DOC": PersonKind.ENSEIGNANT,
    "DIR": PersonKind.PERSONNEL, "EVS": PersonKind.PERSONNEL, "ETA": PersonKind.PERSONNEL,
    "ACA": PersonKind.PERSONNEL, "COL": PersonKind.PERSONNEL,
    "1": PersonKind.ELEVE, "2": PersonKind.PARENT, "3": PersonKind.ENSEIGNANT, "4": PersonKind.PERSONNEL,
    "5": PersonKind.PERSONNEL, "6": PersonKind.PERSONNEL, "7": PersonKind.PERSONNEL,
}  # fmt: skip
# When an entry carries several profiles, the first kind here wins
KIND_PRECEDENCE = (PersonKind.ELEVE, PersonKind.ENSEIGNANT, PersonKind.PERSONNEL, PersonKind.PARENT)


def current_school_year(today: date | None = None) -> int:
    """The year the current school year started: from August on, this year."""
    today = today or date.today()
    return today.year if today.month >= 8 else today.year - 1


def person_kind(profiles: Iterable[str]) -> PersonKind | None:
    """The kind an ENTPersonProfils list stands for (``National_ENS`` → enseignant), None if none is known."""
    kinds = {PROFILE_KINDS.get(p.strip().upper().removeprefix("NATIONAL_")) for p in profiles}
    return next((k for k in KIND_PRECEDENCE if k in kinds), None)


def establishment_kind(type_struct: str) -> EstablishmentKind:
    """ENTStructureTypeStruct (COLLEGE, LYCEE PROFESSIONNEL, ECOLE ELEMENTAIRE…) as a kind."""
    t = " ".join(type_struct.upper().replace("É", "E").split())
    if t.startswith(("COLLEGE", "CLG")):
        return EstablishmentKind.COLLEGE
    if t in ("LP", "LYP") or t.startswith("LYCEE PROF"):
        return EstablishmentKind.LYCEE_PRO
    if t.startswith(("LYCEE", "LPO", "LGT", "LG ", "LT ")) or t in ("LG", "LT", "LYC"):
        return EstablishmentKind.LYCEE
    if t.startswith(("ECOLE", "EEPU", "EMPU", "EPPU")):
        return EstablishmentKind.ECOLE
    if t.startswith("EREA"):
        return EstablishmentKind.EREA
    return EstablishmentKind.OTHER


def guardians(links: list[str], legal_ids: list[str]) -> tuple[Guardianship, ...]:
    """ENTElevePersRelEleve ``id$lien$financier$légal$contact$paiement``: legal ones ranked 1, 2…, others 0.

    Without it, ENTEleveAutoriteParentale lists the legal representatives (older feeds).
    Shared with the LDAP source, whose directory carries the same values.
    """
    if not links:
        links = [f"{i}$$$1" for i in legal_ids]
    found, rank = [], 0
    for link in links:
        tokens = link.split("$")
        if not tokens[0]:
            continue
        legal = len(tokens) > 3 and tokens[3] == "1"
        rank += legal
        found.append(Guardianship(f"jnt:{tokens[0]}", rank if legal else 0))
    return tuple(found)




NONE = "-"
# (UAI, code, subject) as read from a ``structKey$code[$subject]`` value, the structure key resolved
Keyed = tuple[str, str, str]


def functions(values: Iterable[str], resolve) -> tuple[Function, ...]:
    """ENTPersonFonctions ``structKey$code$libellé$discipline$libellé``, one Function per value.

    ``resolve(structKey)`` returns the UAI (or raises the source's own reject error).
    A value with no function code (empty or ``-``, as ESCO directories write it) is skipped;
    repeats are kept once.
    """
    found = []
    for value in values:
        tokens = value.split("$")
        tokens = [t.strip() for t in tokens]
        tokens = [("" if t == NONE else t) for t in tokens]  # "-" stands for nothing: `…$-$SANS OBJET$-$SANS OBJET`
        if len(tokens) < 2 or not tokens[0] or not tokens[1]:
            continue
        code = tokens[1].upper()
        label = tokens[2] if len(tokens) > 2 else ""
        discipline = tokens[3] if len(tokens) > 3 else ""
        found.append(Function(resolve(tokens[0]), code, label, discipline))
    return tuple(dict.fromkeys(found))


def staff_kind(functions_: Iterable[Function]) -> PersonKind:
    """A teacher when one of the functions is a teaching one (ENS, DOC), other staff otherwise."""
    return PersonKind.ENSEIGNANT if any(f.code in TEACHING_FUNCTIONS for f in functions_) else PersonKind.PERSONNEL


def teaching_assignments(with_subjects: Iterable[Keyed], without_subjects: Iterable[Keyed] = (),
                         principal_of: Iterable[Keyed] = ()) -> tuple[TeachingAssignment, ...]:
    """A teacher's classes and groups, from the attributes that carry them.

    ``with_subjects``: ENTAuxEnsClassesMatieres / ENTAuxEnsGroupesMatieres; ``without_subjects``:
    ENTAuxEnsClasses / ENTAuxEnsGroupes (kept only for a class or group no subject names);
    ``principal_of``: ENTAuxEnsClassesPrincipal, which marks the assignments to that class
    (and adds one without subject when the teacher has none there).
    """
    principal = {(uai, code) for uai, code, _ in principal_of}
    found = [TeachingAssignment(uai, code, subject, (uai, code) in principal) for uai, code, subject in with_subjects]
    taught = {(a.uai, a.group_code) for a in found}
    for uai, code, _ in without_subjects:
        if (uai, code) not in taught:
            taught.add((uai, code))
            found.append(TeachingAssignment(uai, code, "", (uai, code) in principal))
    found += [TeachingAssignment(uai, code, "", True) for uai, code in sorted(principal - taught)]
    return tuple(dict.fromkeys(found))
