"""One real browser (Chromium, through playwright) through the whole flow: an app using authlib's client →
the hub's OIDC authorize → the hub's SAML SP → the pysaml2 IdP's login page → back → code → token → userinfo;
then the logout at the hub, told to the app by a front-channel iframe, and at the IdP."""

from __future__ import annotations

import shutil

import pytest
from rp_app import make_rp
from saml_idp import serve
from sso_env import CLIENTS_CONFIG, free_port

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed")
def test_a_teacher_logs_in_to_an_app_in_chromium(make_sso):
    from playwright.sync_api import sync_playwright

    rp_port = free_port()
    rp = f"http://127.0.0.1:{rp_port}"
    sso = make_sso(
        clients=CLIENTS_CONFIG
        + f"""
[sso.clients.webapp]
public = true
redirect_uris = ["{rp}/callback"]
claims = ["given_name", "profile"]
frontchannel_logout_uri = "{rp}/frontchannel"
"""
    )
    teacher = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [teacher.jointure]}
    logouts: list[str] = []
    sso.servers.append(serve(make_rp(sso.base, logouts=logouts), rp_port))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            page.goto(f"{rp}/start")
            page.wait_for_selector("#username")  # the IdP's login page
            assert page.url.startswith(sso.idp.url)
            page.fill("#username", "prof")
            page.click("#login")
            page.wait_for_selector("#hello", timeout=20_000)  # auto-posted to the ACS, then back to the app
            assert page.inner_text("#hello") == f"Bonjour {teacher.first_name}"
            assert page.inner_text("#claims") == "given_name,profile,sub"
            assert page.url.startswith(f"{rp}/callback?")
            page.goto(f"{sso.base}/sso/logout")  # the iframe logs the app out, the page goes on to the IdP and back
            page.wait_for_url(f"{sso.base}/sso/logout", timeout=20_000)
            assert page.inner_text("#title") == "Vous êtes déconnecté."
            assert len(logouts) == 1 and sso.idp.logouts == ["prof"]
        finally:
            browser.close()
    assert sso.rows("select client_id, idp from login_event") == [("webapp", "agents")]
