"""What GAR receives of each establishment, read from the store, as XML records ready for the files.

Establishments are read in batches (`read`): one query per kind of row (pupils,
staff, functions, teaching assignments, group memberships, groups) for the whole
batch, never one per person or per establishment; memory follows the batch, not
the académie.

Per person, everything GAR gets about them in the establishment (their GAREleve or
GAREnseignant, RespAff, MEF and group links, a pupil's subjects, classes and groups with subjects) is
kept together in one `Entry`, as XML text, so a Delta sends whole people and their
digest is a hash of that text. The establishment's own records (GAREtab, GARMEF,
GARMatiere, GARGroupe) are small and always sent whole.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Connection, and_, insert, literal, select, union

from hub.clock import now
from hub.model import Establishment, EstablishmentKind, GroupKind, PersonKind, PersonStatus
from hub.store.tables import (
    SUBJECT_SEPARATOR,
    enrollment,
    gar_person,
    group,
    group_membership,
    nomenclature,
    person,
    person_function,
    teaching_assignment,
)
from plugins.gar import xmlfiles

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
BATCH = 25  # establishments read together: a few queries per batch, memory bounded by the batch
Record = tuple[str, str, str]  # (file, section, the record's XML)
_STAFF = (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL)
_GROUP_KINDS = (GroupKind.DIVISION, GroupKind.GROUPE)


def degree(kind: str) -> str:
    """Écoles are described in the 1st-degree schema, every other establishment in the 2nd-degree one."""
    return "1D" if kind == EstablishmentKind.ECOLE else "2D"


@dataclass(slots=True)
class Entry:
    """One person's records in one establishment (what a Delta sends or not, whole)."""

    person_id: int
    key: str
    gar_id: str
    records: list[Record]

    def digest(self) -> str:
        """A hash of the person's XML in each file: equal digests, equal records."""
        text = "".join(f"{file}{xml}" for file, _, xml in self.records)
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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
    found = dict(
        conn.execute(
            select(gar_person.c.person_id, gar_person.c.gar_id).where(gar_person.c.person_id.in_(person_ids))
        ).all()
    )
    found.update(_draw_ids(conn, [pid for pid in person_ids if pid not in found]))
    return found


def _draw_ids(conn: Connection, person_ids) -> dict[int, str]:
    """New GAR ids for people who have none yet, stored in one insert."""
    new = {pid: secrets.token_hex(16) for pid in person_ids}
    if new:
        created = now()
        conn.execute(
            insert(gar_person),
            [{"person_id": pid, "gar_id": gar_id, "created_at": created} for pid, gar_id in new.items()],
        )
    return new


def draw_ids(conn: Connection, uais: list[str], resp_aff: dict[str, list[str]]) -> None:
    """Draw the GAR ids of everyone the establishments ``uais`` would send who has none yet, so that the
    processes building the files afterwards only read the store."""
    p = person
    active = p.c.status == PersonStatus.ACTIVE
    without_id = ~select(gar_person.c.person_id).where(gar_person.c.person_id == p.c.id).exists()
    working = _working(uais, resp_aff)
    pupils = select(p.c.id).where(p.c.uai.in_(uais), p.c.kind == PersonKind.ELEVE, active, without_id)
    staff = (
        select(p.c.id)
        .join_from(working, p, p.c.id == working.c.person_id)
        .where(active, p.c.kind.in_(_STAFF), without_id)
    )
    _draw_ids(conn, sorted(set(conn.execute(union(pupils, staff)).scalars())))


def _working(uais: list[str], resp_aff: dict[str, list[str]]):
    """(UAI, person id) of the staff GAR gets there: whoever holds a function, teaches, or is attached there,
    and the RespAff named in settings."""
    attached = person.alias("attached")
    return union(
        select(person_function.c.uai, person_function.c.person_id).where(person_function.c.uai.in_(uais)),
        select(teaching_assignment.c.uai, teaching_assignment.c.person_id).where(teaching_assignment.c.uai.in_(uais)),
        select(attached.c.uai, attached.c.id).where(attached.c.uai.in_(uais), attached.c.kind.in_(_STAFF)),
        *(
            select(literal(uai).label("uai"), person.c.id).where(person.c.person_key.in_(sorted(keys)))
            for uai, keys in resp_aff.items()
            if uai in uais and keys
        ),
    ).subquery()


