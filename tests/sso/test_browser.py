"""One real browser (Chromium, through playwright) through the whole flow: an app using authlib's client →
the hub's OIDC authorize → the hub's SAML SP → the pysaml2 IdP's login page → back → code → token → userinfo."""

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
    sso = make_sso(clients=CLIENTS_CONFIG + f"""
[sso.clients.webapp]
public = true
redirect_uris = ["{rp}/callback"]
claims = ["given_name", "profile"]
""")
    teacher = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [teacher.jointure]}
    sso.servers.append(serve(make_rp(sso.base), rp_port))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
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
        finally:
            browser.close()
    assert sso.rows("select client_id, idp from login_event") == [("webapp", "agents")]
