"""The GLPI plugin's helpdesk hooks called directly against the double: a repeat of the same incident or
followup changes nothing in GLPI, statuses come back by ticket id."""

from __future__ import annotations

from pydantic import SecretStr

from hub.hookspecs import Destination, Incident
from plugins.glpi import hookimpl as glpi_plugin


def _destination(glpi, **options) -> Destination:
    model = glpi_plugin.hub_helpdesk_destination()
    settings = model.model_validate({"url": glpi.url, "user_token": SecretStr("user-secret"),
                                     "app_token": SecretStr("app-secret"), "entity_id": 5,
                                     "categories": {"metier": 16}, **options})
    return Destination("pass", settings)


INCIDENT = Incident("HUB-00000000AA", "Pronote ne répond plus", "Depuis ce matin.", "metier", "0150001A",
                    "principal@college.fr", urgency=5, fields={"_groups_id_assign": 4})


def test_opening_the_same_incident_twice_gives_one_ticket(glpi):
    destination = _destination(glpi)
    first = glpi_plugin.hub_open_ticket(destination=destination, incident=INCIDENT)
    again = glpi_plugin.hub_open_ticket(destination=destination, incident=INCIDENT)
    assert first == again == "1" and len(glpi.tickets) == 1
    ticket = glpi.tickets[1]
    assert ticket["itilcategories_id"] == 16 and ticket["entities_id"] == 5 and ticket["urgency"] == 5
    assert ticket["_groups_id_assign"] == 4 and "requesttypes_id" not in ticket


def test_a_followup_with_the_same_marker_is_added_once(glpi):
    destination = _destination(glpi)
    ticket_id = glpi_plugin.hub_open_ticket(destination=destination, incident=INCIDENT)
    for _ in range(2):
        glpi_plugin.hub_add_followup(destination=destination, ticket_id=ticket_id, content="Toujours en panne.",
                                     marker="HUB-00000000AA/2")
    glpi_plugin.hub_add_followup(destination=destination, ticket_id=ticket_id, content="Réparé.",
                                 marker="HUB-00000000AA/3")
    assert [f["items_id"] for f in glpi.followups] == [1, 1]
    assert "[HUB-00000000AA/2]" in glpi.followups[0]["content"]


def test_statuses_are_read_by_id_across_pages(glpi):
    destination = _destination(glpi, page_size=1)
    ids = [glpi_plugin.hub_open_ticket(destination=destination, incident=Incident(
        f"HUB-0000000{n}", "t", "c", "metier")) for n in range(3)]
    glpi.set_status(2, 6)
    assert glpi_plugin.hub_ticket_status(destination=destination, ticket_ids=ids[1:]) == {"2": "closed", "3": "new"}


def test_the_helpdesk_watch_job_action_is_registered():
    assert "helpdesk.watch" in glpi_plugin.hub_register_jobs()