def batches(establishments: list[Establishment]) -> list[list[Establishment]]:
    return [establishments[start : start + BATCH] for start in range(0, len(establishments), BATCH)]


def read(
    conn: Connection,
    establishments: list[Establishment],
    names: Names,
    resp_aff_functions: frozenset[str],
    resp_aff: dict[str, list[str]],
) -> Iterator[EstablishmentFeed]:
    """Everything GAR gets about a batch of establishments, from the store as it is now (inside the caller's
    transaction), one establishment at a time: the batch's rows are read at once, its records built as asked.
    ``resp_aff``: UAI -> keys of the people named RespAff there besides ``resp_aff_functions``."""
    rows = _Rows(conn, [e.uai for e in establishments], resp_aff)
    for est in establishments:
        yield _establishment(est, rows, names, resp_aff_functions, frozenset(resp_aff.get(est.uai, ())))


class Pupil(NamedTuple):  # plain tuples: reading a SQLAlchemy row's attributes costs ten times more
    uai: str
    id: int
    person_key: str
    last_name: str
    first_name: str
    gar_id: str | None
    mef: str | None
    division: str | None
    subjects: str | None  # the enrollment's subject codes, joined by SUBJECT_SEPARATOR


class Staff(NamedTuple):
    id: int
    person_key: str
    kind: str
    last_name: str
    first_name: str
    email: str | None
    uai: str | None  # where they are attached
    gar_id: str | None


class _Rows:
    """A batch's rows, one query per kind, filed by UAI (and person): what `_establishment` turns into records."""

    def __init__(self, conn: Connection, uais: list[str], resp_aff: dict[str, list[str]]):
        self.pupils: dict[str, dict[int, Pupil]] = defaultdict(dict)  # UAI -> person id -> pupil
        self.staff: dict[str, list[Staff]] = defaultdict(list)  # UAI -> staff working there
        self.functions: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)  # -> (code, discipline)
        self.taught: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)  # -> (group code, subject)
        self.memberships: dict[tuple[str, int], list[str]] = defaultdict(list)  # (UAI, person id) -> group codes
        self.groups: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)  # UAI -> code -> (kind, label)
        self._read_people(conn, uais, resp_aff)
        self._read_links(conn, uais)
        # Ids are drawn beforehand (`draw_ids`); someone who became active since gets theirs now
        people = [
            *(r for found in self.pupils.values() for r in found.values()),
            *(r for found in self.staff.values() for r in found),
        ]
        self.gar_ids = {r.id: r.gar_id for r in people if r.gar_id is not None}
        self.gar_ids.update(_draw_ids(conn, {r.id for r in people if r.gar_id is None}))

    def _read_people(self, conn: Connection, uais: list[str], resp_aff: dict[str, list[str]]) -> None:
        p, g = person, gar_person
        active = p.c.status == PersonStatus.ACTIVE
        for row in conn.execute(
            select(
                p.c.uai,
                p.c.id,
                p.c.person_key,
                p.c.last_name,
                p.c.first_name,
                g.c.gar_id,
                enrollment.c.mef,
                enrollment.c.division,
                enrollment.c.subjects,
            )
            .outerjoin(enrollment, and_(enrollment.c.person_id == p.c.id, enrollment.c.uai == p.c.uai))
            .outerjoin(g, g.c.person_id == p.c.id)
            .where(p.c.uai.in_(uais), p.c.kind == PersonKind.ELEVE, active)
            .order_by(p.c.uai, p.c.id, enrollment.c.school_year)
        ).all():
            pupil = Pupil._make(row)
            self.pupils[pupil.uai][pupil.id] = pupil  # the latest school year's enrollment wins

        working = _working(uais, resp_aff)
        for row in conn.execute(
            select(
                working.c.uai.label("at"),
                p.c.id,
                p.c.person_key,
                p.c.kind,
                p.c.last_name,
                p.c.first_name,
                p.c.email,
                p.c.uai,
                g.c.gar_id,
            )
            .join_from(working, p, p.c.id == working.c.person_id)
            .outerjoin(g, g.c.person_id == p.c.id)
            .where(active, p.c.kind.in_(_STAFF))
            .order_by(working.c.uai, p.c.id)
        ).all():
            self.staff[row[0]].append(Staff._make(row[1:]))

    def _read_links(self, conn: Connection, uais: list[str]) -> None:
        f, t = person_function, teaching_assignment
        for at, pid, code, discipline in conn.execute(
            select(f.c.uai, f.c.person_id, f.c.code, f.c.discipline).where(f.c.uai.in_(uais))
        ).all():
            self.functions[at, pid].append((code, discipline))
        for at, pid, code, subject in conn.execute(
            select(t.c.uai, t.c.person_id, t.c.group_code, t.c.subject).where(t.c.uai.in_(uais))
        ).all():
            self.taught[at, pid].append((code, subject))
        for at, pid, code in conn.execute(
            select(group.c.uai, group_membership.c.person_id, group.c.code)
            .join(group, group.c.id == group_membership.c.group_id)
            .where(group.c.uai.in_(uais), group.c.kind.in_(_GROUP_KINDS))
        ).all():
            self.memberships[at, pid].append(code)
        for at, code, kind, label in conn.execute(
            select(group.c.uai, group.c.code, group.c.kind, group.c.label)
            .where(group.c.uai.in_(uais), group.c.archived_at.is_(None), group.c.kind.in_(_GROUP_KINDS))
            .order_by(group.c.uai, group.c.code)
        ).all():
            self.groups[at][code] = (kind, label)


