"""GLPI 11's high-level API with OAuth2 (``api = "hl"``): tickets, followups and statuses through the same hooks,
an expired token renewed, refusals with GLPI's words, and a destination using it from `hub ticket open`."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hub.errors import DeliveryError
from hub.hookspecs import Destination, Incident
from plugins.glpi import hookimpl as glpi_plugin


def _hl(glpi, **options) -> Destination:
    settings = {"api": "hl", "url": glpi.url.replace("apirest.php", "api.php"), "client_id": "ent-hub",
                "client_secret": SecretStr("client-secret"), "username": "ent-hub",
                "password": SecretStr("password"), "entity_id": 3, "categories": {"ZP": 11}, **options}
    return Destination("departement", glpi_plugin.hub_helpdesk_destination().model_validate(settings))


def _incident(n: int = 1) -> Incident:
    return Incident(f"HUB-00000000B{n}", "Tablettes hors service", "La classe mobile ne charge plus.", "ZP",
                    "0150001A", "referent@college.fr", urgency=2)


def test_a_ticket_opens_once_and_is_followed_with_an_oauth2_token(glpi):
    destination = _hl(glpi)
    first = glpi_plugin.hub_open_ticket(destination=destination, incident=_incident())
    assert glpi_plugin.hub_open_ticket(destination=destination, incident=_incident()) == first == "1"
    ticket = glpi.tickets[1]
    assert ticket["name"] == "[HUB-00000000B1] Tablettes hors service"
    assert ticket["entities_id"] == 3 and ticket["itilcategories_id"] == 11 and ticket["urgency"] == 2
    for _ in range(2):
        glpi_plugin.hub_add_followup(destination=destination, ticket_id=first, content="Relance", marker="m/2")
    assert len(glpi.followups) == 1 and "[m/2]" in glpi.followups[0]["content"]
    assert glpi.count("POST /api.php/token") == 4 and glpi.count("GET initSession") == 0


def test_statuses_page_through_and_an_expired_token_is_renewed(glpi):
    destination = _hl(glpi, page_size=2)
    ids = [glpi_plugin.hub_open_ticket(destination=destination, incident=_incident(n)) for n in range(5)]
    glpi.set_status(4, 5)

    class ExpireAfterFirstList(list):
        def append(self, item):
            super().append(item)
            if item == "GET /api.php/v2/Assistance/Ticket" and self.count(item) == 1:
                glpi.expire_sessions()

    glpi.calls = ExpireAfterFirstList()  # the calls of the status poll only
    statuses = glpi_plugin.hub_ticket_status(destination=destination, ticket_ids=ids)
    assert statuses == {"1": "new", "2": "new", "3": "new", "4": "solved", "5": "new"}
    assert glpi.calls.count("POST /api.php/token") == 2  # the first token, then one renewed after the expiry


@pytest.mark.parametrize(("options", "words"), [
    ({"client_secret": SecretStr("wrong")}, "401 invalid_client: Client authentication failed"),
    ({"password": SecretStr("wrong")}, "400 invalid_grant: The user credentials were incorrect"),
    ({"username": "readonly"}, "403 ERROR_RIGHT_MISSING: You do not have the right to create this item"),
    ({"categories": {"ZP": 99}}, "400 ERROR_INVALID_PARAMETER: ITIL category 99 does not exist"),
])
def test_refusals_are_not_retried_and_carry_glpi_words(glpi, options, words):
    with pytest.raises(DeliveryError) as refused:
        glpi_plugin.hub_open_ticket(destination=_hl(glpi, **options), incident=_incident())
    assert words in str(refused.value) and refused.value.retryable is False and glpi.tickets == {}


def test_glpi_down_is_retryable(glpi):
    glpi.down = True
    with pytest.raises(DeliveryError) as down:
        glpi_plugin.hub_open_ticket(destination=_hl(glpi), incident=_incident())
    assert down.value.retryable and "503" in str(down.value)


def test_hl_settings_need_the_client_and_its_secret():
    with pytest.raises(ValueError, match="api 'hl' needs client_secret"):
        glpi_plugin.hub_helpdesk_destination().model_validate({"api": "hl", "url": "https://g.example/api.php",
                                                               "client_id": "x"})


def test_a_destination_on_the_high_level_api_opens_tickets_from_the_command_line(desk, glpi, monkeypatch):
    settings = desk.config.read_text().replace(
        f'url = "{glpi.url}"\nentity_id = 3\n',
        f'url = "{glpi.url.replace("apirest.php", "api.php")}"\napi = "hl"\nclient_id = "ent-hub"\n'
        'username = "ent-hub"\nentity_id = 3\n', 1)
    desk.config.write_text(settings)
    monkeypatch.setenv("HUB_HELPDESK__DESTINATIONS__DEPARTEMENT__CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("HUB_HELPDESK__DESTINATIONS__DEPARTEMENT__PASSWORD", "password")
    out = desk.run("ticket", "open", "--uai", desk.college, "--domain", "ZP", "--title", "Wifi", "--content",
                   "Pas de wifi en salle 3").output
    assert "opened" in out and len(glpi.tickets) == 1
    assert glpi.count("POST /api.php/v2/Assistance/Ticket") == 1 and glpi.count("POST Ticket/") == 0
    glpi.set_status(1, 6)
    desk.run("tickets", "poll")
    assert desk.scalar("select remote_status from ticket") == "closed"
