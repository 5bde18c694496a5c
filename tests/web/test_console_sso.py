"""The console through the SSO broker: a member of staff whose person an admin linked to a console account logs
in at the académie IdP (a real pysaml2 IdP) and gets that account's role; anyone else is refused and audited."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from consoletest import PASSWORD, SECRET

sys.path.insert(0, str(Path(__file__).parents[1] / "sso"))
import saml_idp  # noqa: E402
from hubtest import HubEnv  # noqa: E402
from sso_env import SSO_CONFIG, SsoEnv, _copy_sqlite, demo_db, free_port, keys, saml_login  # noqa: E402, F401

from hub.app import create_app  # noqa: E402
from hub.settings import load_settings  # noqa: E402


@pytest.fixture
def sso_console(tmp_path, demo_db, keys, monkeypatch):  # noqa: F811
    _copy_sqlite(demo_db, tmp_path / "hub.db")
    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    hub_port, idp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{hub_port}"
    idp = saml_idp.TestIdp(idp_port, keys["idp_key"], keys["idp_cert"], f"{base}/saml/metadata")
    env.write_config(textwrap.dedent(SSO_CONFIG).format(base=base, sp_cert=keys["sp_cert"], idp_url=idp.url,
                                                        extra="", extra_sso="") + "[console]\nsecure_cookies = false\n")
    for name, value in {"HUB_DATABASE_URL": env.db_url, "HUB_SSO__SP_PRIVATE_KEY_FILE": str(keys["sp_key"]),
                        "HUB_CONSOLE__SECRET_KEY": SECRET}.items():
        monkeypatch.setenv(name, value)
    principal, teacher = env.rows("select person_key, jointure from person where kind in ('enseignant', 'personnel') "
                                  "order by person_key limit 2")
    for name, person in (("prin", principal), ("prof", teacher)):
        idp.users[name] = {"ENTPersonJointure": [person.jointure], "mail": [f"{name}@ac-test.fr"]}
    env.run("admin", "add-user", "principal", "--role", "operator", env={"HUB_ADMIN_PASSWORD": PASSWORD})
    env.run("admin", "link-person", "principal", principal.person_key)
    servers = [saml_idp.serve(idp.app, idp_port), saml_idp.serve(create_app(load_settings(env.config)), hub_port)]
    yield SsoEnv(env, base, idp, None, servers)
    for server in servers:
        server.shutdown()


def test_a_linked_member_of_staff_logs_in_through_the_sso_with_the_accounts_role(sso_console):
    sso = sso_console
    with sso.browser() as browser:
        assert "Log in with the académie" in browser.get(f"{sso.base}/admin/login").text
        start = browser.get(f"{sso.base}/admin/login/sso")
        assert start.headers["location"] == "/sso/login?next=/admin/login/sso"
        back = saml_login(browser, sso, f"{sso.base}/admin/login/sso", "prin")
        while back.status_code in (302, 303) and "/admin/" in back.headers["location"]:
            back = browser.get(f"{sso.base}{back.headers['location']}" if back.headers["location"].startswith("/")
                               else back.headers["location"])
        assert back.status_code == 200 and "principal" in back.text
        assert browser.get(f"{sso.base}/admin/runs").status_code == 200
    audit = sso.env.rows("select actor, action, detail, outcome from audit_event where action = 'login'")
    assert [(a.actor, a.outcome) for a in audit] == [("principal", "ok")] and "through the SSO" in audit[0].detail


def test_staff_without_a_linked_account_are_refused_and_audited(sso_console):
    sso = sso_console
    with sso.browser() as browser:
        back = saml_login(browser, sso, f"{sso.base}/admin/login/sso", "prof")
        while back.status_code in (302, 303):
            location = back.headers["location"]
            back = browser.get(f"{sso.base}{location}" if location.startswith("/") else location)
        assert back.status_code == 403 and "link-person" in back.text
        assert browser.get(f"{sso.base}/admin/").headers["location"].startswith("/admin/login")
    refused = sso.env.rows("select actor, outcome from audit_event where action = 'login'")
    assert [r.outcome for r in refused] == ["refused"]


def test_only_staff_can_be_linked(sso_console):
    pupil = sso_console.env.scalar("select person_key from person where kind = 'eleve' limit 1")
    output = sso_console.env.run("admin", "link-person", "principal", pupil, expect=1).output
    assert "of kind eleve, not staff" in output
