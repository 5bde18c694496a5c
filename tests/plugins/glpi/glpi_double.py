"""A GLPI test double: the legacy REST API (``apirest.php``) as a small Flask app on 127.0.0.1.

GLPI (PHP + MariaDB) cannot be installed from the package registries here, so the GLPI plugin
is tested against this double. It follows ``../shared/specs/glpi.md`` §1; what it implements,
and where it had to assume, is in ``CONTRACT.md`` beside it. Test controls: ``down`` (every call
answers 503 with a proxy's HTML page), ``slow`` (seconds to sleep before answering),
``slow_after_create`` (create the ticket, then sleep: a client that times out has nonetheless
opened it), ``expire_sessions()`` (every open session becomes invalid), ``set_status``.
"""

from __future__ import annotations

import functools
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

STATUSES = range(1, 7)


@dataclass
class User:
    id: int
    name: str
    entities: set[int]
    can_create: bool = True


@dataclass
class Glpi:
    app_token: str | None = "app-secret"
    users: dict[str, User] = field(default_factory=lambda: {
        "user-secret": User(7, "ent-hub", {0, 3, 5}),
        "reader-secret": User(8, "readonly", {0, 3, 5}, can_create=False)})
    categories: set[int] = field(default_factory=lambda: {11, 12, 13, 14, 15, 16})
    max_range: int = 1000  # Accept-Range: Ticket 1000
    tickets: dict[int, dict] = field(default_factory=dict)
    followups: list[dict] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # "GET initSession", "POST Ticket/"…
    oauth_clients: dict[str, str] = field(default_factory=lambda: {"ent-hub": "client-secret"})
    logins: dict[str, tuple[str, str]] = field(default_factory=lambda: {  # login → (password, user token)
        "ent-hub": ("password", "user-secret"), "readonly": ("password", "reader-secret")})
    bearers: dict[str, User] = field(default_factory=dict)
    refresh_tokens: dict[str, User] = field(default_factory=dict)
    down: bool = False
    slow: float = 0.0
    slow_after_create: float = 0.0
    url: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- test controls -------------------------------------------------------------------

    def expire_sessions(self) -> None:
        self.sessions.clear()
        self.bearers.clear()

    def set_status(self, ticket_id: int, status: int) -> None:
        self.tickets[ticket_id]["status"] = status

    def count(self, call: str) -> int:
        return sum(1 for c in self.calls if c == call)

    # --- the API --------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("glpi-double")
        base = "/apirest.php"

        @app.before_request
        def _faults():
            self.calls.append(f"{request.method} {request.path.removeprefix(base + '/')}")
            if self.down:
                return Response("<html><body><h1>503 Service Unavailable</h1></body></html>", 503,
                                content_type="text/html")
            if self.slow:
                time.sleep(self.slow)
            if request.path.startswith("/api.php/"):
                return None  # the high-level API: OAuth2, no App-Token
            if request.method == "GET" and request.get_data():
                return error(400, "ERROR_JSON_PAYLOAD_FORBIDDEN", "GET Request should not have json payload")
            if self.app_token is not None:
                given = request.headers.get("App-Token") or request.args.get("app_token")
                if not given:
                    return error(400, "ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token")
                if given != self.app_token:
                    return error(400, "ERROR_WRONG_APP_TOKEN_PARAMETER", "parameter app_token seems wrong")
            return None

        @app.get(f"{base}/initSession")
        def init_session():
            auth = request.headers.get("Authorization", "")
            if not auth:
                return error(400, "ERROR_LOGIN_PARAMETERS_MISSING", "parameter(s) login, password or user_token "
                             "are missing")
            user = self.users.get(auth.removeprefix("user_token ").strip()) if auth.startswith("user_token") else None
            if user is None:
                return error(401, "ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid")
            token = secrets.token_hex(13)
            self.sessions[token] = {"user": user, "active_entities": {min(user.entities)}}
            return jsonify(session_token=token)

        def session(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                token = request.headers.get("Session-Token") or request.args.get("session_token")
                if not token:
                    return error(400, "ERROR_SESSION_TOKEN_MISSING", "parameter session_token is missing or empty")
                if token not in self.sessions:
                    return error(401, "ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid")
                return view(self.sessions[token], *args, **kwargs)
            return wrapped

        @app.get(f"{base}/killSession")
        @session
        def kill_session(current):
            self.sessions.pop(request.headers.get("Session-Token"), None)
            return jsonify(True)

        @app.post(f"{base}/changeActiveEntities")
        @session
        def change_active_entities(current):
            body = request.get_json(silent=True) or {}
            entity = body.get("entities_id")
            if entity not in current["user"].entities:
                return error(400, "ERROR_ITEM_NOT_FOUND", f"entity {entity} is not one of yours")
            current["active_entities"] = {entity}
            return jsonify(True)

        @app.get(f"{base}/search/Ticket")
        @session
        def search_tickets(current):
            criteria = _criteria(request.args)
            rows = [t for t in sorted(self.tickets.values(), key=lambda t: t["id"]) if _selects(t, criteria)]
            display = {request.args[k] for k in request.args if k.startswith("forcedisplay[")} | {"1", "2"}
            page = paged(rows, request.args.get("range", "0-49"), self.max_range, "Ticket")
            if isinstance(page, Response):
                return page
            start, end, chunk = page
            body = {"totalcount": len(rows), "count": len(chunk)}
            if chunk:  # GLPI leaves "data" out of an empty result
                body["data"] = [{f: t[SEARCH_FIELDS[f]] for f in display if f in SEARCH_FIELDS} for t in chunk]
            return ranged(body, start, end, len(rows), "Ticket", self.max_range)

        @app.get(f"{base}/Ticket/<int:ticket_id>")
        @session
        def get_ticket(current, ticket_id):
            if ticket_id not in self.tickets:
                return error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
            return jsonify(self.tickets[ticket_id])

        @app.post(f"{base}/Ticket/")
        @session
        def create_ticket(current):
            data = _input(request)
            if isinstance(data, Response):
                return data
            if not current["user"].can_create:
                return error(401, "ERROR_RIGHT_MISSING", "You don't have permission to perform this action.")
            problem = self._ticket_problem(data, current)
            if problem:
                return error(400, "ERROR_GLPI_ADD", problem)
            with self._lock:
                ticket_id = next(self._ids)
                self.tickets[ticket_id] = {"id": ticket_id, "status": 1, "type": 1, "urgency": 3, **data,
                                           "users_id_recipient": current["user"].id}
            if self.slow_after_create:
                time.sleep(self.slow_after_create)
            answer = jsonify(id=ticket_id, message="")
            answer.status_code = 201
            answer.headers["Location"] = f"{self.url}/Ticket/{ticket_id}"
            return answer

        @app.get(f"{base}/Ticket/<int:ticket_id>/ITILFollowup")
        @session
        def list_followups(current, ticket_id):
            if ticket_id not in self.tickets:
                return error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
            rows = [f for f in self.followups if f["items_id"] == ticket_id]
            page = paged(rows, request.args.get("range", "0-49"), self.max_range, "ITILFollowup")
            if isinstance(page, Response):
                return page
            start, end, chunk = page
            return ranged(chunk, start, end, len(rows), "ITILFollowup", self.max_range)

        @app.post(f"{base}/ITILFollowup/")
        @session
        def add_followup(current):
            data = _input(request)
            if isinstance(data, Response):
                return data
            if not current["user"].can_create:
                return error(401, "ERROR_RIGHT_MISSING", "You don't have permission to perform this action.")
            if data.get("itemtype") != "Ticket" or data.get("items_id") not in self.tickets or not data.get("content"):
                return error(400, "ERROR_GLPI_ADD", "itemtype, items_id (an existing ticket) and content are required")
            with self._lock:
                followup = {"id": len(self.followups) + 1, **data, "users_id": current["user"].id}
                self.followups.append(followup)
            answer = jsonify(id=followup["id"], message="")
            answer.status_code = 201
            return answer

        self._high_level_api(app)
        return app

    def _high_level_api(self, app: Flask) -> None:
        """GLPI 11's ``api.php``: OAuth2 token endpoint, tickets and their followups (CONTRACT.md §2)."""
        hl = "/api.php/v2/Assistance/Ticket"

        @app.post("/api.php/token")
        def token():
            form = request.form
            if self.oauth_clients.get(form.get("client_id", "")) != form.get("client_secret"):
                return jsonify(error="invalid_client", error_description="Client authentication failed"), 401
            user = None
            if form.get("grant_type") == "password":
                login = self.logins.get(form.get("username", ""))
                user = self.users[login[1]] if login and login[0] == form.get("password") else None
            elif form.get("grant_type") == "client_credentials":
                user = self.users["user-secret"]
            elif form.get("grant_type") == "refresh_token":
                user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            else:
                return jsonify(error="unsupported_grant_type", error_description="grant type not supported"), 400
            if user is None:
                return jsonify(error="invalid_grant", error_description="The user credentials were incorrect."), 400
            access, refresh = secrets.token_hex(16), secrets.token_hex(16)
            self.bearers[access] = user
            self.refresh_tokens[refresh] = user
            return jsonify(token_type="Bearer", expires_in=3600, access_token=access, refresh_token=refresh)

        def bearer(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                user = self.bearers.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
                if user is None:
                    return hl_error(401, "ERROR_UNAUTHENTICATED", "You are not authenticated")
                return view(user, *args, **kwargs)
            return wrapped

        @app.get(hl)
        @bearer
        def list_tickets(user):
            rows = [t for t in sorted(self.tickets.values(), key=lambda t: t["id"])
                    if _rsql(t, request.args.get("filter", ""))]
            return hl_page([hl_ticket(t) for t in rows])

        @app.post(hl)
        @bearer
        def create_ticket_hl(user):
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return hl_error(400, "ERROR_INVALID_PARAMETER", "The body must be a JSON object")
            if not user.can_create:
                return hl_error(403, "ERROR_RIGHT_MISSING", "You do not have the right to create this item")
            data = {({"entity": "entities_id", "category": "itilcategories_id"}).get(k, k): v for k, v in body.items()}
            problem = self._ticket_problem(data, {"active_entities": user.entities})
            if problem:
                return hl_error(400, "ERROR_INVALID_PARAMETER", problem)
            with self._lock:
                ticket_id = next(self._ids)
                self.tickets[ticket_id] = {"id": ticket_id, "status": 1, "type": 1, "urgency": 3, **data,
                                           "users_id_recipient": user.id}
            answer = jsonify(id=ticket_id, href=f"/Assistance/Ticket/{ticket_id}")
            answer.status_code = 201
            answer.headers["Location"] = f"/api.php/v2/Assistance/Ticket/{ticket_id}"
            return answer

        @app.route(f"{hl}/<int:ticket_id>/Timeline/Followup", methods=["GET", "POST"])
        @bearer
        def followups_hl(user, ticket_id):
            if ticket_id not in self.tickets:
                return hl_error(404, "ERROR_ITEM_NOT_FOUND", "The requested item was not found")
            if request.method == "GET":
                return hl_page([f for f in self.followups if f["items_id"] == ticket_id])
            content = (request.get_json(silent=True) or {}).get("content")
            if not content:
                return hl_error(400, "ERROR_INVALID_PARAMETER", "content is required")
            with self._lock:
                followup = {"id": len(self.followups) + 1, "itemtype": "Ticket", "items_id": ticket_id,
                            "content": content, "users_id": user.id}
                self.followups.append(followup)
            answer = jsonify(id=followup["id"])
            answer.status_code = 201
            return answer

    def _ticket_problem(self, data: dict, current: dict) -> str | None:
        """GLPI's own checks on a new ticket, as far as the double knows them (see CONTRACT.md)."""
        if not str(data.get("name", "")).strip() or not str(data.get("content", "")).strip():
            return "Mandatory fields are not filled. Please correct: Title, Description"
        if "urgency" in data and data["urgency"] not in range(1, 6):
            return f"urgency {data['urgency']} is not 1 … 5"
        category = data.get("itilcategories_id")
        if category not in (None, 0) and category not in self.categories:
            return f"ITIL category {category} does not exist"
        entity = data.get("entities_id", min(current["active_entities"]))
        if entity not in current["active_entities"]:
            return f"entity {entity} is not the active entity"
        return None


SEARCH_FIELDS = {"1": "name", "2": "id", "12": "status"}


def error(status: int, code: str, message: str) -> Response:
    answer = jsonify([code, message])
    answer.status_code = status
    return answer


def hl_error(status: int, code: str, title: str) -> Response:
    answer = jsonify(status=code, title=title, detail=None)
    answer.status_code = status
    return answer


def hl_ticket(t: dict) -> dict:
    """A ticket as the high-level API shows it: dropdowns expanded as ``{id, name}``."""
    names = {1: "New", 2: "Processing (assigned)", 3: "Processing (planned)", 4: "Pending", 5: "Solved", 6: "Closed"}
    return {"id": t["id"], "name": t["name"], "content": t["content"], "urgency": t["urgency"],
            "status": {"id": t["status"], "name": names[t["status"]]},
            "entity": {"id": t.get("entities_id", 0)}, "category": {"id": t.get("itilcategories_id", 0)}}


def hl_page(rows: list) -> Response:
    """``start``/``limit`` paging with the total in Content-Range (206 when partial)."""
    start, limit = int(request.args.get("start", 0)), int(request.args.get("limit", 50))
    chunk = rows[start:start + limit]
    answer = jsonify(chunk)
    end = start + len(chunk) - 1
    answer.status_code = 206 if len(chunk) < len(rows) else 200
    answer.headers["Content-Range"] = f"{start}-{max(end, start)}/{len(rows)}"
    return answer


def _rsql(ticket: dict, expression: str) -> bool:
    """The RSQL the hub sends: ``name=like=*text*`` and ``id=in=(1,2)``, joined by ``;`` (AND)."""
    for part in filter(None, expression.split(";")):
        match = re.fullmatch(r"(\w+)=(like|in)=(.*)", part)
        if not match:
            return False
        name, op, value = match.groups()
        if op == "like" and value.strip("*").lower() not in str(ticket.get(name, "")).lower():
            return False
        if op == "in" and str(ticket.get(name)) not in value.strip("()").split(","):
            return False
    return True


def _input(req):
    body = req.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        return error(400, "ERROR_BAD_ARRAY", "input parameter must be an array of objects")
    return body["input"]


def _criteria(args) -> list[dict]:
    found: dict[int, dict] = {}
    for key, value in args.items():
        match = re.fullmatch(r"criteria\[(\d+)\]\[(\w+)\]", key)
        if match:
            found.setdefault(int(match[1]), {})[match[2]] = value
    return [found[i] for i in sorted(found)]


def _selects(ticket: dict, criteria: list[dict]) -> bool:
    """Criteria read left to right, each joined to the ones before by its ``link`` (AND by default)."""
    selected = True
    for n, criterion in enumerate(criteria):
        holds = _holds(ticket, criterion)
        link = criterion.get("link", "AND").upper()
        selected = holds if n == 0 else (selected or holds) if link == "OR" else (selected and holds)
    return selected


def _holds(ticket: dict, criterion: dict) -> bool:
    value = str(ticket.get(SEARCH_FIELDS.get(criterion.get("field", ""), ""), ""))
    wanted, kind = criterion.get("value", ""), criterion.get("searchtype", "contains")
    if kind == "contains":
        return wanted.lower() in value.lower()
    if kind == "equals":
        return value == wanted
    if kind == "notequals":
        return value != wanted
    return False


def paged(rows: list, spec: str, max_range: int, itemtype: str):
    """(start, end, rows of the page) for a ``range=a-b``, or GLPI's error."""
    match = re.fullmatch(r"(\d+)-(\d+)", spec)
    if not match or int(match[1]) > int(match[2]):
        return error(400, "ERROR_RANGE_EXCEED_TOTAL" if match else "ERROR_BAD_ARRAY", f"bad range {spec}")
    start, end = int(match[1]), min(int(match[2]), int(match[1]) + max_range - 1)
    if rows and start >= len(rows):
        return error(400, "ERROR_RANGE_EXCEED_TOTAL", "Provided range exceed total count of data")
    end = min(end, len(rows) - 1)
    return start, end, rows[start:end + 1]


def ranged(body, start: int, end: int, total: int, itemtype: str, max_range: int) -> Response:
    answer = jsonify(body)
    answer.status_code = 206 if total and (start > 0 or end < total - 1) else 200
    answer.headers["Content-Range"] = f"{start}-{end}/{total}"
    answer.headers["Accept-Range"] = f"{itemtype} {max_range}"
    return answer


class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the tests read `glpi.calls`, not a log
        pass


def serve(glpi: Glpi | None = None):
    """Start the double on a free port of 127.0.0.1; ``glpi.url`` is its apirest.php root. Stop with shutdown()."""
    glpi = glpi or Glpi()
    server = make_server("127.0.0.1", 0, glpi.app(), threaded=True, request_handler=Quiet)
    glpi.url = f"http://127.0.0.1:{server.server_port}/apirest.php"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.glpi = glpi
    return server
