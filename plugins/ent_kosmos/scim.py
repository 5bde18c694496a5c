"""The ENT's SCIM service as the target sees it: scim2-client over the run's pooled httpx client.

`Ent.send` runs a list of `Call`s, in one SCIM Bulk request when the server advertises Bulk
in its ServiceProviderConfig, else one request each; every call gets its own outcome. The
target's answers become `DeliveryError`s here: 5xx, 429, timeouts and network errors are
retryable; a 400 (schema) or a 409 is not, with the server's ``scimType`` and ``detail``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient, RequestNetworkException, SCIMClientException
from scim2_models import SCIMException

from hub.errors import DeliveryError

RETRYABLE = {408, 425, 429}
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


class HttpxEngine(BaseSyncSCIMClient):
    """scim2-client's engine for a plain ``httpx.Client`` (the hub's pooled client, ``base_url`` the SCIM root)."""

    def __init__(self, client: httpx.Client, **options: Any):
        super().__init__(**options)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url, base = self.client.build_request("GET", endpoint).url, self.client.base_url
        return url.host == base.host and url.port == base.port and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: httpx.Response) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise RequestNetworkException(message=f"{type(exc).__name__}: {exc}") from exc


class Lost(DeliveryError):
    """The ENT answered 404 for a resource the hub provisioned there: it lost it."""

    def __init__(self, reason: str):
        super().__init__(reason, retryable=False)


@dataclass
class Call:
    """One SCIM request: ``method`` on ``resource`` (Users, Groups), ``id`` for all but POST."""

    method: str
    resource: str
    id: str | None = None
    body: dict | None = None

    @property
    def path(self) -> str:
        return f"/{self.resource}" + (f"/{self.id}" if self.id else "")


@dataclass
class Answer:
    """A call's outcome: ``status`` and the payload (the resource, or the SCIM error)."""

    status: int
    payload: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status < 300

    @property
    def id(self) -> str | None:
        return (self.payload or {}).get("id")


class Ent:
    """One ENT's SCIM service for one run: discovered once, then calls."""

    def __init__(self, client: httpx.Client, url: str):
        self.url = url
        self.scim = HttpxEngine(client, check_request_payload=False, check_response_payload=False)
        try:
            self.scim.discover()  # its schemas, resource types and ServiceProviderConfig
        except (SCIMClientException, SCIMException) as exc:
            raise refusal(exc, f"the ENT at {url} (discovery)") from exc
        self.models = {"Users": self.scim.get_resource_model("User"), "Groups": self.scim.get_resource_model("Group")}
        bulk = self.scim.provider.config.bulk if self.scim.provider.config else None
        self.bulk_limit = (bulk.max_operations or 1000) if bulk and bulk.supported else 0

    def send(self, calls: list[Call]) -> list[Answer]:
        """Each call's answer; raises a retryable DeliveryError when the ENT answered none of them."""
        if not calls:
            return []
        if self.bulk_limit > 1 and len(calls) > 1:
            answers = []
            for start in range(0, len(calls), self.bulk_limit):
                answers += self._bulk(calls[start:start + self.bulk_limit])
            return answers
        return [self.one(call) for call in calls]

    def one(self, call: Call) -> Answer:
        try:
            response = self.scim.request(call.method, call.path, **({"json": call.body} if call.body else {}))
        except SCIMClientException as exc:
            raise refusal(exc, f"the ENT at {self.url}") from exc
        return _answer(response.status_code, _json(response))

    def find(self, resource: str, attribute: str, value: str) -> str | None:
        """The id of the one resource whose ``attribute`` equals ``value``, if any."""
        search = {"filter": f'{attribute} eq "{_quoted(value)}"', "attributes": ["id"]}
        try:
            result = self.scim.query(self.models[resource], query_parameters=search)
        except (SCIMClientException, SCIMException) as exc:
            raise refusal(exc, f"searching the ENT's {resource} for {attribute} {value}") from exc
        if result.get("status"):
            raise failure(_answer(int(result["status"]), result), f"searching the ENT's {resource} for {value}")
        found = result.get("Resources") or []
        return found[0]["id"] if found else None

    def _bulk(self, calls: list[Call]) -> list[Answer]:
        operations = [{"method": c.method, "path": c.path, "bulkId": f"op{i}", **({"data": c.body} if c.body else {})}
                      for i, c in enumerate(calls)]
        try:
            result = self.scim.bulk({"schemas": [BULK], "Operations": operations}, raise_scim_errors=False)
        except (SCIMClientException, SCIMException) as exc:
            raise refusal(exc, f"the ENT at {self.url} (Bulk)") from exc
        if isinstance(result, dict) and result.get("status") and not result.get("Operations"):
            raise failure(_answer(int(result["status"]), result), f"the ENT at {self.url} (Bulk)")
        by_id = {op.get("bulkId"): op for op in (result or {}).get("Operations", [])}
        answers = []
        for i, _call in enumerate(calls):
            op = by_id.get(f"op{i}")
            if op is None:
                answers.append(Answer(503, {"detail": "the Bulk response left this operation out"}))
                continue
            payload = op.get("response") or {}
            if op.get("location") and "id" not in payload:
                payload = {**payload, "id": op["location"].rstrip("/").rsplit("/", 1)[-1]}
            answers.append(_answer(int(op["status"]), payload))
        return answers


def _json(response: httpx.Response) -> dict | None:
    try:
        return response.json() if response.content else None
    except ValueError:
        return {"detail": response.text[:200]}


def _answer(status: int, payload: dict | None) -> Answer:
    return Answer(status, payload)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def failure(answer: Answer, what: str) -> DeliveryError:
    """A refused call as a DeliveryError: retryable for 5xx and throttling, with the SCIM error's words."""
    payload = answer.payload or {}
    words = "; ".join(str(v) for v in (payload.get("scimType"), payload.get("detail")) if v)
    retryable = answer.status >= 500 or answer.status in RETRYABLE
    return DeliveryError(f"{what}: the ENT answered {answer.status}" + (f" ({words})" if words else ""),
                         retryable=retryable)


def refusal(exc: Exception, what: str) -> DeliveryError:
    """A client-side failure (network, timeout, a non-SCIM answer) as a DeliveryError."""
    if isinstance(exc, SCIMException):
        return failure(Answer(int(exc.status), {"scimType": exc.scim_type, "detail": exc.detail}), what)
    cause = exc.__cause__ or exc
    response = getattr(exc, "source", None)
    if isinstance(response, httpx.Response):
        return failure(Answer(response.status_code, _json(response)), what)
    return DeliveryError(f"{what}: {type(cause).__name__}: {cause}", retryable=True)
