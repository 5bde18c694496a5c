"""The hub as GAR's SAML IdP, over real HTTP: GAR's SP (python3-saml, strict) sends its AuthnRequest, the user logs in
through the SSO broker at the académie's IdP (pysaml2), and the SP checks the signed answer: signature, audience,
and the attributes, whose GARPersonIdentifiant is the one of the roster feed's files. Out of GAR's scope, or from an
SP that is not GAR, the hub refuses with a page and a journaled event."""

from __future__ import annotations

import html
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).parents[2] / "sso"))
from gar_sp import GarSp  # noqa: E402
from hubtest import HubEnv  # noqa: E402
from ports import free_port  # noqa: E402
from saml_idp import TestIdp as AcademieIdp  # (a name pytest does not collect)
from saml_idp import serve  # noqa: E402
from sso_env import EDUCONNECT_CONFIG, SSO_CONFIG, _copy_sqlite, demo_db, make_key_pair  # noqa: E402, F401

from hub.app import create_app  # noqa: E402
from hub.errors import SettingsError  # noqa: E402
from hub.settings import load_settings  # noqa: E402
from plugins.gar.hookimpl import Settings  # noqa: E402
from plugins.gar.idp import profiles_by_uai  # noqa: E402

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "men": "http://data.education.fr/ns/gar",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
COLLEGE, LYCEE = "0151000F", "0151006M"
TEACHER, HEAD = "70000000", "70000005"  # the demo académie's: a collège teacher, the collège's head (DIR)
EDUCT = "urn:oid:1.3.6.1.4.1.20326.10.999.1."
FR_EDUCT_ID, AFFILIATION = f"{EDUCT}57", f"{EDUCT}7"


@pytest.fixture(scope="session")
def gar_keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gar_keys")
    found = {}
    for name in ("hub_sp", "upstream", "educonnect", "gar_idp", "gar_sp", "other_sp"):
        found[f"{name}_key"], found[f"{name}_cert"] = make_key_pair(folder, name)
    return found


@dataclass
class GarHub:
    """The hub (on ``base``) as GAR's IdP, the académie's IdP it logs users in with, and GAR's SP."""

    env: HubEnv
    base: str
    idp: AcademieIdp
    sp: GarSp
    servers: list = field(default_factory=list)
    educonnect: AcademieIdp | None = None  # pupils' and parents' IdP, when asked for

    def journal(self, code: str) -> list:
        return self.env.rows(
            "select e.record, e.reason from run r join run_event e on e.run_id = r.id "
            "where r.action = 'sso' and r.status = 'refused' and e.key = :code",
            code=code,
        )


