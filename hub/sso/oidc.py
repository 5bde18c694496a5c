"""The hub as OpenID Connect provider (authlib): authorization code with PKCE, refresh tokens, userinfo,
discovery, JWKS, RP-initiated logout, front- and back-channel logout (`hub.sso.logout`).

Clients are ``[sso.clients.<name>]`` entries with ``protocol = "oidc"``; public clients
must use PKCE with S256, every client must send a nonce. Codes and access tokens live
in the shared entries (codes are taken once), refresh tokens in ``oidc_refresh_token``
(hashed, rotated at each use). Every refusal is journaled. Once the client and its redirect_uri are
known good, a refused authorization goes back to that redirect_uri with ``error``,
``error_description`` and ``state`` (RFC 6749 §4.1.2.1); only a bad client or redirect_uri
gets the hub's page.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from flask import Blueprint, g, jsonify, redirect, request
from joserfc import jwt
from sqlalchemy import insert, select, update

from hub.clock import now
from hub.sso.broker import Refused, broker, start_login
from hub.sso.claims import CLAIMS, release
from hub.sso.events import journal_refusal, record_login
from hub.sso.logout import end_session, remember_client
from hub.sso.sessions import session
from hub.store.tables import oidc_refresh_token

bp = Blueprint("oidc", __name__)
SCOPES = ("openid", "profile", "email", "offline_access")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _nonce_key(client_id: str, nonce: str) -> str:
    return f"oidc:nonce:{client_id}:{_hash(nonce)}"


class Client(ClientMixin):
    def __init__(self, name: str, settings):
        self.name, self.settings = name, settings
        self.token_endpoint_auth_method = "none" if settings.public else "client_secret_basic"

    def get_client_id(self):
        return self.name

    def get_default_redirect_uri(self):
        return None  # redirect_uri is required: compared exactly, never guessed

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.settings.redirect_uris

    def check_client_secret(self, client_secret):
        secret = self.settings.secret
        return secret is not None and hmac.compare_digest(secret.get_secret_value(), client_secret or "")

    def check_endpoint_auth_method(self, method, endpoint):
        if self.settings.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class User:
    """Who a code or token is for: the person, the IdP that authenticated them, and when."""

    key: str
    idp: str
    auth_time: int
    client: str = ""
    claims: dict | None = None  # released at the login, kept with the code and the access token
    sid: str | None = None  # the broker session's id, given to the client in the id_token (logout)

    def get_user_id(self):
        return self.key


class Stored(dict):
    """A code or a token read back from the store, with the accessors authlib asks for."""

    def get_redirect_uri(self):
        return self["redirect_uri"]

    def get_scope(self):
        return self["scope"]

    def get_nonce(self):
        return self.get("nonce")

    def get_auth_time(self):
        return self["auth_time"]

    def get_acr(self):
        return None

    def get_amr(self):
        return None

    def check_client(self, client):
        return client.get_client_id() == self["client_id"]

    def get_expires_in(self):
        return self.get("expires_in", 0)

    def is_expired(self):
        return self.get("expires_at", 0) < time.time()

    def is_revoked(self):
        return False

    def get_user(self):
        return User(
            self["person_key"], self["idp"], self["auth_time"], self["client_id"], self.get("claims"), self.get("sid")
        )

    @property
    def code_challenge(self):
        return self.get("code_challenge")

    @property
    def code_challenge_method(self):
        return self.get("code_challenge_method")


class S256Only(CodeChallenge):
    """PKCE with S256 only; required of public clients (authlib requires it only when a challenge is sent)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if grant.request.client.settings.public and not data.get("code_challenge"):
            raise InvalidRequestError("a public client must send a PKCE code_challenge (S256)")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCode(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        b, user = broker(), request.user
        data = request.payload.data
        nonce = (
            [(_nonce_key(request.client.get_client_id(), data["nonce"]), 1, b.settings.access_token_seconds)]
            if data.get("nonce")
            else []
        )
        b.entries.put_many(
            [
                *nonce,
                (
                    f"oidc:code:{_hash(code)}",
                    {
                        "client_id": request.client.get_client_id(),
                        "redirect_uri": request.payload.redirect_uri,
                        "scope": request.payload.scope,
                        "nonce": data.get("nonce"),
                        "person_key": user.key,
                        "idp": user.idp,
                        "auth_time": user.auth_time,
                        "code_challenge": data.get("code_challenge"),
                        "code_challenge_method": data.get("code_challenge_method"),
                        "claims": user.claims,
                        "sid": user.sid,
                    },
                    b.settings.code_lifetime_seconds,
                ),
            ]
        )

    def query_authorization_code(self, code, client):
        """Taken, not read: a code works once, even when the request using it fails."""
        found = broker().entries.pop(f"oidc:code:{_hash(code)}")
        return Stored(found) if found and found["client_id"] == client.get_client_id() else None

    def delete_authorization_code(self, authorization_code):
        pass  # already taken by query_authorization_code

    def authenticate_user(self, authorization_code):
        return authorization_code.get_user()


class RefreshToken(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

    def authenticate_refresh_token(self, refresh_token):
        with broker().engine.connect() as conn:
            row = conn.execute(
                select(oidc_refresh_token).where(oidc_refresh_token.c.token_hash == _hash(refresh_token))
            ).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now():
            return None
        return Stored(
            client_id=row.client_id,
            scope=row.scope,
            person_key=row.person_key,
            idp=row.idp,
            auth_time=int(row.issued_at.timestamp()),
            token_hash=row.token_hash,
            sid=row.sid,
        )

    def authenticate_user(self, refresh_token):
        return refresh_token.get_user()

    def revoke_old_credential(self, refresh_token):
        with broker().engine.begin() as conn:
            conn.execute(
                update(oidc_refresh_token)
                .where(oidc_refresh_token.c.token_hash == refresh_token["token_hash"])
                .values(revoked_at=now())
            )


class HubOpenIDCode(OpenIDCode):
    def resolve_client_private_key(self, client):
        return broker().signing_keys.current

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": broker().signing_keys.current.kid, "typ": "JWT"}

    def get_client_claims(self, client):
        return {"iss": broker().issuer, "aud": [client.get_client_id()]}

    def get_authorization_code_claims(self, authorization_code):
        """With the session's ``sid``, which the front- and back-channel logouts name."""
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.get("sid"):
            claims["sid"] = authorization_code["sid"]
        return claims

    def exists_nonce(self, nonce, request):
        """A nonce is spent when a code is issued with it (the request is checked again after the login). authlib
        asks twice per request: the store is read once."""
        key = _nonce_key(request.client.get_client_id(), nonce)
        seen = g.setdefault("oidc_nonces", {})
        if key not in seen:
            seen[key] = broker().entries.get(key) is not None
        return seen[key]

    def generate_user_info(self, user, scope):
        return user.claims or released_claims(user.client, user.key)


def released_claims(client_name: str, person_key: str) -> dict:
    b = broker()
    person = b.people.person(person_key)
    if person is None:
        return {"sub": "gone"}
    return release(
        client_name,
        b.settings.clients[client_name],
        person_key,
        person,
        b.settings.pairwise_salt.get_secret_value(),
        b.plugins,
    )


class AccessTokens(BearerTokenValidator):
    def authenticate_token(self, token_string):
        found = broker().entries.get(f"oidc:token:{_hash(token_string)}")
        return Stored(found) if found else None


def save_token(token, request):
    b, user = broker(), request.user
    client = request.client.get_client_id()
    b.entries.put(
        f"oidc:token:{_hash(token['access_token'])}",
        {
            "client_id": client,
            "scope": token.get("scope", ""),
            "person_key": user.key,
            "idp": user.idp,
            "auth_time": user.auth_time,
            "expires_at": time.time() + token["expires_in"],
            "expires_in": token["expires_in"],
            "claims": user.claims or released_claims(client, user.key),
        },
        token["expires_in"],
    )
    if token.get("refresh_token"):
        at = now()
        with b.engine.begin() as conn:
            conn.execute(
                insert(oidc_refresh_token).values(
                    token_hash=_hash(token["refresh_token"]),
                    client_id=client,
                    person_key=user.key,
                    scope=token.get("scope", ""),
                    idp=user.idp,
                    issued_at=at,
                    sid=user.sid,
                    expires_at=at + timedelta(days=b.settings.refresh_token_days),
                )
            )


def init_oidc(app, b) -> None:
    """The authorization server of this app (authlib keeps its state per app)."""
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": b.settings.access_token_seconds,
        "refresh_token": b.settings.access_token_seconds,
    }
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    clients = {name: Client(name, c) for name, c in b.settings.clients.items() if c.protocol == "oidc"}
    server = AuthorizationServer(app, query_client=clients.get, save_token=save_token)
    server.register_grant(AuthorizationCode, [S256Only(required=True), HubOpenIDCode(require_nonce=True)])
    server.register_grant(RefreshToken)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokens())
    app.extensions["oidc"] = (server, protector)
    app.register_blueprint(bp)


