"""The user-facing pages: where a login starts (IdP choice, discovery page), who is logged in, logout."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from hub.sso.broker import broker, safe_next
from hub.sso.logout import end_session
from hub.sso.sessions import session

bp = Blueprint("sso", __name__, url_prefix="/sso", template_folder="templates")

PROFILES = [("eleve", "Élève"), ("parent", "Parent"), ("personnel", "Personnel de l'Éducation nationale")]


@bp.get("/login")
def login():
    """Choose the IdP (hook ``hub_select_idp``), else show the discovery page."""
    b = broker()
    next_url = safe_next(request.args.get("next"))
    client = b.settings.clients.get(request.args.get("client", ""))
    idp = b.plugins.hook.hub_select_idp(request=request, idps=b.settings.idps, client=client)
    if idp in b.settings.idps:
        force = {"force": "1"} if request.args.get("force") == "1" else {}
        return redirect(f"/saml/login/{idp}?{urlencode({'next': next_url, **force})}")
    return render_template(
        "sso/page.html",
        title="Qui êtes-vous ?",
        choices=PROFILES,
        action="/sso/login",
        next=next_url,
        force=request.args.get("force") == "1",
    )


@bp.get("/whoami")
def whoami():
    user = session.get("user")
    return jsonify(logged_in=bool(user), idp=user and user["idp"])


@bp.get("/logout")
def logout():
    """The end of every logout: a session still open here is first ended at its IdP too (single logout)."""
    user = session.get("user")
    if user and "saml" in current_app.blueprints:
        return redirect("/saml/logout")
    front_channel = end_session(broker())
    return render_template("sso/page.html", title="Vous êtes déconnecté.", frames=front_channel, next="/sso/logout")


def current_user() -> dict | None:
    return session.get("user")
