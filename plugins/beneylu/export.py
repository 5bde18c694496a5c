"""One école's class-roster files, as Beneylu School's import accepts them, built from the stored roster.

Two layouts (setting ``layout``):

* ``onde`` (default): the ONDE three-file extraction, written by `plugins.onde.writer`
  (``CSVExtraction-eleves.csv``, ``-responsables.csv``, ``-enseignants.csv``): pupils with
  their niveau and class, the responsables naming their children, the teachers with their
  classes and ``Directeur`` oui for those with the DIR function in the école;
* ``fast_input``: one ``saisie-rapide-<class code>.csv`` per class, a pupil a row — Nom;
  Prénom; Sexe; Date de naissance (JJ/MM/AAAA) — with no header, as pasted into
  Beneylu's "saisie rapide". Sexe is empty: the hub does not keep it.

Both add ``CSVExtraction-reseau.csv``, the école's cycle-3 network: every row names the
école and its secteur collège, then an inter-establishment group (kind ``inter``: those
kept under the école's or the collège's UAI, and any its people belong to) and one of
the école's people in it. Only the école's own people are listed (the collège's 6e
pupils have no account in the écoles' ENT); a group without member from the école has
one row without a person (e.g. the 6e group), an école without any group one row with
the pair alone.

Every file is Windows-1252, ``;``-separated, CRLF; a character Windows-1252 lacks is
written without its accent when it has one, else as ``?``. The content depends only on
the store (people sorted, relations sorted), so the same roster gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata

from hub.model import Establishment, GroupKind, Person, PersonKind
from hub.queries import Roster
from plugins.onde import writer

ENCODING = "cp1252"
LAYOUTS = ("onde", "fast_input")
NETWORK_FILE = "CSVExtraction-reseau.csv"
NETWORK_HEADER = ("UAI école", "Nom école", "UAI collège", "Nom collège", "Groupe", "Libellé groupe", "UAI groupe",
                  "Profil", "Nom", "Prénom", "Date naissance", "Classe")  # fmt: skip
PROFILES = {PersonKind.ELEVE: "élève", PersonKind.ENSEIGNANT: "enseignant", PersonKind.PERSONNEL: "personnel"}


def ecole_files(roster: Roster, college: Establishment | None, layout: str = "onde") -> dict[str, bytes]:
    """The files of one école, by name; ``college`` is its secteur collège when known."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown Beneylu layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    ecole = roster.establishment
    pupils = sorted((_sorted_relations(p) for p in roster.people if p.kind == PersonKind.ELEVE and p.enrollment),
                    key=lambda p: (p.enrollment.division, p.last_name, p.first_name, p.birth_date or ""))
    family = {p.jointure: p for p in roster.parents if p.jointure}
    pupils = [dataclasses.replace(p, guardians=tuple(g for g in p.guardians
                                                     if g.parent_key.removeprefix("jnt:") in family)) for p in pupils]
    if layout == "onde":
        teachers = [_own_classes(t, ecole.uai) for t in roster.people if _teaches(t, ecole.uai)]
        directors = {t.jointure for t in teachers if any(f.code == "DIR" and f.uai == ecole.uai for f in t.functions)}
        tables = writer.extraction_tables(ecole, pupils, family, teachers, directors=directors)
    else:
        tables = _fast_input(pupils)
    tables[NETWORK_FILE] = (NETWORK_HEADER, _network_rows(roster, college))
    return {name: _encode(header, rows) for name, (header, rows) in tables.items()}


def _teaches(person: Person, uai: str) -> bool:
    """Teachers, and any staff member directing the école."""
    if person.kind == PersonKind.ENSEIGNANT:
        return True
    return person.kind == PersonKind.PERSONNEL and any(f.code == "DIR" and f.uai == uai for f in person.functions)


def _sorted_relations(person: Person) -> Person:
    return dataclasses.replace(person, guardians=tuple(sorted(person.guardians, key=lambda g: (g.rank or 9,
                                                                                              g.parent_key))))


def _own_classes(teacher: Person, uai: str) -> Person:
    mine = sorted({a.group_code: a for a in teacher.assignments if a.uai == uai}.values(), key=lambda a: a.group_code)
    return dataclasses.replace(teacher, assignments=tuple(mine))


def _fast_input(pupils: list[Person]) -> dict[str, writer.Table]:
    by_class: dict[str, list[list[str]]] = {}
    for p in pupils:
        born = p.birth_date.strftime("%d/%m/%Y") if p.birth_date else ""
        by_class.setdefault(p.enrollment.division, []).append([p.last_name, p.first_name, "", born])
    return {f"saisie-rapide-{_file_part(code)}.csv": ((), rows) for code, rows in sorted(by_class.items())}


def _file_part(code: str) -> str:
    """A class code as part of a file name (distinct codes stay distinct: a hash is added when anything changed)."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", code)
    return safe if safe == code else f"{safe}-{hashlib.blake2b(code.encode(), digest_size=3).hexdigest()}"


def _network_rows(roster: Roster, college: Establishment | None) -> list[list[str]]:
    ecole = roster.establishment
    pair = [ecole.uai, ecole.name, ecole.secteur_college or "", college.name if college else ""]
    known = {(g.uai, g.code): g for e in (ecole, college) if e for g in e.groups if g.kind == GroupKind.INTER}
    members: dict[tuple[str, str], list[Person]] = {key: [] for key in known}
    for person in roster.people:
        for m in person.memberships:
            if m.kind == GroupKind.INTER:
                members.setdefault((m.uai, m.code), []).append(person)
    labels = {g.code: g.label or g.code for g in ecole.groups}
    rows = []
    for key in sorted(members):
        group = known.get(key)
        head = pair + [key[1], group.label if group else "", key[0]]
        people = sorted(members[key], key=lambda p: (p.kind, p.last_name, p.first_name))
        rows += [head + _member(p, labels) for p in people] or [head + [""] * 5]
    return rows or [pair + [""] * 8]


def _member(person: Person, labels: dict[str, str]) -> list[str]:
    born = person.birth_date.strftime("%d/%m/%Y") if person.birth_date else ""
    division = person.enrollment.division if person.enrollment else ""
    return [PROFILES.get(person.kind, str(person.kind)), person.last_name, person.first_name,
            born if person.kind == PersonKind.ELEVE else "", labels.get(division, division)]  # fmt: skip


def _encode(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    return writer.table_bytes(header, ([_cp1252(cell) for cell in row] for row in rows), encoding=ENCODING)


def _cp1252(text: str) -> str:
    try:
        text.encode(ENCODING)
        return text
    except UnicodeEncodeError:
        return "".join(c if _fits(c) else _plain(c) for c in text)


def _fits(char: str) -> bool:
    try:
        char.encode(ENCODING)
        return True
    except UnicodeEncodeError:
        return False


def _plain(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(_fits(c) for c in base) else "?"
