"""The SSO broker: SAML SP upstream (EduConnect, the académie's IdP), OIDC provider and CAS server downstream.

``init_app`` registers its blueprints when ``sso.enabled``; the rules a vendor may
change are hooks (`hub_select_idp`, `hub_link_account`, `hub_release_attributes`),
with the hub's defaults in `hub.sso.defaults`.
"""

from __future__ import annotations

from flask import Flask, g, request

BLUEPRINTS = {"sso", "saml", "oidc", "cas"}  # where the SSO session is open; see `use_sso_session`


def use_sso_session(app: Flask, blueprint: str) -> None:
    """Open the SSO session (`hub.sso.sessions.session`) for ``blueprint``'s requests too: a page for
    people logged in through the broker (the helpdesk form) reads who they are from it."""
    app.extensions["sso_blueprints"].add(blueprint)


def init_app(app: Flask, hub) -> None:
    if not hub.settings.sso.enabled:
        return
    from hub.errors import SettingsError
    from hub.sso import defaults, saml, web
    from hub.sso.broker import Broker
    from hub.sso.claims import check_clients
    from hub.sso.sessions import ServerSessions

    if not hub.plugins.pm.is_registered(defaults):
        hub.plugins.pm.register(defaults, name="hub.sso.defaults")
    broker = Broker(hub)
    app.extensions["sso"] = broker
    sessions = ServerSessions(broker.entries, broker.settings)

    app.extensions["sso_blueprints"] = set(BLUEPRINTS)

    @app.before_request
    def open_sso_session():
        if request.blueprint in app.extensions["sso_blueprints"]:
            g.sso_session = sessions.open(request)

    @app.after_request
    def save_sso_session(response):
        if "sso_session" in g:
            sessions.save(g.sso_session, response)
        return response

    app.register_blueprint(web.bp)
    if broker.settings.idps:
        _ = broker.sp  # the SP's keys are checked at start
        app.register_blueprint(saml.bp)
    check_clients(broker.settings.clients)
    if broker.settings.clients:
        from hub.sso.oidc import init_oidc

        if broker.settings.pairwise_salt is None:
            raise SettingsError("setting sso.pairwise_salt is required with clients: set HUB_SSO__PAIRWISE_SALT "
                                "(or _FILE) to a long random value, and keep it: it makes each client's sub")
        _ = broker.signing_keys
        init_oidc(app, broker)
    if any(client.protocol == "cas" for client in broker.settings.clients.values()):
        from hub.sso import cas

        cas.check_services(broker.settings.clients)
        app.register_blueprint(cas.bp)