def _establishment(
    est: Establishment, rows: _Rows, names: Names, resp_aff_functions: frozenset[str], resp_aff_keys: frozenset[str]
) -> EstablishmentFeed:
    uai, deg = est.uai, degree(est.kind)
    builder = _Builder(uai, deg, rows.groups[uai])
    ids = rows.gar_ids
    entries = [builder.pupil(row, ids[pid], rows.memberships[uai, pid]) for pid, row in rows.pupils[uai].items()]
    staff = rows.staff[uai]
    notes = [
        f"{key}: named RespAff of {uai} in [plugins.gar] resp_aff, but no active staff member has this key"
        for key in sorted(resp_aff_keys - {row.person_key for row in staff})
    ]
    for row in staff:
        functions = rows.functions[uai, row.id]
        entry = builder.staff(
            row,
            ids[row.id],
            functions,
            rows.taught[uai, row.id],
            rows.memberships[uai, row.id],
            resp_aff=row.person_key in resp_aff_keys or any(code in resp_aff_functions for code, _ in functions),
        )
        if entry is None:
            notes.append(
                f"{row.person_key}: no GAR profile for their functions in {uai} "
                f"({', '.join(sorted({code for code, _ in functions})) or 'none'}): left out"
            )
        else:
            entries.append(entry)
    return EstablishmentFeed(est, deg, builder.shared(est, names), entries, notes)


