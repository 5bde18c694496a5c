"""Upstream metadata: read from a URL, its signature checked when a certificate is configured, re-read when
old (an IdP's key rotation is followed), the last good copy kept when the IdP's server is down."""

from __future__ import annotations

import time

import pytest
from sso_env import saml_login


def _teacher(sso):
    row = sso.person("kind = 'enseignant'")
    sso.idp.users["prof"] = {"ENTPersonJointure": [row.jointure]}


def _login_status(sso) -> int:
    with sso.browser() as browser:
        return saml_login(browser, sso, f"{sso.base}/sso/login", "prof").status_code


def test_signed_metadata_is_accepted(make_sso, keys):
    sso = make_sso(extra=f'metadata_cert_file = "{keys["idp_cert"]}"\n')
    sso.idp.metadata_signer = (keys["idp_key"], keys["idp_cert"])
    _teacher(sso)
    assert _login_status(sso) == 302


@pytest.mark.parametrize("signer", [None, "other_idp"])
def test_unsigned_or_foreign_signed_metadata_is_refused(make_sso, keys, signer):
    sso = make_sso(extra=f'metadata_cert_file = "{keys["idp_cert"]}"\n')
    if signer:
        sso.idp.metadata_signer = (keys[f"{signer}_key"], keys[f"{signer}_cert"])
    with sso.browser() as browser:
        answer = browser.get(f"{sso.base}/saml/login/agents")
    assert answer.status_code == 503 and "signature" in answer.text
    assert sso.rows("select e.key from run_event e join run r on r.id = e.run_id where r.action = 'sso'") == [
        ("metadata",)]


@pytest.mark.slow
def test_metadata_is_read_again_when_old_and_kept_when_the_idp_is_down(make_sso, keys):
    sso = make_sso(extra="metadata_refresh_seconds = 1\n")
    _teacher(sso)
    assert _login_status(sso) == 302
    sso.idp.rotate(keys["other_idp_key"], keys["other_idp_cert"])  # the IdP's new key, in its new metadata
    time.sleep(1.2)
    assert _login_status(sso) == 302  # the hub read the new metadata, so trusts the new key
    sso.servers[0].shutdown()  # the IdP's server is gone: the last good metadata stays
    time.sleep(1.2)
    with sso.browser() as browser:
        answer = browser.get(f"{sso.base}/saml/login/agents")
    assert answer.status_code == 302 and answer.headers["location"].startswith(sso.idp.url)
