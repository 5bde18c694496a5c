"""Logout at the broker told to the OIDC clients of the session: Front-Channel Logout 1.0 (iframes in the
browser) and Back-Channel Logout 1.0 (a signed logout_token POSTed to the client), with real RPs over HTTP."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from logout_rp import LogoutRp
from oidc_rp import authorization, authorize_url, log_in, pkce, token, verify_id_token
from ports import free_port
from saml_idp import serve
from sso_env import CLIENT_SECRET, CLIENTS_CONFIG

LOGOUT_CLIENTS = CLIENTS_CONFIG.replace(
    'post_logout_redirect_uris = ["https://ent.test/bye"]\n',
    'post_logout_redirect_uris = ["https://ent.test/bye"]\nfrontchannel_logout_uri = "{front}/front?tenant=1"\n',
).replace(
    'redirect_uris = ["https://app.test/cb"]\n',
    'redirect_uris = ["https://app.test/cb"]\nbackchannel_logout_uri = "{back}/back"\n',
)


@pytest.fixture
def rps(make_sso):
    """The hub with ``ent`` logged out by the front channel and ``mobile`` by the back channel, each an RP."""
    front_port, back_port = free_port(), free_port()
    sso = make_sso(
        clients=LOGOUT_CLIENTS.format(front=f"http://127.0.0.1:{front_port}", back=f"http://127.0.0.1:{back_port}")
    )
    front, back = LogoutRp(front_port, sso.base, "ent"), LogoutRp(back_port, sso.base, "mobile")
    servers = [serve(front.app, front_port), serve(back.app, back_port)]
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    yield sso, front, back
    for server in servers:
        server.shutdown()


def _both_clients(browser: httpx.Client, sso) -> tuple[dict, dict]:
    """Log in to ent (scope openid only: its refresh token ends with the session), then to mobile in the same
    session (offline_access: its refresh token outlives it)."""
    ent = token(sso, log_in(browser, sso, client="ent", scope="openid")).json()
    verifier, challenge = pkce()
    answer = browser.get(authorize_url(sso, "mobile", challenge, nonce="n-m"))
    mobile = token(sso, authorization(answer, "mobile", "n-m", verifier)).json()
    return ent, mobile


def _front_channel_page(browser: httpx.Client, answer: httpx.Response) -> tuple[list[str], str]:
    """The page's iframes, loaded as a browser would, and where it continues."""
    assert answer.status_code == 200, answer.text
    frames = [html.unescape(src) for src in re.findall(r'<iframe src="([^"]+)"', answer.text)]
    for src in frames:
        assert browser.get(src).status_code == 200
    return frames, html.unescape(re.search(r'id="continue" href="([^"]+)"', answer.text).group(1))


def test_a_logout_at_the_broker_reaches_each_client_by_its_channel(rps):
    sso, front, back = rps
    with sso.browser() as browser:
        ent, mobile = _both_clients(browser, sso)
        sid = verify_id_token(sso, ent["id_token"])["sid"]
        assert verify_id_token(sso, mobile["id_token"])["sid"] == sid  # one broker session, one sid
        answer = browser.get(f"{sso.base}/sso/logout")
        answer = browser.get(f"{sso.base}{answer.headers['location']}")  # /saml/logout
        # the back channel was told before the browser went on
        assert [(c["aud"], c["sid"], c["sub"]) for c in back.back] == [
            ("mobile", sid, verify_id_token(sso, mobile["id_token"])["sub"])
        ]
        frames, then = _front_channel_page(browser, answer)
        assert front.front == [{"tenant": "1", "iss": sso.base, "sid": sid}]
        assert then.startswith(f"{sso.idp.url}/slo?SAMLRequest=")  # then the single logout at the IdP
        answer = browser.get(then)
        answer = browser.get(answer.headers["location"])  # the IdP's answer at the hub's SLS
        assert answer.headers["location"] == "/sso/logout"
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False
    assert sso.idp.logouts == ["prof"] and back.refused == []
    refresh = {"grant_type": "refresh_token"}
    ended = httpx.post(
        f"{sso.base}/oidc/token", data={**refresh, "refresh_token": ent["refresh_token"]}, auth=("ent", CLIENT_SECRET)
    )
    assert ended.status_code == 400 and ended.json()["error"] == "invalid_grant"  # no offline_access: revoked
    kept = httpx.post(
        f"{sso.base}/oidc/token", data={**refresh, "refresh_token": mobile["refresh_token"], "client_id": "mobile"}
    )
    assert kept.status_code == 200  # offline_access: it outlives the session


def test_an_app_logout_returns_to_the_app_after_the_other_clients_heard_of_it(rps):
    sso, front, back = rps
    with sso.browser() as browser:
        ent, _ = _both_clients(browser, sso)
        answer = browser.get(
            f"{sso.base}/oidc/logout",
            params={"id_token_hint": ent["id_token"], "post_logout_redirect_uri": "https://ent.test/bye", "state": "q"},
        )
        answer = browser.get(f"{sso.base}{answer.headers['location']}")
        _, then = _front_channel_page(browser, answer)
        answer = browser.get(browser.get(then).headers["location"])
        assert answer.headers["location"] == "https://ent.test/bye?state=q"
    assert len(back.back) == 1 and len(front.front) == 1


def test_a_logout_started_at_the_idp_reaches_the_clients_too(rps):
    sso, front, back = rps
    with sso.browser() as browser:
        _, mobile = _both_clients(browser, sso)
        answer = browser.get(sso.idp.logout_request_url(f"{sso.base}/saml/metadata", "prof"))
        assert [c["sid"] for c in back.back] == [verify_id_token(sso, mobile["id_token"])["sid"]]
        _, then = _front_channel_page(browser, answer)
        assert then.startswith(f"{sso.idp.url}/slo?SAMLResponse=") and len(front.front) == 1
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False


def test_a_client_that_does_not_answer_does_not_stop_the_logout(make_sso):
    dead = free_port()  # nothing listens there
    sso = make_sso(clients=LOGOUT_CLIENTS.format(front=f"http://127.0.0.1:{dead}", back=f"http://127.0.0.1:{dead}"))
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    with sso.browser() as browser:
        _both_clients(browser, sso)
        answer = browser.get(f"{sso.base}/saml/logout")
        assert answer.status_code == 200 and "iframe" in answer.text
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False


def test_discovery_announces_both_logout_channels(rps):
    sso, _, _ = rps
    config = httpx.get(f"{sso.base}/.well-known/openid-configuration").json()
    assert config["frontchannel_logout_supported"] and config["frontchannel_logout_session_supported"]
    assert config["backchannel_logout_supported"] and config["backchannel_logout_session_supported"]