@pytest.fixture
def make_gar(tmp_path, demo_db, gar_keys, monkeypatch):  # noqa: F811 (the imported fixture)
    """``make_gar(**settings)``: a served hub whose [plugins.gar] takes ``settings`` over the defaults."""
    started = []

    def build(metadata_file: bool = False, educonnect: bool = False, **settings) -> GarHub:
        _copy_sqlite(demo_db, tmp_path / "hub.db")
        env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
        hub_port, idp_port, sp_port = free_port(), free_port(), free_port()
        base = f"http://127.0.0.1:{hub_port}"
        sp = GarSp(sp_port, gar_keys["gar_sp_key"], gar_keys["gar_sp_cert"], f"{base}/gar/idp/metadata")
        idp = AcademieIdp(idp_port, gar_keys["upstream_key"], gar_keys["upstream_cert"], f"{base}/saml/metadata")
        gar = {
            "id_ent": "ENTTEST",
            "idp_cert_file": str(gar_keys["gar_idp_cert"]),
            "idp_key_file": str(gar_keys["gar_idp_key"]),
            "idp_sp_metadata_url": f"{sp.url}/metadata",
            **settings,
        }
        if metadata_file:  # GAR's metadata as a file rather than fetched
            (tmp_path / "gar-sp.xml").write_text(sp.metadata())
            gar["idp_sp_metadata_file"] = str(tmp_path / "gar-sp.xml")
            del gar["idp_sp_metadata_url"]
        section = "".join(f"{key} = {json.dumps(value)}\n" for key, value in gar.items())
        extra, enabled, pupils_idp = "", ("aaf", "gar"), None
        if educonnect:
            pupils_idp = AcademieIdp(
                free_port(), gar_keys["educonnect_key"], gar_keys["educonnect_cert"], f"{base}/saml/metadata"
            )
            (tmp_path / "educonnect.xml").write_text(pupils_idp.metadata())
            extra, enabled = EDUCONNECT_CONFIG.format(metadata=tmp_path / "educonnect.xml"), (*enabled, "educonnect")
        sso = textwrap.dedent(SSO_CONFIG).format(
            base=base, sp_cert=gar_keys["hub_sp_cert"], idp_url=idp.url, extra=extra, extra_sso=""
        )
        env.write_config(f"{sso}\n[plugins.gar]\n{section}", enabled=enabled)
        monkeypatch.setenv("HUB_DATABASE_URL", env.db_url)
        monkeypatch.setenv("HUB_SSO__SP_PRIVATE_KEY_FILE", str(gar_keys["hub_sp_key"]))
        hub = GarHub(env, base, idp, sp, educonnect=pupils_idp)
        hub.servers = [serve(sp.app, sp_port), serve(idp.app, idp_port)]
        if pupils_idp:
            hub.servers.append(serve(pupils_idp.app, pupils_idp.port))
        started.extend(hub.servers)
        hub.servers.append(serve(create_app(load_settings(env.config)), hub_port))
        started.append(hub.servers[-1])
        return hub

    yield build
    for server in started:
        server.shutdown()


def _staff(hub: GarHub, jointure: str) -> None:
    hub.idp.users[jointure] = {"ENTPersonJointure": [jointure]}


