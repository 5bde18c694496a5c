"""The routing matrix of seed 001, table-driven: every domain × zone taken over or not × cité mixte × territorial
unit × reporter through the rules of seed001.toml (the settings model, the pure matcher), then a row per case
through `hub ticket route` on a synced hub whose zones file is imported."""

from __future__ import annotations

import itertools
import tomllib

import pytest
from helpdesk_env import helpdesk_config

from hub.helpdesk.routing import DOMAINS, Facts, first_match
from hub.settings import HelpdeskSettings

RULES = HelpdeskSettings.model_validate(tomllib.loads(helpdesk_config())["helpdesk"]).rules
UNITS = ("UT1", "UT2", "UT3", "UT4", None)


def seed001(domain: str, za_taken_over: bool | None, cite_mixte: bool | None, unit: str | None,
            reporter: str) -> tuple[str, dict] | None:
    """Seed 001 read directly (Fiche 7, C.): who handles what; None when the hub must not guess."""
    if domain == "ZP":  # the département keeps every ZP, except the cités mixtes' (the Région's)
        return ("region" if cite_mixte else "departement"), {}
    if domain == "ZA":  # the département once it took the ZA over, the rectorat's PASS before
        return None if za_taken_over is None else ("departement" if za_taken_over else "pass"), {}
    if domain == "bati":  # Omère, the service of the collège's territorial unit
        return ("omere", {"_groups_id_assign": 20 + int(unit[2:])}) if unit else None
    if domain == "metier":  # the national business applications stay with the rectorat (seed 000 too)
        return "pass", {}
    if domain == "ent":
        return "departement", {}
    return ("departement", {}) if reporter == "hub" else None  # the hub's own incidents


def zone_cases():
    yield None, None, None  # not in the zones file
    yield from itertools.product((True, False), (True, False), UNITS)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_case_of_the_seed_001_matrix_goes_where_the_seed_says(domain):
    cases = 0
    for (za, cite, unit), reporter in itertools.product(zone_cases(), ("staff", "operator", "hub")):
        facts = Facts(domain, reporter, "0930001A", "college", za, cite, unit)
        rule = first_match(RULES, facts)
        expected = seed001(domain, za, cite, unit, reporter)
        got = (rule.destination, rule.fields) if rule else None
        if expected is not None and expected[0] is None:
            expected = None
        assert got == expected, f"{facts}: rule {rule and rule.name!r}"
        cases += 1
    assert cases == 63


ROWS = [  # domain, zones file line (ZA reprise;UT;cité mixte) or None, destination, rule
    ("ZP", "non;UT1;non", "departement", "ZP: département"),
    ("ZP", "oui;UT3;non", "departement", "ZP: département"),
    ("ZP", "non;UT2;oui", "region", "ZP d'une cité mixte: Région"),
    ("ZP", None, "departement", "ZP: département"),
    ("ZA", "oui;UT1;non", "departement", "ZA reprise: département"),
    ("ZA", "non;UT1;non", "pass", "ZA non reprise: rectorat (PASS)"),
    ("ZA", "non;UT4;oui", "pass", "ZA non reprise: rectorat (PASS)"),
    ("bâti", "oui;UT1;non", "omere", "bâti UT1"),
    ("bati", "non;UT2;non", "omere", "bâti UT2"),
    ("BATI", "oui;UT3;oui", "omere", "bâti UT3"),
    ("bati", "non;ut 4;non", "omere", "bâti UT4"),
    ("metier", "oui;UT1;non", "pass", "applications métier: rectorat"),
    ("ent", "oui;UT1;non", "departement", "ENT et connexion: département"),
    ("ent", None, "departement", "ENT et connexion: département"),
]


@pytest.mark.parametrize(("domain", "line", "destination", "rule"), ROWS)
def test_hub_ticket_route_says_where_and_by_which_rule(zoned, domain, line, destination, rule):
    env, college = zoned(line)
    out = env.run("ticket", "route", "--uai", college, "--domain", domain).output
    assert f"→ {destination} (" in out and f"by rule {rule!r}" in out
    assert env.scalar("select count(*) from ticket") == 0  # routing opens nothing


@pytest.mark.parametrize(("domain", "line", "reason"), [
    ("ZA", None, "not in the zones file"),
    ("bati", "oui;;non", "no territorial unit"),
    ("hub", "oui;UT1;non", "reported by staff"),
])
def test_an_incident_no_rule_takes_is_refused_with_its_facts(zoned, domain, line, reason):
    env, college = zoned(line)
    out = env.run("ticket", "route", "--uai", college, "--domain", domain, expect=1).output
    assert f"no helpdesk rule takes {domain} at {college}" in out and reason in out


def test_route_refuses_an_unknown_domain_or_establishment(zoned):
    env, college = zoned(None)
    assert "unknown domain 'wifi'" in env.run("ticket", "route", "--uai", college, "--domain", "wifi",
                                              expect=1).output
    assert "check letter" in env.run("ticket", "route", "--uai", "0930001A", "--domain", "ZP", expect=1).output
    assert "establishment 0930001W is not known" in env.run("ticket", "route", "--uai", "0930001W", "--domain",
                                                             "ZP", expect=1).output
