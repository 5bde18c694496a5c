"""EduConnect's attribute names (SAML ``urn:oid:`` names, NameFormat URI) and how to read them.

Facts and sources: ``../shared/specs/educonnect.md`` §3–4. EduConnect sends the OID
names; friendly names are accepted too (some IdP proxies and the OIDC userinfo use them).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

_EDUCT = "urn:oid:1.3.6.1.4.1.20326.10.999.1."

NAMES = {  # friendly name -> SAML names to look for, OID first
    "FrEduCtId": (f"{_EDUCT}57", "FrEduCtId"),  # stable per account, 96 hex chars
    "FrEduCtPersonAffiliation": (f"{_EDUCT}7", "FrEduCtPersonAffiliation"),  # eleve1d eleve2d resp1d resp2d
    "FrEduCtEleveUAI": (f"{_EDUCT}72", "FrEduCtEleveUAI"),
    "FrEduCtEleveINE": ("FrEduCtEleveINE",),  # clear INE, for authorised SPs only; OID unconfirmed
    "FrEduVecteur": ("FrEduVecteur",),  # profil|nom|prénom|idEleve|UAI, one per pupil link
    "sn": ("urn:oid:2.5.4.4", "sn"),
    "givenName": ("urn:oid:2.5.4.42", "givenName"),
}

PUPIL_PROFILES = {"3", "4"}  # FrEduVecteur profil: 1/2 parent (1er/2nd degré), 3/4 élève (1er/2nd degré)
PARENT_PROFILES = {"1", "2"}


@dataclass(frozen=True)
class Vector:
    """One FrEduVecteur value: a link to a pupil (the pupil themself, or a parent's child)."""

    profile: str
    last_name: str
    first_name: str
    pupil_id: str  # the pupil's INE or source id (SIECLE/ONDE), as the académie feeds it
    uai: str

    @classmethod
    def parse(cls, value: str) -> Vector | None:
        parts = [p.strip() for p in value.split("|")]
        if len(parts) != 5 or not parts[3]:
            return None
        return cls(parts[0], parts[1], parts[2], parts[3], parts[4].upper())


def first(identity, friendly: str) -> str | None:
    return identity.first(*NAMES[friendly])


def values(identity, friendly: str) -> list[str]:
    return [v for name in NAMES[friendly] for v in identity.attributes.get(name, [])]


def vectors(identity) -> tuple[list[Vector], list[str]]:
    """The parsed vectors, and the values that are not vectors (reported, never guessed at)."""
    parsed, bad = [], []
    for value in values(identity, "FrEduVecteur"):
        vector = Vector.parse(value)
        (parsed.append(vector) if vector else bad.append(value))
    return parsed, bad


def same_name(a: str, b: str) -> bool:
    """Names compared without case, accents, hyphens or spaces (EduConnect and the AAF spell them apart)."""
    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKD", text)
        return "".join(c for c in text if c.isalnum()).upper()

    return bool(a) and fold(a) == fold(b)
