"""The admin console (``/admin/``) and its JSON API (``/api/``, document at ``/api/openapi.json``).

Server-rendered Flask + Jinja pages; `hub serve` runs them under gunicorn with the rest of
the hub's web app. `register` is called by `hub.app.create_app`.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from hub.settings import ConsoleSettings, refuse_secrets_in_file


def register(app: Flask, hub) -> None:
    """Add the console and the API to ``app``; without a secret key they answer 503 and say which to set."""
    from hub.web import api, console, indicators
    from hub.web.accounts import check_totp_secrets

    settings = hub.settings.console
    refuse_secrets_in_file(ConsoleSettings, hub.settings.file_data, ("console",), hub.settings.config_file)
    check_totp_secrets(hub.engine, settings)  # no key, no TOTP login: say so now, not at someone's login
    hub.engine.dispose()  # no connection crosses gunicorn's fork
    if settings.secret_key is not None:
        app.secret_key = settings.secret_key.get_secret_value()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
                      WTF_CSRF_TIME_LIMIT=settings.session_hours * 3600)
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
    app.extensions["hub.indicators"] = indicators.Snapshots(hub)
    app.register_blueprint(console.bp)
    if "sso" in app.extensions:  # staff with a linked account log in through the broker
        from hub.sso import use_sso_session

        use_sso_session(app, console.bp.name)
    app.register_blueprint(api.bp)
