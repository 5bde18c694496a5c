"""GLPI's legacy REST API (``apirest.php``, GLPI 9.1 → 11): a session per use, tickets, followups, search.

Facts from ``../shared/specs/glpi.md`` §1: ``initSession`` with the ``App-Token`` header and
``Authorization: user_token …``; every later call sends ``Session-Token``; GET requests carry no
body; errors are ``["ERROR_CODE", "message"]`` with a 4xx/5xx status; an expired session
(``ERROR_SESSION_TOKEN_INVALID``) is opened again and the call retried once; search results come
in pages (``range``, ``Content-Range``, 200 or 206).
"""

from __future__ import annotations

import html
import re

import httpx

from hub.errors import DeliveryError

STATUS = {1: "new", 2: "processing", 3: "processing", 4: "pending", 5: "solved", 6: "closed"}
NAME, ID, STATUS_FIELD = "1", "2", "12"  # Ticket search options
RETRYABLE_CODES = {"ERROR_SQL", "ERROR_SESSION_TOKEN_INVALID"}
CONTENT_RANGE = re.compile(r"(\d+)-(\d+)/(\d+)")


def as_html(text: str) -> str:
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


class LegacyGlpi:
    """One session on a GLPI instance (a context manager: ``initSession`` … ``killSession``)."""

    def __init__(self, options):
        self.options = options
        headers = {"Content-Type": "application/json"}
        if options.app_token:
            headers["App-Token"] = options.app_token.get_secret_value()
        self.http = httpx.Client(base_url=str(options.url).rstrip("/") + "/", headers=headers,
                                 timeout=options.timeout_seconds)
        self.session: str | None = None

    def __enter__(self) -> LegacyGlpi:
        try:
            self._init_session()
        except BaseException:
            self.http.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.session:
                self.http.get("killSession", headers={"Session-Token": self.session})
        except httpx.HTTPError:
            pass  # the session expires on its own
        finally:
            self.http.close()

    def _init_session(self) -> None:
        token = self.options.user_token.get_secret_value() if self.options.user_token else ""
        answer = self._send("GET", "initSession", headers={"Authorization": f"user_token {token}"})
        self.session = answer.json()["session_token"]

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"GLPI {self.options.url} did not answer {method} {path} in time "
                                f"({self.options.timeout_seconds:g} s)") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"GLPI {self.options.url} unreachable: {exc}") from exc
        if response.is_success:
            return response
        code, message = _error(response)
        retryable = response.status_code >= 500 or response.status_code == 429 or code in RETRYABLE_CODES
        raise GlpiError(f"GLPI refused {method} {path}: {response.status_code} {code}: {message}", code,
                        retryable=retryable)

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One call in the session; an expired session is opened again and the call made once more."""
        try:
            return self._send(method, path, headers={"Session-Token": self.session}, **kwargs)
        except GlpiError as exc:
            if exc.code != "ERROR_SESSION_TOKEN_INVALID":
                raise
        self._init_session()
        return self._send(method, path, headers={"Session-Token": self.session}, **kwargs)

    # --- tickets ----------------------------------------------------------------------------

    def search_tickets(self, criteria: list[dict]) -> list[dict]:
        """Every ticket the criteria select, as ``{"1": name, "2": id, "12": status}``, page by page."""
        params = {"forcedisplay[0]": ID, "forcedisplay[1]": STATUS_FIELD}
        for n, criterion in enumerate(criteria):
            params.update({f"criteria[{n}][{key}]": value for key, value in criterion.items()})
        found, start, size = [], 0, self.options.page_size
        while True:
            response = self.call("GET", "search/Ticket", params={**params, "range": f"{start}-{start + size - 1}"})
            body = response.json()
            found += body.get("data") or []
            total = int(body.get("totalcount", 0))
            match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            end = int(match[2]) if match else start + len(body.get("data") or []) - 1
            if end >= total - 1 or not body.get("data"):
                return found
            start = end + 1

    def find_ticket(self, reference: str) -> str | None:
        marker = f"[{reference}]"
        rows = self.search_tickets([{"field": NAME, "searchtype": "contains", "value": marker}])
        return next((str(row[ID]) for row in rows if marker in str(row.get(NAME, ""))), None)

    def open_ticket(self, incident) -> str:
        existing = self.find_ticket(incident.reference)
        if existing is not None:
            return existing
        o = self.options
        ticket = {"name": f"[{incident.reference}] {incident.title}"[:255], "type": 1, "urgency": incident.urgency,
                  "content": as_html(incident.content + "\n\n" + footer(incident))}
        defaults = {"entities_id": o.entity_id, "itilcategories_id": o.categories.get(incident.domain),
                    "_users_id_requester": o.requester_id, "requesttypes_id": o.request_type_id}
        ticket.update({k: v for k, v in defaults.items() if v is not None})
        if incident.requester:
            ticket["_users_id_requester_notif"] = {"use_notification": [1], "alternative_email": [incident.requester]}
        ticket.update(incident.fields)
        if "entities_id" in ticket:
            self.call("POST", "changeActiveEntities", json={"entities_id": ticket["entities_id"],
                                                              "is_recursive": True})
        return str(self.call("POST", "Ticket/", json={"input": ticket}).json()["id"])

    def add_followup(self, ticket_id: str, content: str, marker: str) -> None:
        stamp = f"[{marker}]"
        existing = self.call("GET", f"Ticket/{ticket_id}/ITILFollowup", params={"range": "0-999"}).json()
        if any(stamp in str(f.get("content", "")) for f in existing):
            return
        self.call("POST", "ITILFollowup/", json={"input": {"itemtype": "Ticket", "items_id": int(ticket_id),
                                                          "content": as_html(f"{content}\n\n{stamp}")}})

    def statuses(self, ticket_ids: list[str]) -> dict[str, str]:
        """The status of these tickets: one search whose criteria are their ids, joined by OR."""
        criteria = [{"field": ID, "searchtype": "equals", "value": ticket_id, **({"link": "OR"} if n else {})}
                    for n, ticket_id in enumerate(ticket_ids)]
        wanted = set(ticket_ids)
        return {str(row[ID]): STATUS.get(int(row[STATUS_FIELD]), str(row[STATUS_FIELD]))
                for row in self.search_tickets(criteria) if str(row[ID]) in wanted} if criteria else {}


class GlpiError(DeliveryError):
    def __init__(self, reason: str, code: str, *, retryable: bool):
        super().__init__(reason, retryable=retryable)
        self.code = code


def _error(response: httpx.Response) -> tuple[str, str]:
    """GLPI's ``["ERROR_CODE", "message"]`` body, or what stands in its place (a proxy's page)."""
    try:
        body = response.json()
    except ValueError:
        return "HTTP", page_text(response)
    if isinstance(body, list) and body:
        return str(body[0]), str(body[1]) if len(body) > 1 else ""
    return "HTTP", str(body)[:200]


def page_text(response: httpx.Response) -> str:
    """A non-JSON answer (a proxy's error page) as one short line of its text."""
    text = " ".join(re.sub(r"<[^>]+>", " ", response.text).split())
    return text[:200] or response.reason_phrase


def footer(incident) -> str:
    where = f"establishment {incident.uai}" if incident.uai else "no establishment"
    return (f"Reported by {incident.reporter} through ENT Hub ({incident.domain}, {where}; "
            f"reference {incident.reference}).")
