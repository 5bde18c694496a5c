"""GLPI helpdesk: opens and follows the hub's tickets in a GLPI instance (the département's contractor's, PASS…).

Each ``[helpdesk.destinations.<name>]`` with ``plugin = "glpi"`` is one instance; its keys are
`DestinationSettings`. The legacy REST API (``apirest.php``, app and user tokens) is in
`plugins.glpi.legacy`, GLPI 11's high-level API (``api.php``, OAuth2) in `plugins.glpi.hlapi`.
Also registers the ``helpdesk.watch`` job action (`hub.helpdesk.watch`), so a hub with a
helpdesk can schedule it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from hub.hookspecs import hookimpl
from hub.settings import Strict
from plugins.glpi.hlapi import HighLevelGlpi
from plugins.glpi.legacy import LegacyGlpi


class DestinationSettings(Strict):
    """One GLPI instance: where, which tokens, and the ticket fields the hub's tickets get by default."""

    url: AnyHttpUrl = Field(description="legacy: the apirest.php root (https://glpi.example.fr/apirest.php); "
                            "hl: the api.php root (https://glpi.example.fr/api.php)")
    api: Literal["legacy", "hl"] = Field("legacy", description="hl: GLPI 11's high-level API with OAuth2")
    app_token: SecretStr | None = Field(None, description="legacy: HUB_HELPDESK__DESTINATIONS__<NAME>__APP_TOKEN")
    user_token: SecretStr | None = Field(None, description="legacy: the API user's token, "
                                         "HUB_HELPDESK__DESTINATIONS__<NAME>__USER_TOKEN")
    client_id: str | None = Field(None, description="hl: the OAuth client declared in GLPI (Setup > OAuth clients)")
    client_secret: SecretStr | None = Field(None, description="hl: HUB_HELPDESK__DESTINATIONS__<NAME>__CLIENT_SECRET")
    username: str | None = Field(None, description="hl: the user of the password grant (none: client_credentials)")
    password: SecretStr | None = Field(None, description="hl: HUB_HELPDESK__DESTINATIONS__<NAME>__PASSWORD")
    entity_id: int | None = Field(None, description="entities_id of new tickets (made the active entity first)")
    categories: dict[str, int] = Field({}, description="domain (ZP, ZA, bati, ent, metier, hub) → itilcategories_id")
    requester_id: int | None = Field(None, description="_users_id_requester: the GLPI user tickets are opened for")
    request_type_id: int | None = Field(None, description="requesttypes_id (origin), instance-specific")
    timeout_seconds: float = Field(20, gt=0)
    page_size: int = Field(50, ge=1, le=1000, description="search results asked per page (range)")

    @model_validator(mode="after")
    def _credentials_of_the_api(self) -> DestinationSettings:
        needed = {"legacy": ["user_token"], "hl": ["client_id", "client_secret"] + (["password"] if self.username
                                                                                   else [])}[self.api]
        if missing := [name for name in needed if getattr(self, name) is None]:
            secret = {"user_token", "client_secret", "password"}
            raise ValueError(f"api {self.api!r} needs " + ", ".join(
                f"{name} (HUB_HELPDESK__DESTINATIONS__<NAME>__{name.upper()})" if name in secret else name
                for name in missing))
        return self


def glpi(options):
    """A client of the API the destination uses, to be used as a context manager."""
    return HighLevelGlpi(options) if options.api == "hl" else LegacyGlpi(options)


@hookimpl
def hub_helpdesk_destination():
    return DestinationSettings


@hookimpl
def hub_open_ticket(destination, incident) -> str:
    with glpi(destination.options) as client:
        return client.open_ticket(incident)


@hookimpl
def hub_add_followup(destination, ticket_id, content, marker) -> None:
    with glpi(destination.options) as client:
        client.add_followup(ticket_id, content, marker)


@hookimpl
def hub_ticket_status(destination, ticket_ids) -> dict[str, str]:
    with glpi(destination.options) as client:
        return client.statuses(list(ticket_ids))


@hookimpl
def hub_register_jobs():
    from hub.helpdesk.watch import watch_job

    return {"helpdesk.watch": watch_job}


@hookimpl
def hub_register_blueprints(app):
    from hub.helpdesk.web import register

    register(app)
