"""What GAR receives of one establishment, read from the store, as records ready for `plugins.gar.xmlfiles`.

Per person, everything GAR gets about them in the establishment (their GAREleve or
GAREnseignant, RespAff, MEF and group links, classes and groups with subjects) is
kept together in one `Entry` with a digest, so a Delta sends whole people. The
establishment's own records (GAREtab, GARMEF, GARMatiere, GARGroupe) are small and
always sent whole.

Data minimisation: GAR gets the opaque id, names, profiles, the UAIs, the links to
MEFs, groups and subjects, and the e-mail only of RespAff (the schema requires one;
GARPersonMail of teachers is optional and left out). Never the INE, the jointure,
an address, a phone, a civilité or a birth date: GARPersonDateNaissance is optional
and serves only GAR's de-duplication, which the stable opaque id makes needless.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, insert, select

from hub.clock import now
from hub.model import Establishment, EstablishmentKind, GroupKind, PersonKind, PersonStatus
from hub.store.tables import (
    enrollment,
    gar_person,
    group,
    group_membership,
    nomenclature,
    person,
    person_function,
    teaching_assignment,
)
from plugins.gar.xmlfiles import Item

# The five files of each degree: (file, root element, sections in the schema's order)
FILES = {
    "2D": (("Eleve", "GAR-ENT-Eleve", ("GAREleve", "GARPersonMEF", "GAREleveEnseignement")),
           ("Enseignant", "GAR-ENT-Enseignant", ("GAREnseignant", "GARPersonMEF")),
           ("RespAff", "GAR-ENT-RespAff", ("GARRespAff",)),
           ("Etab", "GAR-ENT-Etab", ("GAREtab", "GARMEF", "GARMatiere")),
           ("Groupe", "GAR-ENT-Groupe", ("GARGroupe", "GARPersonGroupe", "GAREnsGroupeMatiere",
                                         "GAREnsClasseMatiere"))),
    "1D": (("Eleve", "GAR-ENT-Eleve", ("GAREleve", "GARPersonMEFSTAT4")),
           ("Enseignant", "GAR-ENT-Enseignant", ("GAREnseignant", "GARPersonMEFSTAT4")),
           ("RespAff", "GAR-ENT-RespAff", ("GARRespAff",)),
           ("Etab", "GAR-ENT-Etab", ("GAREtab",)),
           ("Groupe", "GAR-ENT-Groupe", ("GARGroupe", "GARPersonGroupe"))),
}  # fmt: skip
# AAF function code -> GAR profile (SDET profils d'accédant, with the lower-case suffix the XSD names)
PROFILES = {code: f"National_{profile}" for profile, codes in {
    "ens": "ENS BED EAP FCA FIJ IS PPA RPL UPI RH1D", "doc": "DOC", "dir": "DIR DEC DSES",
    "evs": "EDU AED SUR ADE AES", "eta": "ADM ADF ALB ASE CFC CTR LAB ORI OUV PSY TEC", "aca": "INS INJ",
    "col": "COLTER"}.items() for code in codes.split()}  # fmt: skip
PUPIL = "National_elv"
Record = tuple[str, str, list[Item]]  # (file, section, items)


def degree(kind: str) -> str:
    """Écoles are described in the 1st-degree schema, every other establishment in the 2nd-degree one."""
    return "1D" if kind == EstablishmentKind.ECOLE else "2D"


@dataclass(slots=True)
class Entry:
    """One person's records in one establishment, and their digest (what a Delta compares)."""

    person_id: int
    key: str
    gar_id: str
    records: list[Record]

    def digest(self) -> str:
        return hashlib.blake2b(repr(self.records).encode(), digest_size=16).hexdigest()


@dataclass
class EstablishmentFeed:
    establishment: Establishment
    degree: str
    shared: list[Record]
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)  # people left out, and why