def _server():
    from flask import current_app

    return current_app.extensions["oidc"]


@bp.get("/.well-known/openid-configuration")
def discovery():
    issuer = broker().issuer
    return jsonify(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/oidc/authorize",
        token_endpoint=f"{issuer}/oidc/token",
        userinfo_endpoint=f"{issuer}/oidc/userinfo",
        jwks_uri=f"{issuer}/oidc/jwks",
        end_session_endpoint=f"{issuer}/oidc/logout",
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "refresh_token"],
        subject_types_supported=["pairwise"],
        id_token_signing_alg_values_supported=["RS256"],
        scopes_supported=list(SCOPES),
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        code_challenge_methods_supported=["S256"],
        claims_supported=["sub", "sid", *CLAIMS],
        frontchannel_logout_supported=True,
        frontchannel_logout_session_supported=True,
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,
    )


@bp.get("/oidc/jwks")
def jwks():
    return jsonify(broker().signing_keys.public_jwks())


@bp.get("/oidc/authorize")
def authorize():
    """Check the request before anyone logs in (a bad client or redirect_uri never redirects), then log in, then
    a code. ``prompt=none`` without a session answers ``login_required`` to the client."""
    b, (server, _) = broker(), _server()
    client_id = request.args.get("client_id", "")
    user = session.get("user")
    end_user = User(user["key"], user["idp"], user["auth_time"], client_id, sid=user.get("sid")) if user else None
    try:
        grant = server.get_consent_grant(end_user=end_user)
    except OAuth2Error as error:
        return _refuse(b, server, client_id, f"client {client_id}", error)
    if not user:
        return start_login(request.full_path, client_id)
    person = b.people.person(user["key"])
    if person is None:
        end_session(b)
        return _refuse(
            b,
            server,
            client_id,
            f"person {user['key']}",
            AccessDeniedError(
                "the account is no longer active in the directory",
                redirect_uri=grant.redirect_uri,
                state=request.args.get("state"),
            ),
        )
    claims = release(
        client_id,
        b.settings.clients[client_id],
        user["key"],
        person,
        b.settings.pairwise_salt.get_secret_value(),
        b.plugins,
    )
    end_user.claims = claims
    answer = server.create_authorization_response(grant=grant, grant_user=end_user)
    if answer.status_code == 302 and "code=" in answer.headers.get("Location", ""):
        remember_client(client_id)
        record_login(b.engine, user["key"], person, client_id, user["idp"])
    return answer


