"""Reading what the SCIM server holds, for the ent_kosmos tests."""

from __future__ import annotations

import httpx
from scim_server import TOKEN

HUB_USER = "urn:ent-hub:params:scim:schemas:extension:hub:2.0:User"


def get(server, path: str, **params) -> dict:
    response = httpx.get(f"{server.url}/{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    return response.json()


def search(server, resource: str, filter_: str | None = None) -> list[dict]:
    params = {"count": 10000, **({"filter": filter_} if filter_ else {})}
    return get(server, resource, **params).get("Resources", [])


def by_external_id(server, resource: str, key: str) -> dict | None:
    found = search(server, resource, f'externalId eq "{key}"')
    assert len(found) <= 1, f"{len(found)} {resource} with externalId {key}"
    return found[0] if found else None


def content(server) -> list:
    """Every resource without its meta (versions and times change on any write)."""
    return sorted(({k: v for k, v in r.items() if k != "meta"} for r in
                   search(server, "Users") + search(server, "Groups")), key=lambda r: r["id"])