@dataclass(frozen=True)
class Names:
    """Labels of the national dictionaries (read once per export): code -> (label, national code)."""

    mef: dict[str, tuple[str, str]]
    matiere: dict[str, tuple[str, str]]

    @classmethod
    def read(cls, conn: Connection) -> Names:
        n = nomenclature
        found: dict[str, dict] = {"mef": {}, "matiere": {}}
        for row in conn.execute(select(n.c.kind, n.c.code, n.c.label, n.c.national_code)):
            found.setdefault(row.kind, {})[row.code] = (row.label, row.national_code)
        return cls(found["mef"], found["matiere"])


def gar_ids(conn: Connection, person_ids: list[int]) -> dict[int, str]:
    """The GARPersonIdentifiant of each person, drawn at random the first time and kept (never derived from
    who they are, never given to anyone else: the column is unique). The SAML IdP sends the same value."""
    found = dict(conn.execute(select(gar_person.c.person_id, gar_person.c.gar_id)
                              .where(gar_person.c.person_id.in_(person_ids))).all())
    new = [{"person_id": pid, "gar_id": secrets.token_hex(16), "created_at": now()}
           for pid in person_ids if pid not in found]
    if new:
        conn.execute(insert(gar_person), new)
        found.update((row["person_id"], row["gar_id"]) for row in new)
    return found


def read_establishment(conn: Connection, est: Establishment, names: Names, resp_aff_functions: frozenset[str],
                       resp_aff_keys: frozenset[str]) -> EstablishmentFeed:
    """Everything GAR gets about ``est``, from the store as it is now (inside the caller's transaction)."""
    uai, deg = est.uai, degree(est.kind)
    p = person
    active = p.c.status == PersonStatus.ACTIVE
    pupils: dict[int, tuple] = {}
    for row in conn.execute(select(p.c.id, p.c.person_key, p.c.last_name, p.c.first_name, p.c.uai, enrollment.c.mef,
                                   enrollment.c.division)
                            .outerjoin(enrollment, and_(enrollment.c.person_id == p.c.id, enrollment.c.uai == uai))
                            .where(p.c.uai == uai, p.c.kind == PersonKind.ELEVE, active)
                            .order_by(p.c.id, enrollment.c.school_year)):
        pupils[row.id] = row  # the latest school year's enrollment wins
    attached = person.alias("attached")
    working_here = (select(person_function.c.person_id).where(person_function.c.uai == uai)
                    .union(select(teaching_assignment.c.person_id).where(teaching_assignment.c.uai == uai),
                           select(attached.c.id).where(attached.c.uai == uai)))
    staff = conn.execute(select(p.c.id, p.c.person_key, p.c.kind, p.c.last_name, p.c.first_name, p.c.email, p.c.uai)
                         .where(p.c.id.in_(working_here) | p.c.person_key.in_(sorted(resp_aff_keys)), active,
                                p.c.kind.in_((PersonKind.ENSEIGNANT, PersonKind.PERSONNEL)))
                         .order_by(p.c.id)).all()
    functions, taught, groups_of = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in conn.execute(select(person_function.c.person_id, person_function.c.code, person_function.c.discipline)
                            .where(person_function.c.uai == uai)):
        functions[row.person_id].append(row)
    for row in conn.execute(select(teaching_assignment.c.person_id, teaching_assignment.c.group_code,
                                   teaching_assignment.c.subject).where(teaching_assignment.c.uai == uai)):
        taught[row.person_id].append(row)
    for row in conn.execute(select(group_membership.c.person_id, group.c.code)
                            .join(group, group.c.id == group_membership.c.group_id)
                            .where(group.c.uai == uai, group.c.kind.in_((GroupKind.DIVISION, GroupKind.GROUPE)))):
        groups_of[row.person_id].append(row.code)
    groups = {row.code: row for row in conn.execute(
        select(group.c.code, group.c.kind, group.c.label)
        .where(group.c.uai == uai, group.c.archived_at.is_(None),
               group.c.kind.in_((GroupKind.DIVISION, GroupKind.GROUPE))).order_by(group.c.code))}
    ids = gar_ids(conn, [*pupils, *(s.id for s in staff)])

    builder = _Builder(uai, deg, groups)
    entries = [builder.pupil(row, ids[pid], groups_of[pid]) for pid, row in pupils.items()]
    notes = [f"{key}: named RespAff of {uai} in [plugins.gar] resp_aff, but no active staff member has this key"
             for key in sorted(resp_aff_keys - {row.person_key for row in staff})]
    for row in staff:
        entry = builder.staff(row, ids[row.id], functions[row.id], taught[row.id], groups_of[row.id],
                              resp_aff=row.person_key in resp_aff_keys
                              or any(f.code in resp_aff_functions for f in functions[row.id]))
        if entry is None:
            notes.append(f"{row.person_key}: no GAR profile for their functions in {uai} "
                         f"({', '.join(sorted({f.code for f in functions[row.id]})) or 'none'}): left out")
        else:
            entries.append(entry)
    return EstablishmentFeed(est, deg, builder.shared(est, names), entries, notes)