def _refuse(b, server, client_id: str, record: str, error: OAuth2Error):
    """Journaled; back to the client's redirect_uri once authlib has checked it, else the hub's page."""
    refusal = Refused("oidc", client_id or "unknown", record, error.error, error.description or error.error, status=400)
    if not error.redirect_uri:
        return b.refused_page(refusal)
    journal_refusal(b.engine, refusal.protocol, refusal.source, refusal.record, refusal.code, refusal.reason)
    return server.handle_response(*error())


@bp.post("/oidc/token")
def token():
    b, (server, _) = broker(), _server()
    answer = server.create_token_response()
    if answer.status_code >= 400:
        error = answer.get_json() or {}
        journal_refusal(
            b.engine,
            "oidc",
            request.form.get("client_id") or _basic_client() or "unknown",
            f"token request ({request.form.get('grant_type', '?')})",
            error.get("error", "error"),
            error.get("error_description") or error.get("error", ""),
        )
    return answer


def _basic_client() -> str | None:
    return request.authorization.username if request.authorization else None


@bp.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo():
    _, protector = _server()
    try:
        token = protector.acquire_token(["openid"])
    except OAuth2Error as error:
        journal_refusal(broker().engine, "oidc", "unknown", "userinfo", error.error, error.description or "")
        protector.raise_error_response(error)
    return jsonify(token["claims"])


@bp.get("/oidc/logout")
def logout():
    """RP-initiated logout: the id_token_hint must be ours, the return URL one its client registered, exactly."""
    b = broker()
    target = request.args.get("post_logout_redirect_uri")
    client_id = request.args.get("client_id")
    hint = request.args.get("id_token_hint")
    if hint:
        try:
            client_id = jwt.decode(hint, b.signing_keys.key_set()).claims["aud"]
            client_id = client_id[0] if isinstance(client_id, list) else client_id
        except Exception:
            return b.refused_page(
                Refused(
                    "oidc",
                    client_id or "unknown",
                    "logout",
                    "bad_id_token_hint",
                    "id_token_hint is not a token this hub signed",
                    status=400,
                )
            )
    client = b.settings.clients.get(client_id or "")
    then = "/sso/logout"
    if target:
        if client is None or target not in client.post_logout_redirect_uris:
            end_session(b)
            return b.refused_page(
                Refused(
                    "oidc",
                    client_id or "unknown",
                    "logout",
                    "bad_logout_redirect",
                    "post_logout_redirect_uri is not registered for this client",
                    status=400,
                )
            )
        state = request.args.get("state")
        then = target + (("&" if "?" in target else "?") + urlencode({"state": state}) if state else "")
    if session.get("user"):  # single logout at the IdP first, then back to the client
        session["after_logout"] = then
        return redirect("/saml/logout")
    return redirect(then)
