"""Single logout between the hub and the pysaml2 IdP, both ways, with signed messages."""

from __future__ import annotations

import httpx
import pytest
from oidc_rp import log_in, token


@pytest.fixture
def teacher(sso):
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    return row


def _follow(browser: httpx.Client, response: httpx.Response, stop: str) -> httpx.Response:
    """Follow redirects until one leaves for ``stop`` (a URL prefix the test does not serve)."""
    while response.status_code == 302 and not response.headers["location"].startswith(stop):
        response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
    return response


def test_an_app_logout_ends_the_session_at_the_idp_too_then_returns_to_the_app(sso, teacher):
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso)).json()
        answer = browser.get(f"{sso.base}/oidc/logout", params={
            "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://ent.test/bye", "state": "z"})
        answer = _follow(browser, answer, "https://ent.test/")
        assert answer.headers["location"] == "https://ent.test/bye?state=z"
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False
    assert sso.idp.logouts == ["prof"]


def test_a_logout_started_at_the_idp_ends_the_hub_session(sso, teacher):
    with sso.browser() as browser:
        log_in(browser, sso)
        answer = browser.get(sso.idp.logout_request_url(f"{sso.base}/saml/metadata", "prof"))
        assert answer.status_code == 302 and answer.headers["location"].startswith(f"{sso.idp.url}/slo?SAMLResponse=")
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False


def test_a_forged_logout_request_is_refused_and_the_session_stays(sso, teacher):
    with sso.browser() as browser:
        log_in(browser, sso)
        url = sso.idp.logout_request_url(f"{sso.base}/saml/metadata", "prof")
        forged = url.replace("Signature=", "Signature=AAAA")
        answer = browser.get(forged)
        assert answer.status_code == 403 and "logout" in answer.text
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is True