def _form(page: str) -> tuple[str, dict]:
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    return action, {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', page)}


def _follow(browser: httpx.Client, response: httpx.Response, stop: str) -> httpx.Response:
    while response.status_code in (301, 302, 303) and not response.headers["location"].startswith(stop):
        response = browser.get(httpx.URL(str(response.url)).join(response.headers["location"]))
    return response


def gar_login(
    browser: httpx.Client,
    hub: GarHub,
    username: str,
    binding: str = "redirect",
    sp: GarSp | None = None,
    force: bool = False,
    idp: AcademieIdp | None = None,
    profile: str | None = None,
):
    """From GAR's login link to its ACS, logging in at the académie's IdP if the hub asks for it. Returns the hub's
    last page and the SP's verdict (None when the hub did not answer the SP). With two IdPs, ``profile`` is the
    choice made on the hub's discovery page."""
    sp, idp = sp or hub.sp, idp or hub.idp
    response = browser.get(f"{sp.url}/login?binding={binding}" + ("&force=1" if force else ""))
    if binding == "post":
        action, fields = _form(response.text)
        response = browser.post(action, data=fields)
    response = _follow(browser, response, idp.url)
    if response.status_code == 200 and 'id="profile-' in response.text:  # the discovery page: who are you?
        next_url = html.unescape(re.search(r'name="next" value="([^"]*)"', response.text).group(1))
        response = browser.get(f"{hub.base}/sso/login", params={"next": next_url, "profile": profile})
        response = _follow(browser, response, idp.url)
    if response.status_code == 302:  # no session at the hub: the IdP's login page
        form = browser.get(response.headers["location"])
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', form.text)}
        answer = browser.post(f"{idp.url}/sso", data={**fields, "username": username})
        assert answer.status_code == 200, answer.text
        response = _follow(browser, browser.post(idp.last_post["action"], data=idp.last_post["data"]), "-")
    if 'id="auto"' not in response.text:
        return response, None
    action, fields = _form(response.text)
    assert action == f"{sp.url}/acs"
    return response, browser.post(action, data=fields).json()


def _feed_ids(hub: GarHub, out: Path, file: str = "Enseignant") -> dict[tuple[str, str], tuple[str, set]]:
    """(last name, first name) -> (GARPersonIdentifiant, {(UAI, profile)}) of everyone in the exported 2D files
    ``file`` (Enseignant or Eleve)."""
    hub.env.run("gar", "export", "--out", str(out))
    found = {}
    for path in out.glob(f"*_2D_{file}_*.xml"):
        for entry in etree.parse(path).getroot().iterfind(f"men:GAR{file}", NS):
            name = (
                entry.findtext("men:GARPersonNom", namespaces=NS),
                entry.findtext("men:GARPersonPrenom", namespaces=NS),
            )
            profiles = {
                (p.findtext("men:GARStructureUAI", namespaces=NS), p.findtext("men:GARPersonProfil", namespaces=NS))
                for p in entry.iterfind("men:GARPersonProfils", NS)
            }
            found[name] = (entry.findtext("men:GARPersonIdentifiant", namespaces=NS), profiles)
    return found


@pytest.mark.slow
def test_gar_gets_a_signed_assertion_whose_id_is_the_roster_feeds(make_gar, tmp_path):
    hub = make_gar()
    _staff(hub, TEACHER)
    with httpx.Client(timeout=20) as browser:
        _, verdict = gar_login(browser, hub, TEACHER)
        assert verdict["errors"] == [] and verdict["authenticated"], verdict["reason"]
        # python3-saml (strict) checked the signatures and the audience; the XML says how it was signed
        document = etree.fromstring(hub.sp.last_response)
        assertion = document.find("saml:Assertion", NS)
        for signed in (document, assertion):
            method = signed.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS)
            assert method.get("Algorithm") == RSA_SHA256
        assert assertion.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=NS) == (
            hub.sp.entity_id
        )
        attributes = verdict["attributes"]
        assert attributes["idEnt"] == ["ENTTEST"]
        assert attributes["GARStructureUAI"] == [COLLEGE] and attributes["GARPersonProfil"] == ["National_ens"]
        assert verdict["name_id"] == attributes["GARPersonIdentifiant"][0] and verdict["relay_state"] == "gar-state"
        assert b"jnt:" not in hub.sp.last_response and TEACHER.encode() not in hub.sp.last_response  # opaque

        # the same browser again, by HTTP-POST: the broker's session answers, no second login upstream
        seen = hub.idp.requests_seen
        _, again = gar_login(browser, hub, TEACHER, binding="post")
        assert again["errors"] == [] and again["attributes"] == attributes and hub.idp.requests_seen == seen

    teacher = hub.env.rows("select last_name, first_name from person where jointure = :j", j=TEACHER)[0]
    gar_id, profiles = _feed_ids(hub, tmp_path / "export")[(teacher.last_name, teacher.first_name)]
    assert attributes["GARPersonIdentifiant"] == [gar_id]
    assert profiles == {(COLLEGE, "National_ens")}
    assert len(hub.env.rows("select * from login_event where client_id = 'gar'")) == 2


