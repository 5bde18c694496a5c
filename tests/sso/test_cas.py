"""The hub as CAS 3.0 server for the vie-scolaire tools: allowed services only, single-use short-lived tickets
bound to their service, the same release rules as OIDC."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from lxml import etree
from sso_env import saml_login

CAS = {"cas": "http://www.yale.edu/tp/cas"}
SERVICE = "https://pronote.test/cas"


@pytest.fixture
def teacher(sso):
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    return row


def _ticket(browser, sso, service: str = SERVICE, logged_in: bool = False) -> str:
    start = f"{sso.base}/cas/login?{urlencode({'service': service})}"
    if logged_in:  # straight back to the service with a new ticket
        answer = browser.get(start)
    else:
        answer = saml_login(browser, sso, start, "prof")
        assert answer.status_code == 302, answer.text
        answer = browser.get(f"{sso.base}{answer.headers['location']}")  # back to /cas/login, logged in
    assert answer.status_code == 302 and answer.headers["location"].startswith(service + "?ticket=ST-")
    return parse_qs(urlsplit(answer.headers["location"]).query)["ticket"][0]


def _validate(sso, ticket: str, service: str = SERVICE, path: str = "/cas/p3/serviceValidate"):
    answer = httpx.get(f"{sso.base}{path}", params={"service": service, "ticket": ticket})
    assert answer.status_code == 200
    return etree.fromstring(answer.content)


def _failure(doc) -> str | None:
    node = doc.find("cas:authenticationFailure", CAS)
    return node.get("code") if node is not None else None


def test_a_service_gets_its_user_and_only_its_attributes(sso, teacher):
    with sso.browser() as browser:
        ticket = _ticket(browser, sso)
    doc = _validate(sso, ticket)
    success = doc.find("cas:authenticationSuccess", CAS)
    assert success is not None, etree.tostring(doc)
    attributes = {child.tag.split("}")[1]: child.text for child in success.find("cas:attributes", CAS)}
    assert set(attributes) == {"sub", "family_name", "profile", "uai"}
    assert attributes["family_name"] == teacher.last_name and attributes["uai"] == teacher.uai
    assert success.find("cas:user", CAS).text == attributes["sub"]
    assert sso.rows("select client_id, idp from login_event") == [("vie_scolaire", "agents")]


def test_a_ticket_works_once_and_for_its_service_only(sso, teacher):
    with sso.browser() as browser:
        ticket = _ticket(browser, sso)
        other = _ticket(browser, sso, logged_in=True)
    assert _failure(_validate(sso, ticket, path="/cas/serviceValidate")) is None
    assert _failure(_validate(sso, ticket)) == "INVALID_TICKET"
    assert _failure(_validate(sso, other, service="https://x.vie-scolaire.test/login")) == "INVALID_SERVICE"
    assert _failure(_validate(sso, other)) == "INVALID_TICKET"  # spent by the failed attempt
    codes = [r.key for r in sso.rows("select e.key from run r join run_event e on e.run_id = r.id "
                                     "where r.action = 'sso' order by e.id")]
    assert codes == ["INVALID_TICKET", "INVALID_SERVICE", "INVALID_TICKET"]


@pytest.mark.parametrize("service", ["https://pronote.test/cas/", "https://pronote.test/casx",
                                     "https://evil.test/?https://pronote.test/cas",
                                     "https://a.vie-scolaire.test/login/../evil", "https://a.vie-scolaire.test.evil/login"])
def test_a_service_not_allowed_gets_no_ticket(sso, teacher, service):
    answer = httpx.get(f"{sso.base}/cas/login", params={"service": service})
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "INVALID_SERVICE" in answer.text


def test_a_pattern_allows_each_of_its_schools(sso, teacher):
    with sso.browser() as browser:
        ticket = _ticket(browser, sso, "https://clg-jules-ferry.vie-scolaire.test/login")
    assert _failure(_validate(sso, ticket, "https://clg-jules-ferry.vie-scolaire.test/login")) is None


@pytest.mark.slow
def test_a_ticket_expires(make_sso):
    sso = make_sso(extra_sso="cas_ticket_seconds = 1\n")
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    with sso.browser() as browser:
        ticket = _ticket(browser, sso)
    time.sleep(2.1)
    assert _failure(_validate(sso, ticket)) == "INVALID_TICKET"


def test_logout_ends_the_session_and_returns_to_an_allowed_service_only(sso, teacher):
    with sso.browser() as browser:
        _ticket(browser, sso)
        answer = browser.get(f"{sso.base}/cas/logout", params={"service": "https://evil.test/"})
        while answer.headers["location"] != "/sso/logout":  # through the IdP's single logout
            answer = browser.get(httpx.URL(str(answer.url)).join(answer.headers["location"]))
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False
        _ticket(browser, sso)
        answer = browser.get(f"{sso.base}/cas/logout", params={"service": SERVICE})
        while not answer.headers["location"].startswith("https://"):  # the hub and the IdP are on http
            answer = browser.get(httpx.URL(str(answer.url)).join(answer.headers["location"]))
        assert answer.headers["location"] == SERVICE
    assert sso.idp.logouts == ["prof", "prof"]


def test_renew_asks_the_idp_for_the_credentials_again(sso, teacher):
    import base64
    import zlib

    with sso.browser() as browser:
        _ticket(browser, sso)
        answer = browser.get(f"{sso.base}/cas/login", params={"service": SERVICE, "renew": "true"})
        while not answer.headers["location"].startswith(sso.idp.url):
            answer = browser.get(httpx.URL(str(answer.url)).join(answer.headers["location"]))
        request = parse_qs(urlsplit(answer.headers["location"]).query)["SAMLRequest"][0]
        assert b'ForceAuthn="true"' in zlib.decompress(base64.b64decode(request), -15)
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False  # no ticket before that


def test_gateway_returns_without_a_ticket_when_nobody_is_logged_in(sso, teacher):
    answer = httpx.get(f"{sso.base}/cas/login", params={"service": SERVICE, "gateway": "true"})
    assert answer.status_code == 302 and answer.headers["location"] == SERVICE
