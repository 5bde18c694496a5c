"""Attribute release: what a client may learn about a person. Pure functions, so the rules are table-tested.

A client receives ``sub`` (its own pairwise id for the person) and only the claims its
settings list; `hub_release_attributes` implementations may withhold more, never add.
"""

from __future__ import annotations

import hashlib
import hmac

from hub.errors import SettingsError
from hub.model import GroupKind, Person

CLAIMS = ("given_name", "family_name", "name", "email", "birthdate", "profile", "uai", "uais", "classes", "groups",
          "ine", "jointure", "functions")


def person_claims(person: Person) -> dict:
    """Every claim the hub could give about ``person`` (empty ones left out)."""
    classes = {m.code for m in person.memberships if m.kind == GroupKind.DIVISION}
    if person.enrollment and person.enrollment.division:
        classes.add(person.enrollment.division)
    classes |= {a.group_code for a in person.assignments}
    claims = {
        "given_name": person.first_name, "family_name": person.last_name,
        "name": f"{person.first_name} {person.last_name}".strip(), "email": person.email,
        "birthdate": person.birth_date.isoformat() if person.birth_date else None, "profile": str(person.kind),
        "uai": person.uai, "uais": sorted({person.uai, *(f.uai for f in person.functions)} - {None}),
        "classes": sorted(classes),
        "groups": sorted(m.code for m in person.memberships if m.kind != GroupKind.DIVISION),
        "ine": person.ine, "jointure": person.jointure,
        "functions": sorted(f"{f.uai}${f.code}" for f in person.functions),
    }
    return {name: value for name, value in claims.items() if value not in (None, "", [])}


def pairwise_sub(salt: str, client: str, person_key: str) -> str:
    """The person's id for this client only: two clients cannot join their users, and no INE leaks through it."""
    return hmac.new(salt.encode(), f"{client}\x1f{person_key}".encode(), hashlib.sha256).hexdigest()


def release(client_name: str, client, person_key: str, person: Person, salt: str, plugins) -> dict:
    """``sub`` plus the listed claims, minus what any plugin withholds (`hub_release_attributes`)."""
    listed = {name: value for name, value in person_claims(person).items() if name in client.claims}
    withheld: set[str] = set()
    for answer in plugins.hook.hub_release_attributes(client=client_name, person=person, claims=dict(listed)):
        withheld |= set(answer or ())
    return {"sub": pairwise_sub(salt, client_name, person_key),
            **{name: value for name, value in listed.items() if name not in withheld}}


def check_clients(clients: dict) -> None:
    """At start: every client lists known claims, and its CAS user claim is one it may receive."""
    for name, client in clients.items():
        unknown = sorted(set(client.claims) - set(CLAIMS))
        if unknown:
            raise SettingsError(f"setting sso.clients.{name}.claims: unknown claim(s) {', '.join(unknown)}; "
                                f"known: {', '.join(CLAIMS)}")
        if client.cas_user != "sub" and client.cas_user not in client.claims:
            raise SettingsError(f"setting sso.clients.{name}.cas_user: {client.cas_user} is not among its claims")
        if client.protocol == "oidc" and not client.public and client.secret is None:
            raise SettingsError(f"setting sso.clients.{name}.secret: a confidential client needs a secret; set "
                                f"HUB_SSO__CLIENTS__{name.upper()}__SECRET (or _FILE), or public = true")
