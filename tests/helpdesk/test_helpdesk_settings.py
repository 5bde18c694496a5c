"""Invalid helpdesk settings stop the hub at start, naming the rule (or destination) and the reason."""

from __future__ import annotations

import pytest
from helpdesk_env import configure, token_env

RULE = '\n[[helpdesk.rules]]\nname = "{name}"\n{body}\n'


@pytest.mark.parametrize(("rule", "message"), [
    (RULE.format(name="wifi", body='domain = ["wifi"]\ndestination = "departement"'),
     "unknown domain 'wifi'"),
    (RULE.format(name="nulle part", body='domain = ["ent"]\ndestination = "nowhere"'),
     "helpdesk rule 'nulle part': no destination 'nowhere'; destinations: departement, omere, pass, region"),
    (RULE.format(name="ZP: département", body='domain = ["metier"]\ndestination = "pass"'),
     "helpdesk rule 'ZP: département': the name is also rule 2's"),
    (RULE.format(name="ZP UT1 (trop tard)", body='domain = ["ZP"]\nterritorial_unit = ["UT1"]\n'
                 'destination = "region"'),
     "helpdesk rule 'ZP UT1 (trop tard)' is never used: the earlier rule 'ZP: département' matches every "
     "incident it matches"),
    (RULE.format(name="hub UT1", body='domain = ["hub"]\nterritorial_unit = ["UT1"]\ndestination = "departement"'),
     "helpdesk rule 'hub UT1': the hub's own incidents have no establishment, so territorial_unit can never match"),
])
def test_an_invalid_rule_stops_every_command_at_start(sqlite_hub, monkeypatch, rule, message):
    for name, value in token_env().items():
        monkeypatch.setenv(name, value)
    configure(sqlite_hub, extra=rule)
    for command in (("jobs",), ("ticket", "route", "--domain", "ent")):
        out = sqlite_hub.run(*command, expect=1).output
        assert "setting helpdesk" in out and message in " ".join(out.split())


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.replace('plugin = "glpi"\nlabel = "Région', 'plugin = "webhook"\nlabel = "Région'),
     "setting helpdesk.destinations.region.plugin: 'webhook' is not an enabled helpdesk plugin"),
    (lambda s: s.replace("entity_id = 5\n", "entity_id = 5\nuser_token = \"in-the-file\"\n"),
     "setting helpdesk.destinations.pass.user_token in"),
    (lambda s: s.replace("entity_id = 5\n", "entity_id = 5\nticket_type = 2\n"),
     "setting helpdesk.destinations.pass.ticket_type (in"),
    (lambda s: s.replace("timeout_seconds = 2.0\n\n[helpdesk.destinations.pass]", "timeout_seconds = -1\n\n"
                         "[helpdesk.destinations.pass]"),
     "setting helpdesk.destinations.departement.timeout_seconds (in"),
])
def test_a_destination_its_plugin_refuses_stops_the_helpdesk_with_its_key(sqlite_hub, monkeypatch, change, message):
    for name, value in token_env().items():
        monkeypatch.setenv(name, value)
    configure(sqlite_hub)
    sqlite_hub.config.write_text(change(sqlite_hub.config.read_text()))
    out = sqlite_hub.run("ticket", "route", "--domain", "ent", expect=1).output
    assert message in " ".join(out.split())


def test_a_destination_token_missing_from_the_environment_is_named(sqlite_hub, monkeypatch):
    for name, value in token_env().items():
        if "OMERE__USER" not in name:
            monkeypatch.setenv(name, value)
    configure(sqlite_hub)
    out = " ".join(sqlite_hub.run("tickets", expect=1).output.split())
    assert "setting helpdesk.destinations.omere (in" in out
    assert "api 'legacy' needs user_token (HUB_HELPDESK__DESTINATIONS__OMERE__USER_TOKEN)" in out


def test_the_web_app_does_not_start_with_a_destination_its_plugin_refuses(sqlite_hub, monkeypatch):
    from hub.app import create_app
    from hub.errors import SettingsError
    from hub.settings import load_settings

    for name, value in token_env().items():
        monkeypatch.setenv(name, value)
    configure(sqlite_hub)
    sqlite_hub.config.write_text(sqlite_hub.config.read_text().replace("entity_id = 5\n", "entity_id = \"five\"\n"))
    with pytest.raises(SettingsError, match=r"setting helpdesk\.destinations\.pass\.entity_id \(in .*\): Input "
                                            "should be a valid integer"):
        create_app(load_settings(sqlite_hub.config))
