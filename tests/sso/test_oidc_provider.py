"""The hub as OIDC provider, driven over real HTTP by a relying party, with the login going through the SAML
SP and the pysaml2 IdP: code + PKCE, id_token, userinfo, refresh, logout, attribute release, and refusals."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oidc_rp import authorize_url, log_in, pkce, token, verify_id_token
from sso_env import saml_login

from hub.hookspecs import hookimpl


@pytest.fixture
def teacher(sso):
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    return row


def _error_at_client(answer: httpx.Response, redirect_uri: str) -> dict:
    """The hub's answer sent the browser back to the client with an OAuth2 error: its parameters."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert "code" not in query and query["error"], query
    return query


def _refusals(sso) -> list:
    return sso.rows(
        "select e.key, e.reason from run r join run_event e on e.run_id = r.id where r.action = 'sso' order by e.id"
    )


def test_the_whole_flow_app_hub_idp_code_token_userinfo(sso, teacher):
    with sso.browser() as browser:
        auth = log_in(browser, sso)
    assert auth.state == "s-1"
    answer = token(sso, auth)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    claims = verify_id_token(sso, tokens["id_token"])
    assert claims["iss"] == sso.base and claims["aud"] == ["ent"] and claims["nonce"] == "n-1"
    assert claims["family_name"] == teacher.last_name and claims["profile"] == "enseignant"
    info = httpx.get(f"{sso.base}/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
    assert set(info.json()) <= {"sub", "given_name", "family_name", "profile", "uai", "classes"}
    assert teacher.jointure not in str(info.json()) and teacher.person_key not in str(info.json())
    events = sso.rows("select person_key, uai, profile, client_id, idp from login_event")
    assert events == [(teacher.person_key, teacher.uai, "enseignant", "ent", "agents")]


def test_discovery_and_jwks_publish_every_key_and_the_newest_signs(sso, teacher, keys):
    config = httpx.get(f"{sso.base}/.well-known/openid-configuration").json()
    assert config["issuer"] == sso.base and config["code_challenge_methods_supported"] == ["S256"]
    jwks = httpx.get(config["jwks_uri"]).json()["keys"]
    assert len(jwks) == 2 and all("d" not in key for key in jwks)  # public parts only
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso)).json()
    import json
    from base64 import urlsafe_b64decode

    header = json.loads(urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"] == jwks[-1]["kid"]


def test_a_client_never_receives_an_unlisted_claim(sso, teacher):
    """mobile lists only uai: neither the id_token nor userinfo carry names, e-mail, INE or jointure."""
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso, client="mobile")).json()
    id_claims = verify_id_token(sso, tokens["id_token"])
    info = httpx.get(f"{sso.base}/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert set(info) == {"sub", "uai"}
    assert set(id_claims) - {"iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid"} == {"sub", "uai"}
    with sso.browser() as browser:
        ent_sub = verify_id_token(sso, token(sso, log_in(browser, sso)).json()["id_token"])["sub"]
    assert ent_sub != info["sub"]  # pairwise: two clients cannot join their users


def test_a_plugin_narrows_what_a_client_receives(sso, teacher):
    class NoNames:
        @hookimpl
        def hub_release_attributes(self, client, person, claims):
            return {"given_name", "family_name"} if client == "ent" else None

    sso.app.extensions["hub"].plugins.pm.register(NoNames())
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso)).json()
    info = httpx.get(f"{sso.base}/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert "family_name" not in info and "given_name" not in info and info["profile"] == "enseignant"


def test_refresh_tokens_rotate_and_work_once(sso, teacher):
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso)).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    first = httpx.post(f"{sso.base}/oidc/token", data=form, auth=("ent", "ent-secret-from-the-environment"))
    assert first.status_code == 200 and first.json()["refresh_token"] != tokens["refresh_token"]
    again = httpx.post(f"{sso.base}/oidc/token", data=form, auth=("ent", "ent-secret-from-the-environment"))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_rp_initiated_logout_ends_the_session_and_returns_only_to_a_registered_url(sso, teacher):
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso)).json()
        bad = browser.get(
            f"{sso.base}/oidc/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.test/"},
        )
        assert bad.status_code == 400
        good = browser.get(
            f"{sso.base}/oidc/logout",
            params={
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "https://ent.test/bye",
                "state": "x",
            },
        )
        assert good.status_code == 302 and good.headers["location"] == "https://ent.test/bye?state=x"
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False


# --- attacks: each refused, and journaled -----------------------------------------------------------------------


def test_a_redirect_uri_not_exactly_registered_is_refused_without_redirecting(sso, teacher):
    for uri in (
        "https://ent.test/callback/",
        "https://ent.test/callback?x=1",
        "https://ent.test.evil/callback",
        "https://ENT.test/callback",
    ):
        answer = httpx.get(authorize_url(sso, "ent", pkce()[1], redirect_uri=uri))
        assert answer.status_code == 400 and "location" not in answer.headers, uri
    assert len(_refusals(sso)) == 4


def test_a_code_works_once(sso, teacher):
    with sso.browser() as browser:
        auth = log_in(browser, sso)
    assert token(sso, auth).status_code == 200
    again = token(sso, auth)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _refusals(sso)[-1].key == "invalid_grant"