class _Builder:
    """Turns one establishment's rows into GAR records (XML text, in the schema's element order), collecting
    the MEFs, subjects and groups they name for the establishment's own records."""

    def __init__(self, uai: str, deg: str, groups: dict[str, tuple[str, str]]):
        self.uai, self.deg = uai, deg
        self.leaves = xmlfiles.Leaves(xmlfiles.schema(deg))
        self.owner = f"establishment {uai}"
        self.at = self.leaves.code("GARStructureUAI", uai, self.owner)  # first child of most link records
        self.etab = self.leaves.code("GARPersonEtab", uai, self.owner)
        self.profiles: dict[tuple[str, ...], str] = {}  # profiles -> their GARPersonProfils elements
        self.groups = dict(groups)  # code -> (kind, label)
        self.mefs: set[str] = set()
        self.subjects: set[str] = set()
        self.division_mefs: dict[str, set[str]] = defaultdict(set)
        self.group_divisions: dict[str, set[str]] = defaultdict(set)

    def pupil(self, row, gar_id: str, memberships: list[str]) -> Entry:
        owner = f"person {row.person_key}"
        who = self.leaves.leaf("GARPersonIdentifiant", gar_id, owner)
        eleve = f"<men:GAREleve>{self._identity(who, row, (PUPIL,), owner)}{self.etab}</men:GAREleve>"
        records = [("Eleve", "GAREleve", eleve)]
        if row.mef:
            records.append(self._mef("Eleve", who, row.mef, owner))
            if row.division:
                self.division_mefs[row.division].add(row.mef)
        if row.subjects and self.deg == "2D":  # the 1st-degree schema has no GAREleveEnseignement
            records += self._pupil_subjects(who, row.subjects.split(SUBJECT_SEPARATOR), owner)
        codes = list(dict.fromkeys(([row.division] if row.division else []) + sorted(memberships)))
        for code in codes:
            self._group(code)
            if row.division and code != row.division:
                self.group_divisions[code].add(row.division)
        records += self._person_groups(who, codes, owner)
        return Entry(row.id, row.person_key, gar_id, records)

    def staff(
        self,
        row,
        gar_id: str,
        functions: list[tuple[str, str]],
        taught: list[tuple[str, str]],
        memberships: list[str],
        resp_aff: bool,
    ) -> Entry | None:
        leaves, owner = self.leaves, f"person {row.person_key}"
        who = leaves.leaf("GARPersonIdentifiant", gar_id, owner)
        profiles = tuple(sorted({PROFILES[code] for code, _ in functions if code in PROFILES}))
        if not profiles and row.kind == PersonKind.ENSEIGNANT and (row.uai == self.uai or taught):
            profiles = (PROFILES["ENS"],)  # a teacher the source gives no function here
        records: list[Record] = []
        if profiles:
            posts = ""
            disciplines = sorted({discipline for _, discipline in functions if discipline})
            if disciplines:
                post, name = (
                    ("GAREnsDisciplinesPostes", "GAREnsDisciplinePosteCode")
                    if self.deg == "2D"
                    else ("GAREnsSpecialitesPostes", "GAREnsSpecialitePosteCode")
                )
                codes = "".join(leaves.code(name, d, owner) for d in disciplines)
                posts = f"<men:{post}>{self.at}{codes}</men:{post}>"
            identity = self._identity(who, row, profiles, owner)
            enseignant = f"<men:GAREnseignant>{identity}{self.etab}{posts}</men:GAREnseignant>"
            records.append(("Enseignant", "GAREnseignant", enseignant))
            mefs = sorted({m for code, _ in taught for m in self.division_mefs.get(code, ())})
            records += [self._mef("Enseignant", who, m, owner) for m in mefs]
            codes = sorted({code for code, _ in taught} | set(memberships))
            for code in codes:
                self._group(code)
            records += self._person_groups(who, codes, owner)
            if self.deg == "2D":
                records += self._subjects(who, taught, owner)
        if resp_aff:
            last = leaves.leaf("GARPersonNom", row.last_name, owner)
            first = leaves.leaf("GARPersonPrenom", row.first_name, owner)
            mail = leaves.leaf("GARPersonMail", row.email or "", owner)  # the schema requires one
            where = leaves.code("GARRespAffEtab", self.uai, owner)
            records.append(
                ("RespAff", "GARRespAff", f"<men:GARRespAff>{who}{last}{first}{mail}{where}</men:GARRespAff>")
            )
        return Entry(row.id, row.person_key, gar_id, records) if records else None

    def _identity(self, who: str, row, profiles: tuple[str, ...], owner: str) -> str:
        """The GARIdentite block GAREleve and GAREnseignant begin with."""
        profils = self.profiles.get(profiles)
        if profils is None:
            profils = self.profiles[profiles] = "".join(
                f"<men:GARPersonProfils>{self.at}{self.leaves.code('GARPersonProfil', p, owner)}</men:GARPersonProfils>"
                for p in profiles
            )
        last = self.leaves.text("GARPersonNom", row.last_name, owner)
        first = self.leaves.text("GARPersonPrenom", row.first_name, owner)  # also all first names: all we know
        attached = self.leaves.code("GARPersonStructRattach", row.uai, owner) if row.uai else ""
        return (
            f"{who}{profils}<men:GARPersonNom>{last}</men:GARPersonNom><men:GARPersonPrenom>{first}"
            f"</men:GARPersonPrenom><men:GARPersonAutresPrenoms>{first}</men:GARPersonAutresPrenoms>{attached}"
        )

    def _mef(self, file: str, who: str, mef: str, owner: str) -> Record:
        self.mefs.add(mef)
        if self.deg == "1D":
            code = self.leaves.code("GARMEFSTAT4Code", mef[:4], owner)
            return file, "GARPersonMEFSTAT4", f"<men:GARPersonMEFSTAT4>{self.at}{who}{code}</men:GARPersonMEFSTAT4>"
        code = self.leaves.code("GARMEFCode", mef, owner)
        return file, "GARPersonMEF", f"<men:GARPersonMEF>{self.at}{who}{code}</men:GARPersonMEF>"

    def _group(self, code: str) -> None:
        if code not in self.groups:  # a division named by a pupil or a teacher that the structure does not list
            self.groups[code] = (GroupKind.DIVISION, code)

    def _person_groups(self, who: str, codes: list[str], owner: str) -> list[Record]:
        records = []
        for code in codes:
            group = self.leaves.code("GARGroupeCode", code, owner)
            records.append(
                ("Groupe", "GARPersonGroupe", f"<men:GARPersonGroupe>{self.at}{who}{group}</men:GARPersonGroupe>")
            )
        return records

    def _pupil_subjects(self, who: str, subjects: list[str], owner: str) -> list[Record]:
        """GAREleveEnseignement: the subjects (options) a pupil follows; each gets its GARMatiere in the Etab file."""
        subjects = sorted(set(subjects))  # once each: the schema keys them by (UAI, person, subject)
        self.subjects.update(subjects)
        code = self.leaves.code
        return [
            ("Eleve", "GAREleveEnseignement",
             f"<men:GAREleveEnseignement>{self.at}{who}{code('GARMatiereCode', s, owner)}</men:GAREleveEnseignement>")
            for s in subjects
        ]  # fmt: skip

    def _subjects(self, who: str, taught: list[tuple[str, str]], owner: str) -> list[Record]:
        by_group: dict[str, set[str]] = defaultdict(set)
        for group_code, subject in taught:
            if subject:
                by_group[group_code].add(subject)
        self.subjects.update(*by_group.values())
        code, records = self.leaves.code, []
        for group_code, subjects in sorted(by_group.items()):
            section = "GAREnsGroupeMatiere" if self.groups[group_code][0] == GroupKind.GROUPE else "GAREnsClasseMatiere"
            group_leaf = code("GARGroupeCode", group_code, owner)
            matieres = "".join(code("GARMatiereCode", s, owner) for s in sorted(subjects))
            records.append(("Groupe", section, f"<men:{section}>{self.at}{who}{group_leaf}{matieres}</men:{section}>"))
        return records

    def shared(self, est: Establishment, names: Names) -> list[Record]:
        at, owner = self.at, self.owner

        def leaf(name: str, value: str) -> str:
            return self.leaves.leaf(name, value, owner)

        name = leaf("GARStructureNomCourant", est.name)
        records: list[Record] = [("Etab", "GAREtab", f"<men:GAREtab>{at}{name}</men:GAREtab>")]
        if self.deg == "2D":
            for code in sorted(self.mefs):
                label, national = names.mef.get(code, (code, ""))
                mef = leaf("GARMEFCode", code) + leaf("GARMEFLibelle", label or code)
                stat11 = leaf("GARMEFSTAT11", national) if national else ""
                records.append(("Etab", "GARMEF", f"<men:GARMEF>{at}{mef}{stat11}</men:GARMEF>"))
            for code in sorted(self.subjects):
                label, _ = names.matiere.get(code, (code, ""))
                matiere = leaf("GARMatiereCode", code) + leaf("GARMatiereLibelle", label or code)
                records.append(("Etab", "GARMatiere", f"<men:GARMatiere>{at}{matiere}</men:GARMatiere>"))
        for code, (kind, label) in sorted(self.groups.items()):
            statut = "GROUPE" if kind == GroupKind.GROUPE else "DIVISION"
            parents = sorted(self.group_divisions.get(code, ())) if statut == "GROUPE" else []
            divisions = "".join(leaf("GARGroupeDivAppartenance", d) for d in parents)
            group = f"{leaf('GARGroupeCode', code)}{at}{leaf('GARGroupeLibelle', label or code)}"
            records.append(
                (
                    "Groupe",
                    "GARGroupe",
                    f"<men:GARGroupe>{group}{leaf('GARGroupeStatut', statut)}{divisions}</men:GARGroupe>",
                )
            )
        return records