class _Builder:
    """Turns one establishment's rows into GAR records, collecting the MEFs, subjects and groups they name."""

    def __init__(self, uai: str, deg: str, groups: dict):
        self.uai, self.deg = uai, deg
        self.groups = {code: (row.kind, row.label) for code, row in groups.items()}
        self.mefs: set[str] = set()
        self.subjects: set[str] = set()
        self.division_mefs: dict[str, set[str]] = defaultdict(set)
        self.group_divisions: dict[str, set[str]] = defaultdict(set)

    def pupil(self, row, gar_id: str, memberships: list[str]) -> Entry:
        uai, records = self.uai, []
        records.append(("Eleve", "GAREleve", self._identity(gar_id, row, [PUPIL]) + [("GARPersonEtab", uai)]))
        if row.mef:
            records.append(self._mef("Eleve", gar_id, row.mef))
            if row.division:
                self.division_mefs[row.division].add(row.mef)
        codes = list(dict.fromkeys(([row.division] if row.division else []) + sorted(memberships)))
        for code in codes:
            self._group(code)
            if row.division and code != row.division:
                self.group_divisions[code].add(row.division)
        records += self._person_groups(gar_id, codes)
        return Entry(row.id, row.person_key, gar_id, records)

    def staff(self, row, gar_id: str, functions: list, taught: list, memberships: list[str],
              resp_aff: bool) -> Entry | None:
        uai = self.uai
        profiles = sorted({PROFILES[f.code] for f in functions if f.code in PROFILES})
        if not profiles and row.kind == PersonKind.ENSEIGNANT and (row.uai == uai or taught):
            profiles = [PROFILES["ENS"]]  # a teacher the source gives no function here
        records: list[Record] = []
        if profiles:
            items = self._identity(gar_id, row, profiles) + [("GARPersonEtab", uai)]
            disciplines = sorted({f.discipline for f in functions if f.discipline})
            if disciplines:
                post, code = (("GAREnsDisciplinesPostes", "GAREnsDisciplinePosteCode") if self.deg == "2D"
                              else ("GAREnsSpecialitesPostes", "GAREnsSpecialitePosteCode"))
                items.append((post, (("GARStructureUAI", uai), *((code, d) for d in disciplines))))
            records.append(("Enseignant", "GAREnseignant", items))
            mefs = sorted({m for a in taught for m in self.division_mefs.get(a.group_code, ())})
            records += [self._mef("Enseignant", gar_id, m) for m in mefs]
            codes = sorted({a.group_code for a in taught} | set(memberships))
            for code in codes:
                self._group(code)
            records += self._person_groups(gar_id, codes)
            if self.deg == "2D":
                records += self._subjects(gar_id, taught)
        if resp_aff:
            records.append(("RespAff", "GARRespAff", [
                ("GARPersonIdentifiant", gar_id), ("GARPersonNom", row.last_name), ("GARPersonPrenom", row.first_name),
                ("GARPersonMail", row.email or ""), ("GARRespAffEtab", uai)]))
        return Entry(row.id, row.person_key, gar_id, records) if records else None

    def _identity(self, gar_id: str, row, profiles: list[str]) -> list[Item]:
        items: list[Item] = [("GARPersonIdentifiant", gar_id)]
        items += [("GARPersonProfils", (("GARStructureUAI", self.uai), ("GARPersonProfil", p))) for p in profiles]
        items += [("GARPersonNom", row.last_name), ("GARPersonPrenom", row.first_name),
                  ("GARPersonAutresPrenoms", row.first_name)]
        if row.uai:
            items.append(("GARPersonStructRattach", row.uai))
        return items

    def _mef(self, file: str, gar_id: str, mef: str) -> Record:
        self.mefs.add(mef)
        if self.deg == "1D":
            return file, "GARPersonMEFSTAT4", [("GARStructureUAI", self.uai), ("GARPersonIdentifiant", gar_id),
                                               ("GARMEFSTAT4Code", mef[:4])]
        return file, "GARPersonMEF", [("GARStructureUAI", self.uai), ("GARPersonIdentifiant", gar_id),
                                      ("GARMEFCode", mef)]

    def _group(self, code: str) -> None:
        if code not in self.groups:  # a division named by a pupil or a teacher that the structure does not list
            self.groups[code] = (GroupKind.DIVISION, code)

    def _person_groups(self, gar_id: str, codes: list[str]) -> list[Record]:
        return [("Groupe", "GARPersonGroupe", [("GARStructureUAI", self.uai), ("GARPersonIdentifiant", gar_id),
                                               ("GARGroupeCode", code)]) for code in codes]

    def _subjects(self, gar_id: str, taught: list) -> list[Record]:
        by_group: dict[str, set[str]] = defaultdict(set)
        for a in taught:
            if a.subject:
                by_group[a.group_code].add(a.subject)
        self.subjects.update(*by_group.values())
        return [("Groupe", "GAREnsGroupeMatiere" if self.groups[code][0] == GroupKind.GROUPE else "GAREnsClasseMatiere",
                 [("GARStructureUAI", self.uai), ("GARPersonIdentifiant", gar_id), ("GARGroupeCode", code),
                  *(("GARMatiereCode", s) for s in sorted(subjects))])
                for code, subjects in sorted(by_group.items())]

    def shared(self, est: Establishment, names: Names) -> list[Record]:
        uai = self.uai
        records: list[Record] = [("Etab", "GAREtab", [("GARStructureUAI", uai), ("GARStructureNomCourant", est.name)])]
        if self.deg == "2D":
            for code in sorted(self.mefs):
                label, national = names.mef.get(code, (code, ""))
                items = [("GARStructureUAI", uai), ("GARMEFCode", code), ("GARMEFLibelle", label or code)]
                records.append(("Etab", "GARMEF", items + ([("GARMEFSTAT11", national)] if national else [])))
            for code in sorted(self.subjects):
                label, _ = names.matiere.get(code, (code, ""))
                records.append(("Etab", "GARMatiere", [("GARStructureUAI", uai), ("GARMatiereCode", code),
                                                       ("GARMatiereLibelle", label or code)]))
        for code, (kind, label) in sorted(self.groups.items()):
            statut = "GROUPE" if kind == GroupKind.GROUPE else "DIVISION"
            parents = sorted(self.group_divisions.get(code, ())) if statut == "GROUPE" else []
            records.append(("Groupe", "GARGroupe", [("GARGroupeCode", code), ("GARStructureUAI", uai),
                                                    ("GARGroupeLibelle", label or code), ("GARGroupeStatut", statut),
                                                    *(("GARGroupeDivAppartenance", d) for d in parents)]))
        return records
