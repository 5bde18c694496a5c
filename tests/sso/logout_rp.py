"""A relying party's logout endpoints, served over HTTP for the tests: what an ENT does when the hub says a
session ended.

``/front`` (OIDC Front-Channel Logout 1.0) is loaded by the browser in an iframe: it records
``iss`` and ``sid``. ``/back`` (Back-Channel Logout 1.0) receives the hub's POSTed
``logout_token`` and checks it as the specification asks an RP to (signature against the
hub's JWKS, ``typ``, issuer, audience, the logout event, a ``sid``, no nonce, not expired);
it answers 200 and records the claims, or 400 and records the reason.
"""

from __future__ import annotations

import time

import httpx
from flask import Flask, request
from joserfc import jwt
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutRp:
    def __init__(self, port: int, hub_base: str, client_id: str):
        self.url = f"http://127.0.0.1:{port}"
        self.port, self.hub_base, self.client_id = port, hub_base, client_id
        self.front: list[dict] = []  # the query of each front-channel call
        self.back: list[dict] = []  # the claims of each accepted logout_token
        self.refused: list[str] = []
        self.app = self._app()

    def check(self, token: str) -> dict:
        keys = KeySet.import_key_set(httpx.get(f"{self.hub_base}/oidc/jwks").json())
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
        claims = decoded.claims
        problems = [
            decoded.header.get("typ") != "logout+jwt" and "typ is not logout+jwt",
            claims.get("iss") != self.hub_base and "wrong issuer",
            self.client_id not in ([claims.get("aud")] if isinstance(claims.get("aud"), str) else claims.get("aud"))
            and "not for this client",
            EVENT not in claims.get("events", {}) and "no logout event",
            not claims.get("sid") and "no sid",
            "nonce" in claims and "a nonce",
            not claims.get("exp", 0) > time.time() >= claims.get("iat", 0) - 60 and "expired or not yet valid",
        ]
        problems = [p for p in problems if p]
        if problems:
            raise ValueError(", ".join(problems))
        return claims

    def _app(self) -> Flask:
        app = Flask("logout_rp")

        @app.get("/front")
        def front():
            self.front.append(dict(request.args))
            return "logged out", 200, {"Cache-Control": "no-store"}

        @app.post("/back")
        def back():
            try:
                self.back.append(self.check(request.form["logout_token"]))
            except Exception as exc:  # the RP refuses what it cannot trust
                self.refused.append(str(exc))
                return "bad logout token", 400
            return "", 200, {"Cache-Control": "no-store"}

        return app
