"""The tests' relying party: what an ENT does with the hub's OIDC provider, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from sso_env import CLIENT_SECRET, saml_login

CLIENTS = {"ent": "https://ent.test/callback", "mobile": "https://app.test/cb"}


@dataclass
class Authorization:
    code: str
    state: str
    nonce: str
    verifier: str
    client: str


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(
    sso,
    client: str = "ent",
    challenge: str | None = None,
    nonce: str | None = "n-1",
    state: str = "s-1",
    redirect_uri: str | None = None,
    scope: str = "openid offline_access",
    **extra,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client,
        "redirect_uri": redirect_uri or CLIENTS[client],
        "scope": scope,
        "state": state,
        **extra,
    }
    if nonce:
        params["nonce"] = nonce
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return f"{sso.base}/oidc/authorize?{urlencode(params)}"


def log_in(
    browser: httpx.Client,
    sso,
    client: str = "ent",
    username: str = "prof",
    idp=None,
    nonce: str = "n-1",
    scope: str = "openid offline_access",
) -> Authorization:
    """The whole browser trip: app → hub authorize → hub SP → IdP → hub ACS → hub authorize → back to the app."""
    verifier, challenge = pkce()
    start = authorize_url(sso, client, challenge, nonce=nonce, scope=scope)
    answer = saml_login(browser, sso, start, username, idp=idp)
    assert answer.status_code == 302, answer.text
    answer = browser.get(f"{sso.base}{answer.headers['location']}")  # back to /oidc/authorize, now logged in
    return authorization(answer, client, nonce, verifier)


def authorization(answer: httpx.Response, client: str, nonce: str, verifier: str) -> Authorization:
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CLIENTS[client] + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert "error" not in query, query
    return Authorization(query["code"][0], query["state"][0], nonce, verifier, client)


def token(sso, auth: Authorization, **overrides) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": auth.code,
        "redirect_uri": CLIENTS[auth.client],
        "code_verifier": auth.verifier,
        **overrides,
    }
    form = {k: v for k, v in form.items() if v is not None}
    if auth.client == "ent":
        return httpx.post(f"{sso.base}/oidc/token", data=form, auth=("ent", CLIENT_SECRET))
    return httpx.post(f"{sso.base}/oidc/token", data={**form, "client_id": auth.client})


def verify_id_token(sso, id_token: str) -> dict:
    keys = KeySet.import_key_set(httpx.get(f"{sso.base}/oidc/jwks").json())
    return jwt.decode(id_token, keys).claims