def test_a_pkce_mismatch_is_refused(sso, teacher):
    with sso.browser() as browser:
        auth = log_in(browser, sso, client="mobile")
    answer = token(sso, auth, code_verifier=pkce()[0])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_public_client_must_use_pkce_s256(sso, teacher):
    plain = _error_at_client(httpx.get(authorize_url(sso, "mobile", None, state="p")), "https://app.test/cb")
    assert plain["error"] == "invalid_request" and "PKCE" in plain["error_description"] and plain["state"] == "p"
    weak = httpx.get(authorize_url(sso, "mobile", None, code_challenge="x" * 43, code_challenge_method="plain"))
    weak = _error_at_client(weak, "https://app.test/cb")
    assert weak["error"] == "invalid_request" and "S256" in weak["error_description"]


def test_a_missing_nonce_is_refused(sso, teacher):
    answer = _error_at_client(httpx.get(authorize_url(sso, "ent", pkce()[1], nonce=None)), "https://ent.test/callback")
    assert answer["error"] == "invalid_request" and "nonce" in answer["error_description"]
    assert answer["state"] == "s-1"
    assert _refusals(sso)[-1].key == "invalid_request"


def test_a_reused_nonce_is_refused(sso, teacher):
    with sso.browser() as browser:
        log_in(browser, sso, nonce="same")
        answer = browser.get(authorize_url(sso, "ent", pkce()[1], nonce="same"))
    assert _error_at_client(answer, "https://ent.test/callback")["error"] == "invalid_request"
    assert "Replay" in _refusals(sso)[-1].reason


# --- errors once the client and its redirect_uri are known good go back to the client (RFC 6749 §4.1.2.1) ------


def test_an_unknown_client_or_a_bad_redirect_uri_gets_a_page_never_a_redirect(sso, teacher):
    for url in (
        authorize_url(sso, "ent", pkce()[1]).replace("client_id=ent", "client_id=nobody"),
        authorize_url(sso, "ent", pkce()[1]).replace("client_id=ent&", ""),
        authorize_url(sso, "ent", pkce()[1], redirect_uri="https://evil.test/cb"),
    ):
        answer = httpx.get(url)
        assert answer.status_code == 400 and "location" not in answer.headers, url
        assert "Connexion refusée" in answer.text


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
    ],
)
def test_a_bad_request_of_a_known_client_goes_back_to_its_redirect_uri(sso, teacher, params, error):
    url = authorize_url(sso, "mobile", pkce()[1], state="st-9")
    for name, value in params.items():
        url = url.replace(f"{name}=", f"_{name}=") + f"&{name}={value}"
    answer = _error_at_client(httpx.get(url), "https://app.test/cb")
    assert answer["error"] == error and answer["state"] == "st-9", answer
    assert _refusals(sso)[-1].key == error


def test_prompt_none_with_a_session_gives_a_code_without_a_login_page(sso, teacher):
    with sso.browser() as browser:
        log_in(browser, sso)
        answer = browser.get(authorize_url(sso, "ent", pkce()[1], nonce="n-2", prompt="none"))
    assert answer.status_code == 302 and "code=" in answer.headers["location"]


def test_a_person_gone_from_the_directory_is_sent_back_with_access_denied(sso, teacher):
    with sso.browser() as browser:
        log_in(browser, sso)
        with sso.env.engine().begin() as conn:
            from sqlalchemy import text

            conn.execute(
                text("update person set status = 'pending_deletion' where person_key = :k"), {"k": teacher.person_key}
            )
        answer = browser.get(authorize_url(sso, "ent", pkce()[1], nonce="n-3", state="gone"))
        query = _error_at_client(answer, "https://ent.test/callback")
        assert query["error"] == "access_denied" and query["state"] == "gone"
        assert browser.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False


def test_a_code_of_another_client_is_refused(sso, teacher):
    with sso.browser() as browser:
        auth = log_in(browser, sso, client="mobile")
    answer = httpx.post(
        f"{sso.base}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": "https://app.test/cb",
            "code_verifier": auth.verifier,
        },
        auth=("ent", "ent-secret-from-the-environment"),
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_token_of_another_client_gives_no_refresh_and_a_wrong_secret_nothing(sso, teacher):
    with sso.browser() as browser:
        tokens = token(sso, log_in(browser, sso)).json()
    stolen = httpx.post(
        f"{sso.base}/oidc/token",
        data={"grant_type": "refresh_token", "client_id": "mobile", "refresh_token": tokens["refresh_token"]},
    )
    assert stolen.status_code == 400
    wrong = httpx.post(
        f"{sso.base}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("ent", "guess"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_an_expired_or_unknown_access_token_gets_nothing(sso, teacher):
    answer = httpx.get(f"{sso.base}/oidc/userinfo", headers={"Authorization": "Bearer made-up"})
    assert answer.status_code == 401


def test_the_login_comes_back_to_authorize_with_its_parameters(sso, teacher):
    """The authorize request survives the SAML round trip (its state, nonce and challenge)."""
    verifier, challenge = pkce()
    with sso.browser() as browser:
        answer = saml_login(browser, sso, authorize_url(sso, "ent", challenge, state="keep-me"), "prof")
        assert answer.headers["location"].startswith("/oidc/authorize?") and "keep-me" in answer.headers["location"]
    assert time.time()
