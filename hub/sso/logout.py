"""The end of a broker session, told to the OIDC clients the user logged in to during it.

- OpenID Connect Back-Channel Logout 1.0: a signed ``logout_token`` (``iss``, ``aud``, the
  client's pairwise ``sub``, ``sid``, ``events``, no nonce) POSTed by the hub to each client's
  ``backchannel_logout_uri``, server to server; a client that does not answer in time is logged,
  the logout goes on.
- OpenID Connect Front-Channel Logout 1.0: each client's ``frontchannel_logout_uri`` (with
  ``iss`` and ``sid``) loaded in an iframe of the page the browser sees next, which then
  continues to where the logout was going (the IdP's single logout, the client's return URL).

The session's ``sid`` is given in every id_token issued during it; the refresh tokens issued
during it without ``offline_access`` are revoked.
"""

from __future__ import annotations

import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
from flask import redirect, render_template
from joserfc import jwt
from sqlalchemy import update

from hub.clock import now
from hub.sso.claims import pairwise_sub
from hub.sso.sessions import session
from hub.store.tables import oidc_refresh_token

log = logging.getLogger("hub.sso")
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
BACKCHANNEL_TIMEOUT = 3.0  # seconds a client has to answer; the user waits for the slowest one


def remember_client(client_id: str) -> None:
    """Note that this session logged in to ``client_id`` (who must hear of its logout)."""
    clients = session.get("clients") or []
    if client_id not in clients:
        session["clients"] = [*clients, client_id]


def end_session(b) -> list[str]:
    """Clear the session; tell its clients by the back channel now, and return the front-channel URLs the
    browser must load."""
    user, clients = session.get("user"), session.get("clients") or []
    session.clear()
    if not user or not user.get("sid"):
        return []
    sid = user["sid"]
    with b.engine.begin() as conn:  # a session's grants end with it, unless the client asked for offline access
        conn.execute(
            update(oidc_refresh_token)
            .where(
                oidc_refresh_token.c.sid == sid,
                oidc_refresh_token.c.revoked_at.is_(None),
                ~oidc_refresh_token.c.scope.contains("offline_access"),
            )
            .values(revoked_at=now())
        )
    settings = {name: b.settings.clients[name] for name in clients if name in b.settings.clients}
    back = [(name, c.backchannel_logout_uri) for name, c in settings.items() if c.backchannel_logout_uri]
    if back:
        tokens = [(name, uri, logout_token(b, name, user["key"], sid)) for name, uri in back]
        with ThreadPoolExecutor(max_workers=min(8, len(tokens))) as pool:
            list(pool.map(lambda item: _post(*item), tokens))
    return [
        f"{c.frontchannel_logout_uri}{'&' if '?' in c.frontchannel_logout_uri else '?'}"
        f"{urlencode({'iss': b.issuer, 'sid': sid})}"
        for c in settings.values()
        if c.frontchannel_logout_uri
    ]


def logout_token(b, client_id: str, person_key: str, sid: str) -> str:
    at = int(time.time())
    claims = {
        "iss": b.issuer,
        "aud": client_id,
        "iat": at,
        "exp": at + 120,
        "jti": secrets.token_urlsafe(16),
        "sub": pairwise_sub(b.settings.pairwise_salt.get_secret_value(), client_id, person_key),
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    key = b.signing_keys.current
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, claims, key)


def _post(client_id: str, uri: str, token: str) -> None:
    try:
        answer = httpx.post(uri, data={"logout_token": token}, timeout=BACKCHANNEL_TIMEOUT)
    except httpx.HTTPError as exc:
        log.warning("back-channel logout of client %s at %s failed: %s", client_id, uri, exc)
        return
    if answer.status_code >= 300:
        log.warning("back-channel logout of client %s at %s: HTTP %s", client_id, uri, answer.status_code)


def continue_to(target: str, front_channel: list[str]):
    """Where the logout goes next: straight there, or through a page whose iframes log the user out of each
    front-channel client first."""
    if not front_channel:
        return redirect(target)
    return render_template("sso/page.html", title="Déconnexion…", frames=front_channel, next=target)
