"""Webhook target: POST every change as JSON to an HTTP endpoint.

For systems without a dedicated plugin (a département's own middleware, a
data warehouse). The body is the change and the entity's current state; the
``Idempotency-Key`` header lets the receiver ignore a repeat after a crash.
Only the attributes listed in ``person_fields`` leave the hub (pupils are minors).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Literal

import httpx
from pydantic import AnyHttpUrl, SecretStr

from hub.errors import DeliveryError
from hub.hookspecs import Scope, hookimpl
from hub.model import Change, Person
from hub.settings import Strict

RETRYABLE_STATUS = {408, 425, 429}


class Settings(Strict):
    url: AnyHttpUrl
    token: SecretStr | None = None  # sent as a Bearer token; from HUB_PLUGINS__WEBHOOK__TOKEN(_FILE)
    timeout_seconds: float = 10.0
    person_fields: list[str] = ["kind", "last_name", "first_name", "uai", "enrollment", "memberships"]
    entities: list[Literal["establishment", "group", "person", "membership", "guardianship"]] = [
        "establishment", "group", "person"]


@hookimpl
def hub_target_scope(settings: Settings) -> Scope:
    return Scope(entities=frozenset(settings.entities))


@hookimpl
def hub_deliver(context, changes: list[Change]) -> list:
    """POST each change; one failed request fails that change only."""
    settings: Settings = context.settings
    client = context.http(timeout=settings.timeout_seconds)
    return [_post(client, settings, change) for change in changes]


def _post(client: httpx.Client, settings: Settings, change: Change) -> DeliveryError | None:
    headers = {"Idempotency-Key": change.idempotency_key}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
    body = {"op": change.op, "entity": change.entity, "key": change.key, "run_id": change.run_id,
            "uai": change.uai, "old_uai": change.old_uai, "record": _release(change.record, settings.person_fields)}
    try:
        response = client.post(str(settings.url), json=body, headers=headers)
    except httpx.HTTPError as exc:
        return DeliveryError(f"webhook {settings.url}: {type(exc).__name__}: {exc}")
    if response.is_success:
        return None
    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUS
    return DeliveryError(f"webhook {settings.url} answered {response.status_code}: {response.text[:200]}",
                         retryable=retryable)


def _release(record, fields: list[str]) -> dict | None:
    if record is None:
        return None
    data = _jsonable(dataclasses.asdict(record))
    if isinstance(record, Person):
        data = {name: value for name, value in data.items() if name in fields}
    return data


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