@pytest.mark.slow
def test_a_pupil_reaches_gar_through_educonnect_and_a_parent_is_refused(make_gar, tmp_path):
    hub = make_gar(educonnect=True)
    pupil = hub.env.rows(  # one whose names are theirs alone, to find them in the files
        "select * from person p where kind = 'eleve' and uai = :u and (select count(*) from person q where "
        "q.last_name = p.last_name and q.first_name = p.first_name) = 1 order by person_key limit 1",
        u=COLLEGE,
    )[0]
    hub.educonnect.users["pupil"] = {FR_EDUCT_ID: ["e" * 96], AFFILIATION: ["eleve2d"], "FrEduCtEleveINE": [pupil.ine]}
    with httpx.Client(timeout=20) as browser:
        _, verdict = gar_login(browser, hub, "pupil", idp=hub.educonnect, profile="eleve")
    assert verdict["errors"] == [] and verdict["authenticated"], verdict["reason"]
    attributes = verdict["attributes"]
    assert attributes["GARStructureUAI"] == [COLLEGE] and attributes["GARPersonProfil"] == ["National_elv"]
    assert pupil.ine.encode() not in hub.sp.last_response
    gar_id, profiles = _feed_ids(hub, tmp_path / "export", "Eleve")[(pupil.last_name, pupil.first_name)]
    assert attributes["GARPersonIdentifiant"] == [gar_id] and profiles == {(COLLEGE, "National_elv")}

    parent = hub.env.rows(
        "select p.* from person p join guardianship g on g.parent_id = p.id where g.pupil_id = :i", i=pupil.id
    )[0]
    hub.educonnect.users["parent"] = {
        FR_EDUCT_ID: ["f" * 96],
        AFFILIATION: ["resp2d"],
        "FrEduVecteur": [f"2|{parent.last_name}|{parent.first_name}|{pupil.ine}|{pupil.uai}"],
        "urn:oid:2.5.4.4": [parent.last_name],
        "urn:oid:2.5.4.42": [parent.first_name],
    }
    with httpx.Client(timeout=20) as browser:
        page, verdict = gar_login(browser, hub, "parent", idp=hub.educonnect, profile="parent")
    assert verdict is None and page.status_code == 403
    assert "les comptes de parents n'y ont pas accès" in html.unescape(page.text)
    [(record, _)] = hub.journal("out_of_scope")
    assert record == f"person {parent.person_key}"


def test_a_person_gar_does_not_serve_gets_a_refusal_page_and_a_journaled_event(make_gar):
    hub = make_gar(uais=[LYCEE])
    _staff(hub, TEACHER)
    with httpx.Client(timeout=20) as browser:
        page, verdict = gar_login(browser, hub, TEACHER)
    assert verdict is None and hub.sp.last_response is None
    assert page.status_code == 403
    text = html.unescape(page.text)
    assert "Connexion refusée" in text and f"votre établissement ({COLLEGE}) n'y accède pas par l'ENT" in text
    [(record, reason)] = hub.journal("out_of_scope")
    assert record == f"person jnt:{TEACHER}" and COLLEGE in reason
    assert not hub.env.rows("select * from login_event where client_id = 'gar'")


def test_an_authn_request_from_an_sp_that_is_not_gar_is_refused(make_gar, gar_keys):
    hub = make_gar(metadata_file=True)
    other = GarSp(free_port(), gar_keys["other_sp_key"], gar_keys["other_sp_cert"], f"{hub.base}/gar/idp/metadata")
    hub.servers.append(serve(other.app, other.port))
    _staff(hub, HEAD)
    with httpx.Client(timeout=20) as browser:
        page, verdict = gar_login(browser, hub, HEAD, sp=other)
    assert verdict is None and hub.idp.requests_seen == 0  # refused before any login
    assert page.status_code == 403 and f"le service {other.entity_id} n'est pas le GAR" in html.unescape(page.text)
    [(record, _)] = hub.journal("unknown_sp")
    assert record.startswith("AuthnRequest ") and record.endswith(f"from {other.entity_id}")
    hub.servers[-1].shutdown()


