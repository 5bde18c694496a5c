"""A relying party written with authlib's own Flask client (not the hub's code): what an ENT runs.

``/start`` sends the browser to the hub (PKCE S256, nonce, state); ``/callback`` takes the
code, checks the id_token against the hub's JWKS, calls userinfo and greets the user;
``/frontchannel`` (OIDC Front-Channel Logout, loaded by the hub's logout page in an iframe)
ends the app's session when ``iss`` and ``sid`` name the one it holds, and notes it in ``logouts``.
"""

from __future__ import annotations

import secrets

from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, request, session, url_for


def make_rp(hub_base: str, client_id: str = "webapp", logouts: list | None = None) -> Flask:
    app = Flask("rp")
    app.secret_key = secrets.token_hex(16)
    oauth = OAuth(app)
    oauth.register(
        "hub",
        client_id=client_id,
        server_metadata_url=f"{hub_base}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "code_challenge_method": "S256", "token_endpoint_auth_method": "none"},
    )

    @app.get("/start")
    def start():
        return oauth.hub.authorize_redirect(url_for("callback", _external=True))

    @app.get("/callback")
    def callback():
        token = oauth.hub.authorize_access_token()  # checks state, PKCE, the id_token's signature and nonce
        info = oauth.hub.userinfo(token=token)
        session["sid"] = token["userinfo"]["sid"]
        return (
            f'<h1 id="hello">Bonjour {info.get("given_name", "")}</h1>'
            f'<p id="claims">{",".join(sorted(info))}</p><p id="sub">{token["userinfo"]["sub"]}</p>'
        )

    @app.get("/frontchannel")
    def frontchannel():
        if request.args.get("iss") == hub_base and request.args.get("sid") == session.get("sid"):
            session.clear()
            if logouts is not None:
                logouts.append(request.args["sid"])
        return "", 200, {"Cache-Control": "no-store"}

    @app.get("/health")
    def health():
        return jsonify(ok=True)

    return app
