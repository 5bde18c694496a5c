"""The staff's web form (/helpdesk/ticket) over HTTP: logged in through the SSO broker against a real SAML IdP,
a teacher reports an incident of their establishment and it lands in the GLPI double where the rules say."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "sso"))
import saml_idp  # noqa: E402
from helpdesk_env import helpdesk_config, token_env  # noqa: E402
from hubtest import HubEnv  # noqa: E402
from sso_env import SSO_CONFIG, SsoEnv, _copy_sqlite, demo_db, free_port, keys, saml_login  # noqa: E402, F401

from hub.app import create_app  # noqa: E402
from hub.settings import load_settings  # noqa: E402


@pytest.fixture
def staff_form(tmp_path, demo_db, keys, glpi, monkeypatch):  # noqa: F811
    _copy_sqlite(demo_db, tmp_path / "hub.db")
    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    hub_port, idp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{hub_port}"
    idp = saml_idp.TestIdp(idp_port, keys["idp_key"], keys["idp_cert"], f"{base}/saml/metadata")
    env.write_config(textwrap.dedent(SSO_CONFIG).format(base=base, sp_cert=keys["sp_cert"], idp_url=idp.url,
                                                        extra="", extra_sso="") + helpdesk_config(glpi.url, 0.5),
                     enabled=("aaf", "glpi"))
    for name, value in {"HUB_DATABASE_URL": env.db_url, "HUB_SSO__SP_PRIVATE_KEY_FILE": str(keys["sp_key"]),
                        **token_env()}.items():
        monkeypatch.setenv(name, value)
    teacher = env.rows("select * from person where kind = 'enseignant' and uai is not null order by person_key "
                       "limit 1")[0]
    idp.users["prof"] = {"ENTPersonJointure": [teacher.jointure], "mail": ["prof@ac-test.fr"]}
    (tmp_path / "zones.csv").write_text(f"UAI;ZA reprise;UT\n{teacher.uai};oui;UT4\n")
    env.run("establishments", "import-zones", str(tmp_path / "zones.csv"))
    app = create_app(load_settings(env.config))
    servers = [saml_idp.serve(idp.app, idp_port), saml_idp.serve(app, hub_port)]
    sso = SsoEnv(env, base, idp, app, servers)
    sso.teacher = teacher
    yield sso
    for server in servers:
        server.shutdown()


def _token(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page)[1]


def test_a_teacher_reports_an_incident_of_their_college_through_the_form(staff_form, glpi):
    sso, uai = staff_form, staff_form.teacher.uai
    with sso.browser() as browser:
        assert browser.get(f"{sso.base}/helpdesk/ticket").headers["location"] == "/sso/login?next=/helpdesk/ticket"
        saml_login(browser, sso, f"{sso.base}/helpdesk/ticket", "prof")
        form = browser.get(f"{sso.base}/helpdesk/ticket")
        assert form.status_code == 200 and f'value="{uai}"' in form.text
        assert form.text.count("<option value=\"0") == 1  # their establishment only
        fields = {"token": _token(form.text), "uai": uai, "title": "Borne Wi-Fi du CDI", "urgency": "2",
                  "content": "Plus de Wi-Fi au CDI depuis lundi."}
        answer = browser.post(f"{sso.base}/helpdesk/ticket", data={**fields, "domain": "ZA"})
        assert answer.status_code == 200 and "est transmis (Département, infogérant)" in answer.text
        (ticket,) = glpi.tickets.values()
        assert ticket["itilcategories_id"] == 12 and ticket["urgency"] == 2  # ZA taken over: the département
        email = sso.teacher.email  # the store's address, not what the IdP says
        assert ticket["_users_id_requester_notif"]["alternative_email"] == [email]
        assert sso.env.scalar("select reporter from ticket").endswith(f"<{email}>")
        other = sso.env.scalar("select uai from establishment where uai <> :u and kind = 'college'", u=uai) \
            or "0150001A"
        refused = browser.post(f"{sso.base}/helpdesk/ticket", data={**fields, "domain": "ZP", "uai": other})
        assert refused.status_code == 400 and "un de vos établissements" in refused.text
        forged = browser.post(f"{sso.base}/helpdesk/ticket", data={**fields, "domain": "ZP", "token": "x"})
        assert forged.status_code == 400 and len(glpi.tickets) == 1


def test_glpi_down_the_form_says_the_report_is_kept(staff_form, glpi):
    sso = staff_form
    glpi.down = True
    with sso.browser() as browser:
        saml_login(browser, sso, f"{sso.base}/helpdesk/ticket", "prof")
        form = browser.get(f"{sso.base}/helpdesk/ticket")
        answer = browser.post(f"{sso.base}/helpdesk/ticket", data={
            "token": _token(form.text), "uai": sso.teacher.uai, "domain": "bati", "title": "Fuite",
            "content": "Fuite d'eau au-dessus de la baie de brassage.", "urgency": "5"})
    assert "il sera transmis dès que le service répondra (Omère (bâti))" in answer.text
    assert sso.env.scalar("select status from ticket_request") == "pending"
