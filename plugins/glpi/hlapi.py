"""GLPI 11's high-level API (``api.php/v2``) with OAuth2: the same three operations as `plugins.glpi.legacy`.

Facts from ``../shared/specs/glpi.md`` §2: a token from ``POST /api.php/token`` (form-encoded,
``grant_type=password`` with the client and a user, or ``client_credentials``; ``scope=api``);
calls carry ``Authorization: Bearer``; a 401 gets a new token (``refresh_token`` when one was
given) and the call is made once more; tickets under ``/v2/Assistance/Ticket``, followups under
its ``Timeline/Followup``; lists page with ``start``/``limit`` and filter with RSQL, the total in
``Content-Range``. The exact write shape of a ticket (ids for ``entity`` and ``category``) is the
spec's "unconfirmed" part: check it against the instance's ``/api.php/doc``.
"""

from __future__ import annotations

import httpx

from hub.errors import DeliveryError
from plugins.glpi.legacy import CONTENT_RANGE, as_html, footer, page_text

STATUS_NAMES = {1: "new", 2: "processing", 3: "processing", 4: "pending", 5: "solved", 6: "closed"}


class HighLevelGlpi:
    """An OAuth2 client of one GLPI 11 instance (a context manager, like `LegacyGlpi`)."""

    def __init__(self, options):
        self.options = options
        self.http = httpx.Client(base_url=str(options.url).rstrip("/") + "/", timeout=options.timeout_seconds)
        self.refresh: str | None = None

    def __enter__(self) -> HighLevelGlpi:
        try:
            self._token()
        except BaseException:
            self.http.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    def _token(self) -> None:
        o = self.options
        form = {"client_id": o.client_id, "client_secret": o.client_secret.get_secret_value(), "scope": "api"}
        if self.refresh:
            form.update(grant_type="refresh_token", refresh_token=self.refresh)
        elif o.username:
            form.update(grant_type="password", username=o.username, password=o.password.get_secret_value())
        else:
            form.update(grant_type="client_credentials")
        answer = self._send("POST", "token", data=form, retry_auth=False).json()
        self.http.headers["Authorization"] = f"Bearer {answer['access_token']}"
        self.refresh = answer.get("refresh_token")

    def _send(self, method: str, path: str, retry_auth: bool = True, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
            if response.status_code == 401 and retry_auth:  # expired: a new token, then once more
                try:
                    self._token()
                except DeliveryError:
                    self.refresh = None
                    self._token()
                response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"GLPI {self.options.url} did not answer {method} {path} in time "
                                f"({self.options.timeout_seconds:g} s)") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"GLPI {self.options.url} unreachable: {exc}") from exc
        if response.is_success:
            return response
        retryable = response.status_code >= 500 or response.status_code == 429
        raise DeliveryError(f"GLPI refused {method} {path}: {response.status_code} {_error(response)}",
                            retryable=retryable)

    def _list(self, path: str, **params) -> list[dict]:
        found, start = [], 0
        while True:
            response = self._send("GET", path, params={**params, "start": start, "limit": self.options.page_size})
            page = response.json()
            found += page
            match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not page or not match or int(match[2]) >= int(match[3]) - 1:
                return found
            start = int(match[2]) + 1

    def find_ticket(self, reference: str) -> str | None:
        marker = f"[{reference}]"
        rows = self._list("v2/Assistance/Ticket", filter=f"name=like=*{reference}*")
        return next((str(row["id"]) for row in rows if marker in str(row.get("name", ""))), None)

    def open_ticket(self, incident) -> str:
        existing = self.find_ticket(incident.reference)
        if existing is not None:
            return existing
        o = self.options
        ticket = {"name": f"[{incident.reference}] {incident.title}"[:255], "type": 1, "urgency": incident.urgency,
                  "content": as_html(incident.content + "\n\n" + footer(incident))}
        defaults = {"entity": o.entity_id, "category": o.categories.get(incident.domain)}
        ticket.update({k: v for k, v in defaults.items() if v is not None})
        ticket.update(incident.fields)
        return str(self._send("POST", "v2/Assistance/Ticket", json=ticket).json()["id"])

    def add_followup(self, ticket_id: str, content: str, marker: str) -> None:
        stamp = f"[{marker}]"
        path = f"v2/Assistance/Ticket/{ticket_id}/Timeline/Followup"
        if any(stamp in str(f.get("content", "")) for f in self._list(path)):
            return
        self._send("POST", path, json={"content": as_html(f"{content}\n\n{stamp}")})

    def statuses(self, ticket_ids: list[str]) -> dict[str, str]:
        ids = ",".join(ticket_ids)
        rows = self._list("v2/Assistance/Ticket", filter=f"id=in=({ids})")
        return {str(row["id"]): _status(row.get("status")) for row in rows if str(row["id"]) in set(ticket_ids)}


def _status(value) -> str:
    """The status as the API gives it: an expanded ``{id, name}`` dropdown, or the bare id."""
    number = value.get("id") if isinstance(value, dict) else value
    return STATUS_NAMES.get(int(number), str(number)) if number is not None else "unknown"


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return page_text(response)
    if isinstance(body, dict):
        return ": ".join(str(body[k]) for k in ("status", "title", "detail", "error", "error_description")
                         if body.get(k))
    return str(body)[:200]
