"""Sessions shared by every worker (Redis, or the store), with their lifetime and idle timeout."""

from __future__ import annotations

import time

import httpx
import pytest
import redis
from oidc_rp import log_in, token
from saml_idp import serve
from sso_env import REDIS_URL, free_port, saml_login

from hub.app import create_app
from hub.settings import load_settings


def _teacher(sso):
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}
    return row


def _second_worker(sso) -> str:
    """Another app process-alike built from the same settings, served on its own port (as a second gunicorn
    worker would be): it shares nothing with the first but Redis (or the database)."""
    app = create_app(load_settings(sso.env.config))
    port = free_port()
    sso.servers.append(serve(app, port))
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("store", ["redis", "database"])
def test_a_session_opened_on_one_worker_is_known_to_another(make_sso, store):
    sso = make_sso(redis=store == "redis")
    _teacher(sso)
    other = _second_worker(sso)
    with sso.browser() as browser:
        auth = log_in(browser, sso)
        assert browser.get(f"{other}/sso/whoami").json()["logged_in"] is True  # the cookie, read by the other
    assert token(sso, auth).status_code == 200
    in_database = sso.rows("select count(*) from sso_entry where key like 'session:%'")[0][0]
    if store == "redis":
        prefix = sso.app.extensions["sso"].settings.redis_prefix
        client = redis.Redis.from_url(REDIS_URL)
        assert client.keys(f"{prefix}session:*") and in_database == 0
        client.delete(*client.keys(f"{prefix}*"))
    else:
        assert in_database == 1


@pytest.mark.slow
def test_a_session_ends_when_idle_and_at_its_lifetime(make_sso):
    sso = make_sso(extra_sso="session_idle_seconds = 3\nsession_lifetime_seconds = 5\n", redis=True)
    _teacher(sso)

    def logged_in_at(browser, t0: float, at: float) -> bool:
        time.sleep(max(0.0, t0 + at - time.time()))
        return browser.get(f"{sso.base}/sso/whoami").json()["logged_in"]

    with sso.browser() as browser:
        saml_login(browser, sso, f"{sso.base}/sso/login", "prof", post_back=False)
        before = time.time()  # the lifetime counts from the login: the ACS, between these two instants
        assert browser.post(sso.idp.last_post["action"], data=sso.idp.last_post["data"]).status_code == 302
        after = time.time()  # (a loaded machine may take a while to answer: alive checks count from before)
        assert [logged_in_at(browser, before, at) for at in (1.5, 3, 4.2)] == [True, True, True]
        assert logged_in_at(browser, after, 5.6) is False
    with sso.browser() as browser:
        assert saml_login(browser, sso, f"{sso.base}/sso/login", "prof").status_code == 302
        assert logged_in_at(browser, time.time(), 3.6) is False  # idle for longer than 3 s


def test_the_session_id_changes_at_login(sso):
    """A session id an attacker planted before the login is worth nothing after it."""
    _teacher(sso)
    with sso.browser() as browser:
        browser.get(f"{sso.base}/saml/login/agents")
        before = browser.cookies.get("hub_sso")
        assert saml_login(browser, sso, f"{sso.base}/sso/login", "prof").status_code == 302
        after = browser.cookies.get("hub_sso")
    assert before and after and before != after
    with httpx.Client(cookies={"hub_sso": before}) as attacker:
        assert attacker.get(f"{sso.base}/sso/whoami").json()["logged_in"] is False
