"""What a real AAF record says of a person beyond what the hub keeps: addresses, phones, birth places, options.

The hub's model ignores these attributes, but they make up most of a real record's
bytes (a pupil about 2.5 KB, a member of staff about 1.7 KB, 25 to 40 attributes), and a
sync must read them all: a demo without them would flatter every speed measured on it.
Values are drawn from a random stream seeded by the person's jointure, so a person's
details are the same on every call and no other demo value moves because of them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hub.demo_vocabulary import COLLEGE_SUBJECTS, COMMUNES, FIRST_NAMES, LAST_NAMES, LYCEE_SUBJECTS
from hub.model import Person

STREETS = ("rue", "avenue", "boulevard", "place", "chemin", "allée", "impasse", "route")
STREET_NAMES = (
    "de la République",
    "Victor Hugo",
    "des Écoles",
    "du Général de Gaulle",
    "Jean Jaurès",
    "des Tilleuls",
    "de la Gare",
    "Pasteur",
    "du Stade",
    "des Volcans",
    "de l'Église",
    "du Moulin",
    "Blaise Pascal",
    "des Cerisiers",
    "de la Fontaine",
    "du 11 Novembre",
)
POSTCODES = {"015": "150", "063": "630", "043": "430", "003": "030"}
COUNTRY = "FRANCE"
REGIMES = (
    "EXTERNE LIBRE",
    "DEMI-PENSIONNAIRE DANS L'ETABLISSEMENT",
    "INTERNE DANS L'ETABLISSEMENT",
    "DEMI-PENSIONNAIRE HORS ETABLISSEMENT",
)
QUALITIES = ("FINANCIER", "CONTACT", "PAIEMENT")
BIRTH_PLACES = tuple((c, d) for d, places in COMMUNES.items() for c, _ in places)


def _rng(p: Person, purpose: str) -> random.Random:
    return random.Random(f"details:{purpose}:{p.kind}:{p.jointure}")


def demo_subjects(jointure: str, mef: str) -> tuple[str, ...]:
    """The subjects a demo pupil follows (ENTEleveCodeEnseignements), as codes of the demo's subject nomenclature
    (`demo_roles.demo_nomenclature`, where a subject's code is its label); drawn from the jointure, so stable."""
    if not mef or mef.startswith("00"):
        return ("POLYVALENT",)
    rng = random.Random(f"details:subjects:eleve:{jointure}")
    offered = LYCEE_SUBJECTS if mef.startswith("2") else COLLEGE_SUBJECTS
    return tuple(sorted(rng.sample(offered, rng.randint(6, min(9, len(offered))))))


def pupil_subjects(p: Person) -> tuple[str, ...]:
    """What the AAF and the directory write as the pupil's ENTEleveCodeEnseignements."""
    if p.enrollment and p.enrollment.subjects:
        return p.enrollment.subjects
    return demo_subjects(p.jointure or "", p.enrollment.mef if p.enrollment else "")


def address(rng: random.Random, departement: str) -> dict[str, str]:
    commune, _ = rng.choice(COMMUNES.get(departement) or COMMUNES["063"])
    street = f"{rng.randint(1, 180)} {rng.choice(STREETS).upper()} {rng.choice(STREET_NAMES).upper()}"
    return {
        "ENTPersonAdresse": street,
        "ENTPersonCodePostal": f"{POSTCODES.get(departement, '630')}{rng.randint(0, 99):02d}",
        "ENTPersonVille": commune.upper(),
        "ENTPersonPays": COUNTRY,
    }


def phone(rng: random.Random, mobile: bool = False) -> str:
    return f"0{rng.choice('67') if mobile else '4'} {' '.join(f'{rng.randint(0, 99):02d}' for _ in range(4))}"


def _identity(p: Person, rng: random.Random) -> dict[str, str | list[str]]:
    """Patronymic name, other first names, title: every person record carries them."""
    female = p.first_name.endswith(("a", "e", "é", "s")) and p.first_name not in ("Baptiste", "Antoine", "Théo")
    return {
        "ENTPersonNomPatro": p.last_name.upper(),
        "ENTPersonAutresPrenoms": [p.first_name, *rng.sample(FIRST_NAMES, rng.randint(1, 2))],
        "personalTitle": "Mme" if female else "M.",
    }


def pupil_details(p: Person, majeur: bool, parents: list[str]) -> dict[str, str | list[str] | None]:
    """The attributes of an Eleve record the hub does not keep; ``parents``: their jointures, legal ones first."""
    rng = _rng(p, "pupil")
    departement = (p.uai or "063")[:3]
    lycee = bool(p.enrollment and p.enrollment.mef.startswith("2"))
    secondary = bool(p.enrollment and not p.enrollment.mef.startswith("00"))
    subjects = list(pupil_subjects(p))
    place, born_in = rng.choice(BIRTH_PLACES)
    values: dict[str, str | list[str] | None] = {
        **_identity(p, rng),
        **address(rng, departement),
        "homePhone": phone(rng) if rng.random() < 0.4 else None,
        "ENTEleveAutoriteParentale": parents[:2] or None,
        "ENTEleveBoursier": "O" if rng.random() < 0.25 else "N",
        "ENTEleveRegime": rng.choice(REGIMES),
        "ENTEleveTransport": "O" if rng.random() < 0.3 else "N",
        "ENTEleveStatutEleve": "SCOLAIRE",
        "ENTEleveLibelleMEF": p.enrollment.niveau if p.enrollment else None,
        "ENTEleveMEFRattach": p.enrollment.mef if p.enrollment else None,
        "ENTEleveNivFormationDiplome": (
            "BACCALAUREAT GENERAL" if lycee else "DIPLOME NATIONAL DU BREVET" if secondary else None
        ),
        "ENTEleveFiliere": "GENERALE" if secondary else "ELEMENTAIRE",
        "ENTEleveSpecialite": rng.choice(("MATHEMATIQUES", "SVT", "SES", "HGGSP")) if lycee else None,
        "ENTEleveEnseignements": subjects,  # the demo's subject labels are its codes
        "ENTEleveCodeEnseignements": subjects,
        "ENTEleveMajeur": "O" if majeur else "N",
        "ENTEleveVilleNaissance": place.upper(),
        "ENTEleveDeptNaissance": born_in,
        "ENTElevePaysNaissance": "100",  # the INSEE code of France
        "ENTEleveEnsRespStage": None,
        "ENTEleveEnsTutStage": None,
    }
    for i, parent in enumerate(parents[:2], 1):
        values[f"ENTElevePersRelEleve{i}"] = parent
        values[f"ENTEleveQualitePersRelEleve{i}"] = rng.choice(QUALITIES)
    return values


def parent_details(p: Person) -> dict[str, str | list[str] | None]:
    """The attributes of a PersRelEleve record the hub does not keep."""
    rng = _rng(p, "parent")
    departement = rng.choice(tuple(POSTCODES))
    mobile = phone(rng, mobile=True)
    return {
        **_identity(p, rng),
        **address(rng, departement),
        "homePhone": phone(rng) if rng.random() < 0.5 else None,
        "telephoneNumber": phone(rng) if rng.random() < 0.6 else None,
        "mobile": mobile,
        "ENTPersonMobileSMS": mobile if rng.random() < 0.8 else None,
        "ENTPersonAdresseDiffusion": "O" if rng.random() < 0.2 else "N",
        "ENTPersonProfessionCode": f"{rng.randint(10, 99)}",
        "ENTPersonProfession": rng.choice(
            (
                "CADRE",
                "EMPLOYE",
                "ARTISAN",
                "ENSEIGNANT",
                "AGRICULTEUR",
                "PROFESSION INTERMEDIAIRE",
                "OUVRIER",
                "SANS PROFESSION",
            )
        ),
    }


def staff_details(p: Person, teaching: bool, key: Callable[[str], str]) -> dict[str, str | list[str] | None]:
    """The attributes of a PersEducNat record the hub does not keep (civil status, address, teaching lists);
    ``key(uai)`` is how the writer names a structure."""
    rng = _rng(p, "staff")
    departement = (p.uai or "063")[:3]
    subjects = sorted({a.subject for a in p.assignments if a.subject})
    return {
        **_identity(p, rng),
        **address(rng, departement),
        "telephoneNumber": phone(rng),
        "ENTPersonLogin": f"{p.first_name[0]}{p.last_name}".lower().replace(" ", "")[:20],
        "ENTAuxEnsCategoDiscipline": ["ENSEIGNEMENT GENERAL"] if teaching else None,
        "ENTAuxEnsDisciplinesPoste": subjects or None,
        "ENTAuxEnsMatiereEnseignEtab": subjects or None,
        "ENTAuxEnsClasses": sorted({f"{key(a.uai)}${a.group_code}" for a in p.assignments}) or None,
        "ENTPersonGrade": rng.choice(("CERTIFIE", "AGREGE", "PROFESSEUR DES ECOLES", "CONTRACTUEL"))
        if teaching
        else rng.choice(("ATTACHE", "CPE", "AED", "PERDIR")),
        "ENTPersonDateEntreeEtab": f"01/09/{2026 - rng.randint(0, 20)}",
        "ENTPersonNomUsage": rng.choice(LAST_NAMES).upper() if rng.random() < 0.2 else p.last_name.upper(),
    }
