"""Server-side SSO sessions in the shared entries (Redis or the store), so any worker serves any user.

The cookie (``hub_sso``) holds only a random id. A session ends ``session_lifetime_seconds``
after the login, or ``session_idle_seconds`` after its last request, whichever comes first.
It is the broker's own (``hub.sso.sessions.session``, opened for the SSO blueprints only):
Flask's ``session`` stays the console's.
"""

from __future__ import annotations

import math
import secrets
import time

from flask import g
from flask.sessions import SessionMixin
from werkzeug.datastructures import CallbackDict
from werkzeug.local import LocalProxy

COOKIE = "hub_sso"


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, data=None, sid: str | None = None, started: float | None = None, touched: float = 0):
        def on_update(_):
            self.modified = True

        super().__init__(data or {}, on_update)
        self.new = sid is None
        self.sid = sid or secrets.token_urlsafe(32)
        self.started = started or time.time()
        self.touched = touched
        self.modified = False

    def renew(self) -> None:
        """A new id for the same data, its lifetime counted from now (a login: a session id planted before it
        must not become a logged-in one)."""
        self.old_sid = getattr(self, "old_sid", None) or self.sid
        self.sid, self.started, self.modified = secrets.token_urlsafe(32), time.time(), True


session: ServerSession = LocalProxy(lambda: g.sso_session)  # type: ignore[assignment]


class ServerSessions:
    def __init__(self, entries, settings):
        self.entries = entries
        self.lifetime = settings.session_lifetime_seconds
        self.idle = settings.session_idle_seconds
        self.secure = settings.base_url.startswith("https://")

    def open(self, request) -> ServerSession:
        sid = request.cookies.get(COOKIE)
        stored = self.entries.get(f"session:{sid}") if sid else None
        if stored and time.time() - stored["started"] < self.lifetime:
            return ServerSession(stored["data"], sid, stored["started"], stored.get("touched", 0))
        return ServerSession()

    def save(self, session: ServerSession, response) -> None:
        old = getattr(session, "old_sid", None)
        if old and not session:
            self.entries.delete(f"session:{old}")
        if not session:
            if not session.new:
                self.entries.delete(f"session:{session.sid}")
                response.delete_cookie(COOKIE, path="/")
            return
        at = time.time()
        remaining = self.lifetime - (at - session.started)
        if remaining <= 0 or (not session.modified and at - session.touched < self.idle / 20):
            return  # nothing new, and touched a moment ago: one write saved per request
        ttl = math.ceil(min(self.idle, remaining))  # open_session checks the lifetime to the second
        self.entries.put_many(
            [(f"session:{session.sid}", {"data": dict(session), "started": session.started, "touched": at}, ttl)],
            delete=(f"session:{old}",) if old else (),
        )
        # SAML answers arrive by a cross-site POST: over HTTPS the cookie must be SameSite=None to come with it
        response.set_cookie(
            COOKIE,
            session.sid,
            max_age=ttl,
            httponly=True,
            path="/",
            secure=self.secure,
            samesite="None" if self.secure else "Lax",
        )
