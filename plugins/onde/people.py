"""Who ONDE names, and the keys the hub gives them: ONDE carries no identifier for anyone but INEs.

Every key is a BLAKE2b hash of folded names and what else tells a person apart
(see the table in `plugins.onde.reader`), so the same export read twice gives the
same people. Responsables name their children by names and class: `Children`
finds those children among an école's pupils, and answers with every candidate
so that the reader links only when exactly one pupil fits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from hub.model import Function, Person, PersonKind, TeachingAssignment
from plugins.onde.columns import fold, fold_name

YES = {"OUI", "O", "1", "VRAI", "TRUE", "YES", "X"}


def _hash(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def pupil_jointure(uai: str, birth_name: str, first_name: str, born: date) -> str:
    """École + birth name (Nom Elève, else the usage name) + first name + birth date."""
    return f"onde-{_hash(uai, fold(birth_name), fold(first_name), born.isoformat())}"


def parent_jointure(last: str, first: str, email: str, phone: str, uai: str) -> str:
    """Names + e-mail, else phone, else the école: a parent of children in two écoles is one person."""
    contact = email.lower() or phone_key(phone) or f"uai:{uai}"
    return f"onde-{_hash(fold_name(last), fold_name(first), contact)}"


def teacher_jointure(last: str, first: str, email: str, uai: str) -> str:
    return f"onde-ens-{_hash(fold(last), fold(first), email.lower() or f'uai:{uai}')}"


def phone_key(value: str) -> str:
    """Digits only, +33/0033 written as a leading 0, so one number written two ways is one key."""
    digits = re.sub(r"\D", "", value)
    for prefix in ("0033", "33"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 9:
            return "0" + digits[len(prefix) :]
    return digits


@lru_cache(maxsize=4096)  # siblings repeat their parents' addresses
def email_problem(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return ""


def checked_email(value: str) -> tuple[str, str]:
    """(the e-mail, "") when valid or empty; ("", why) when invalid: the person is kept without it."""
    if not value or not (problem := email_problem(value)):
        return value, ""
    return "", f"e-mail {value!r} left out: {problem}"


def parent(last: str, first: str, email: str, phone: str, uai: str, ref: str) -> Person:
    jointure = parent_jointure(last, first, email, phone, uai)
    return Person(PersonKind.PARENT, last, first, jointure=jointure, email=email or None, source_ref=ref)


@dataclass(slots=True)
class Children:
    """An école's pupils as a responsables file names them: first name, family names, class."""

    by_first: dict[str, list[tuple[frozenset[str], str, str]]] = field(default_factory=dict)

    def add(self, pupil_ref: str, names: tuple[str, ...], first: str, classe: str) -> None:
        folded = frozenset(n for n in map(fold, names) if n)
        self.by_first.setdefault(fold(first), []).append((folded, fold(classe), pupil_ref))

    def find(self, names: tuple[str, ...], first: str, classe: str) -> list[str]:
        """The pupils who share a family name and the first name, in the class when one is given."""
        folded, wanted = {n for n in map(fold, names) if n}, fold(classe)
        return [ref for pupil_names, pupil_classe, ref in self.by_first.get(fold(first), ())
                if pupil_names & folded and (not wanted or pupil_classe == wanted)]  # fmt: skip


@dataclass(slots=True)
class Teachers:
    """The enseignants of every école read, merged by jointure (one teacher in two écoles is one person)."""

    people: dict[str, Person] = field(default_factory=dict)

    def add(self, uai: str, last: str, first: str, email: str, directeur: bool, classes: tuple[str, ...],
            ref: str) -> Person:  # fmt: skip
        """The teacher, with this row's function(s) and class added when already met."""
        jointure = teacher_jointure(last, first, email, uai)
        functions = (Function(uai, "ENS"), *((Function(uai, "DIR", "DIRECTION"),) if directeur else ()))
        assignments = tuple(TeachingAssignment(uai, code) for code in classes)
        if known := self.people.get(jointure):
            known.functions = tuple(dict.fromkeys(known.functions + functions))
            known.assignments = tuple(dict.fromkeys(known.assignments + assignments))
            return known
        teacher = Person(PersonKind.ENSEIGNANT, last, first, jointure=jointure, email=email or None, uai=uai,
                         functions=functions, assignments=assignments, source_ref=ref)  # fmt: skip
        self.people[jointure] = teacher
        return teacher