@pytest.mark.slow
def test_an_unsigned_authn_request_is_refused_and_a_forced_one_asks_the_credentials_again(make_gar, gar_keys):
    hub = make_gar()
    _staff(hub, HEAD)
    metadata = httpx.get(f"{hub.base}/gar/idp/metadata").text
    cert = gar_keys["gar_idp_cert"].read_text()  # the file of idp_cert_file signs the metadata
    assert OneLogin_Saml2_Utils.validate_metadata_sign(metadata, cert, raise_exceptions=True)
    with httpx.Client(timeout=20) as browser:
        _, verdict = gar_login(browser, hub, HEAD, binding="post")
        assert verdict["errors"] == [] and verdict["attributes"]["GARPersonProfil"] == ["National_dir"]
        hub.sp.sign_requests = False
        for binding in ("redirect", "post"):
            page, verdict = gar_login(browser, hub, HEAD, binding=binding)
            assert page.status_code == 400 and verdict is None
        assert len(hub.journal("invalid_request")) == 2
        hub.sp.sign_requests = True
        seen = hub.idp.requests_seen  # ForceAuthn: back to the académie's IdP, whatever the session
        _, verdict = gar_login(browser, hub, HEAD, force=True)
        assert verdict["errors"] == [] and hub.idp.requests_seen == seen + 1
    with httpx.Client(timeout=20) as browser:  # IsPassive without a session: a signed NoPassive answer, no login
        page = _follow(browser, browser.get(f"{hub.sp.url}/login?passive=1"), "-")
        action, fields = _form(page.text)
        verdict = browser.post(action, data=fields).json()
        assert not verdict["authenticated"] and "no session at the ENT" in verdict["reason"]
        status = etree.fromstring(hub.sp.last_response).find("samlp:Status/samlp:StatusCode/samlp:StatusCode", NS)
        assert status.get("Value") == "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
        assert hub.idp.requests_seen == seen + 1


def test_the_idp_needs_the_sso_broker(tmp_path, gar_keys):
    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    gar = {
        "id_ent": "ENTTEST",
        "idp_cert_file": str(gar_keys["gar_idp_cert"]),
        "idp_key_file": str(gar_keys["gar_idp_key"]),
        "idp_sp_metadata_url": "https://gar.test/metadata",
    }
    env.write_config(
        "[plugins.gar]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in gar.items()), enabled=("aaf", "gar")
    )
    with pytest.raises(SettingsError, match=r"needs the SSO broker \(\[sso\] enabled = true\)"):
        create_app(load_settings(env.config))
    with pytest.raises(ValidationError, match="set one of idp_sp_metadata_file and idp_sp_metadata_url"):
        Settings(id_ent="ENTTEST", idp_cert_file=gar_keys["gar_idp_cert"], idp_key_file=gar_keys["gar_idp_key"])


def _settings(**values) -> Settings:
    return Settings(id_ent="ENTTEST", **values)


@pytest.mark.parametrize(
    ("kind", "attached", "functions", "taught", "settings", "expected"),
    [
        ("eleve", COLLEGE, [], set(), {}, {COLLEGE: ["National_elv"]}),
        ("eleve", "0999999Z", [], set(), {}, {}),  # an establishment GAR does not serve
        ("parent", None, [], set(), {}, {}),
        ("enseignant", COLLEGE, [], set(), {}, {COLLEGE: ["National_ens"]}),  # a teacher without a function
        (
            "enseignant",
            COLLEGE,
            [(COLLEGE, "ENS"), (LYCEE, "DOC")],
            set(),
            {},
            {COLLEGE: ["National_ens"], LYCEE: ["National_doc"]},
        ),
        ("personnel", COLLEGE, [(COLLEGE, "DIR")], set(), {}, {COLLEGE: ["National_dir"]}),
        ("personnel", COLLEGE, [(COLLEGE, "XYZ")], set(), {}, {}),  # a function without a GAR profile
        ("personnel", COLLEGE, [(COLLEGE, "XYZ")], set(), {"resp_aff_functions": ["XYZ"]}, {COLLEGE: []}),
        ("personnel", None, [], set(), {"resp_aff": {LYCEE: ["jnt:1"]}}, {LYCEE: []}),  # named RespAff
        ("enseignant", None, [], {LYCEE}, {}, {LYCEE: ["National_ens"]}),  # teaches there
    ],
)
def test_profiles_follow_the_roster_feeds_rules(kind, attached, functions, taught, settings, expected):
    served = {COLLEGE, LYCEE}
    assert profiles_by_uai(kind, attached, functions, taught, "jnt:1", served, _settings(**settings)) == expected
