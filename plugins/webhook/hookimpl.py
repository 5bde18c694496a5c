"""Webhook target: POST every change as JSON to an HTTP endpoint.

For systems without a dedicated plugin (a département's own middleware, a
data warehouse). The body is the change and the entity's current state; the
``Idempotency-Key`` header lets the receiver ignore a repeat after a crash.
Only the attributes listed in ``person_fields`` leave the hub (pupils are minors).
"""

from __future__ import annotations

import dataclasses
from datetime import date

import httpx
from pydantic import AnyHttpUrl, SecretStr

from hub.errors import DeliveryError
from hub.hookspecs import hookimpl
from hub.model import Change, Person
from hub.settings import Strict

RETRYABLE_STATUS = {408, 425, 429}


class Settings(Strict):
    url: AnyHttpUrl
    token: SecretStr | None = None  # sent as a Bearer token; from HUB_PLUGINS__WEBHOOK__TOKEN(_FILE)
    timeout_seconds: float = 10.0
    person_fields: list[str] = ["kind", "last_name", "first_name", "uai", "enrollment", "memberships"]


@hookimpl
def hub_deliver(settings: Settings, change: Change) -> None:
    headers = {"Idempotency-Key": change.idempotency_key}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
    body = {"op": change.op, "entity": change.entity, "key": change.key, "run_id": change.run_id,
            "record": _release(change.record, settings.person_fields)}
    try:
        response = httpx.post(str(settings.url), json=body, headers=headers, timeout=settings.timeout_seconds)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook {settings.url}: {type(exc).__name__}: {exc}") from exc
    if response.is_success:
        return
    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUS
    raise DeliveryError(f"webhook {settings.url} answered {response.status_code}: {response.text[:200]}",
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
