"""What the AAF says of the demo académie's people that `hub.demo.Academie` leaves out, shared by the demo writers.

The AAF and LDAP demos must describe the same people (their digests are compared),
so the functions, professeurs principaux, structure ids and dictionaries they write
come from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import chain

from hub.demo import Academie
from hub.demo_vocabulary import COLLEGE_SUBJECTS, DISCIPLINES, LEVELS, LYCEE_SUBJECTS
from hub.model import EstablishmentKind, Function, GroupKind, Nomenclature, NomenclatureKind, Person, PersonKind

# Functions given to non-teaching staff, in order, per establishment (the demo académie has none)
STAFF_FUNCTIONS = (("DIR", "DIRECTION"), ("EDU", "EDUCATION"), ("AED", "ASSISTANT D'EDUCATION"), ("ADF", "GESTION"))
DISCIPLINE_LABELS = {code: label for code, label in DISCIPLINES.values() if code}
# The demo's subjects with a national subject code in the BCN format (demo values, not a reference)
MATIERE_CODES = {
    "FRANCAIS": "020700", "MATHEMATIQUES": "061300", "HISTOIRE-GEOGRAPHIE": "040300", "ANGLAIS": "030201",
    "ESPAGNOL": "030602", "SVT": "062900", "PHYSIQUE-CHIMIE": "061800", "EPS": "100100", "TECHNOLOGIE": "070800",
    "ARTS PLASTIQUES": "080100", "EDUCATION MUSICALE": "080300", "SES": "050100", "PHILOSOPHIE": "010100",
    "POLYVALENT": "000100",
}  # fmt: skip


def structure_id(uai: str) -> str:
    """The ENTStructureJointure the demo gives an establishment: numeric, distinct from its UAI."""
    return f"1{uai[:7]}"


def staff_roles(academie: Academie) -> Iterator[Person]:
    """The académie's staff with what the AAF says of them and the demo académie leaves out.

    A function in their establishment (teachers ENS with the discipline of their first
    subject; other staff DIR, EDU, then AED and ADF in turn) and, in collèges and lycées,
    one professeur principal per division: the first teacher of that division who leads none yet.
    """
    divisions = {(g.uai, g.code) for e in academie.establishments if e.kind != EstablishmentKind.ECOLE
                 for g in e.groups if g.kind == GroupKind.DIVISION}  # fmt: skip
    led: set[tuple[str, str]] = set()
    staff: dict[str, int] = {}
    for p in chain(academie.persons_of(PersonKind.ENSEIGNANT), academie.persons_of(PersonKind.PERSONNEL)):
        uai = p.uai or ""
        if p.kind == PersonKind.ENSEIGNANT:
            discipline = DISCIPLINES.get(p.assignments[0].subject, ("", ""))[0] if p.assignments else ""
            function = Function(uai, "ENS", "ENSEIGNEMENT", discipline)
            keys = ((a.uai, a.group_code) for a in p.assignments)
            division = next((k for k in keys if k in divisions and k not in led), None)
            if division:
                led.add(division)
                p = replace(p, assignments=tuple(
                    replace(a, principal=True) if (a.uai, a.group_code) == division else a for a in p.assignments
                ))  # fmt: skip
        else:
            n = staff[uai] = staff.get(uai, -1) + 1
            function = Function(uai, *STAFF_FUNCTIONS[n if n < 2 else 2 + n % 2])
        yield replace(p, functions=(function,))


def demo_nomenclature(kind: NomenclatureKind) -> list[Nomenclature]:
    """The subjects the demo teaches and the MEFs its pupils follow, as the académie's dictionaries."""
    if kind == NomenclatureKind.MATIERE:
        subjects = dict.fromkeys([*COLLEGE_SUBJECTS, *LYCEE_SUBJECTS, "POLYVALENT"])
        return [Nomenclature(kind, s, s, MATIERE_CODES.get(s, "")) for s in subjects]
    return [
        Nomenclature(kind, mef, niveau, mef, niveau, "ELEMENTAIRE" if mef.startswith("00") else "GENERALE")
        for niveau, (_, mef) in LEVELS.items()
    ]


def staff_values(p: Person, key: Callable[[str], str], group_kinds: dict) -> dict[str, list[str]]:
    """A member of staff's SDET attributes (functions, classes and groups with subjects, principal), as the AAF
    and the directory write them; ``key(uai)`` is how the writer names a structure."""
    values = {"ENTPersonFonctions": [
        f"{key(f.uai)}${f.code}${f.label}" + (f"${f.discipline}${DISCIPLINE_LABELS.get(f.discipline, '')}"
                                             if f.discipline else "")
        for f in p.functions
    ]}
    taught = (("ENTAuxEnsClassesMatieres", GroupKind.DIVISION), ("ENTAuxEnsGroupesMatieres", GroupKind.GROUPE))
    for name, kind in taught:
        values[name] = [f"{key(t.uai)}${t.group_code}${t.subject}" for t in p.assignments
                        if group_kinds.get((t.uai, t.group_code), GroupKind.DIVISION) == kind]
    values["ENTAuxEnsClassesPrincipal"] = list(dict.fromkeys(f"{key(t.uai)}${t.group_code}" for t in p.assignments
                                                             if t.principal))
    return values
