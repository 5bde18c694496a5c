"""Who is asking, and may they: the console session, roles, CSRF on every form, security headers, the audit log.

Shared by the console pages and the JSON API, so both refuse and record the same way.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from hub.web.accounts import Account, audit, load_account

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def hub():
    return current_app.extensions["hub"]


def indicator_snapshot(by: str, scope: str | None = None, weeks: int | None = None):
    """The indicators of a view, from the app's cache (`hub.web.indicators.Snapshots`)."""
    settings = hub().settings.console
    return current_app.extensions["hub.indicators"].get(by, scope, weeks or settings.indicator_weeks,
                                                        settings.indicator_cache_minutes * 60)


def account() -> Account | None:
    """The logged-in account of this request, checked against the store once per request."""
    if "account" not in g:
        uid, stamp = session.get("uid"), session.get("stamp")
        g.account = load_account(hub().engine, uid, stamp) if uid and stamp else None
    return g.account


def actor() -> str:
    found = account()
    return found.username if found else "anonymous"


def record(action: str, target: str = "", detail: str = "", *, outcome: str = "ok", who: str | None = None) -> None:
    audit(hub().engine, who or actor(), action, target, detail, remote_addr=request.remote_addr or "",
          outcome=outcome)


def _api() -> bool:
    return request.blueprint == "api"


def require(role: str):
    """Only logged-in accounts with ``role`` (or a higher one); a refusal of a logged-in account is audited."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            found = account()
            if found is None:
                if _api():
                    return jsonify(error="log in to the console first"), 401
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if not found.may(role):
                record(request.endpoint or "", request.path, f"needs the {role} role, has {found.role}",
                       outcome="refused")
                if _api():
                    return jsonify(error=f"this needs the {role} role"), 403
                return render_template("error.html", message=f"This needs the {role} role; you are "
                                       f"{found.role}."), 403
            return view(*args, **kwargs)

        return guarded

    return decorate


def before_request():
    """No key, no console; every unsafe request carries the session's CSRF token (form field or X-CSRFToken)."""
    if not current_app.secret_key:
        message = "the console is not configured: set HUB_CONSOLE__SECRET_KEY (or HUB_CONSOLE__SECRET_KEY_FILE)"
        return (jsonify(error=message), 503) if _api() else (render_template("error.html", message=message), 503)
    if request.method in UNSAFE:
        try:
            validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
        except (ValidationError, CSRFError) as exc:
            record("csrf", request.path, str(exc), outcome="refused")
            abort(400, description=f"refused: {exc} Reload the page and try again.")
    return None


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    if hub().settings.console.secure_cookies:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response
