"""The running hub (settings, database, plugins) and the Flask application factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from hub.plugins import Plugins
from hub.settings import HubSettings, load_settings

if TYPE_CHECKING:  # imported when used: `hub --help` and other commands without data start fast
    from flask import Flask
    from sqlalchemy import Engine


@dataclass
class Hub:
    """Everything a command or a request needs; built once per process from the settings."""

    settings: HubSettings
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def plugins(self) -> Plugins:
        return Plugins(self.settings)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from hub.store import make_engine

            self._engine = make_engine(self.settings.database_url.get_secret_value())
        return self._engine


def create_app(settings: HubSettings | None = None) -> Flask:
    """Build the web application; tests pass their own settings, the CLI reads config/hub.toml."""
    from flask import Flask, jsonify

    hub = Hub(settings or load_settings())
    _ = hub.plugins  # fail at start on an unknown plugin or an invalid plugin section
    app = Flask("hub")
    app.extensions["hub"] = hub

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", plugins=hub.settings.plugins.enabled)

    from hub.sso import init_app as init_sso

    init_sso(app, hub)  # the SSO broker's blueprints, when sso.enabled
    from hub import web

    web.register(app, hub)  # the admin console (/admin/) and its JSON API (/api/)
    hub.plugins.register_all("hub_register_blueprints", app=app)

    return app
