"""EduConnect accounts become hub people through the plugin's rules, against the demo académie, over a real
SAML login: pupils by INE or vector, parents through their children, a stored link reused; no guess ever."""

from __future__ import annotations

import html

import pytest
from sso_env import saml_login

EDUCT = "urn:oid:1.3.6.1.4.1.20326.10.999.1."
FR_EDUCT_ID = f"{EDUCT}57"
AFFILIATION = f"{EDUCT}7"


@pytest.fixture
def sso(make_sso):
    return make_sso(educonnect=True)


def _login(sso, attributes: dict, start: str = "/sso/login?profile=eleve"):
    sso.educonnect.users["user"] = attributes
    with sso.browser() as browser:
        return saml_login(browser, sso, f"{sso.base}{start}", "user", idp=sso.educonnect)


def _links(sso) -> list:
    return sso.rows("select subject, person_key, how from account_link where idp = 'educonnect' order by linked_at")


def _last_refusal(sso):
    return sso.rows("select e.key, e.reason from run r join run_event e on e.run_id = r.id where r.action = 'sso' "
                    "order by e.id desc limit 1")[0]


def _family(sso):
    """A pupil with two parents in the store: (pupil row, [parent rows])."""
    pupil_id = sso.rows("select pupil_id from guardianship group by pupil_id having count(*) = 2 "
                        "order by pupil_id limit 1")[0][0]
    pupil = sso.rows("select * from person where id = :i", i=pupil_id)[0]
    parents = sso.rows("select p.* from person p join guardianship g on g.parent_id = p.id where g.pupil_id = :i "
                       "order by g.rank", i=pupil_id)
    return pupil, parents


def test_a_pupil_is_linked_by_ine_then_by_the_stored_link(sso):
    pupil = sso.person("kind = 'eleve'")
    answer = _login(sso, {FR_EDUCT_ID: ["a" * 96], AFFILIATION: ["eleve2d"], "FrEduCtEleveINE": [pupil.ine]})
    assert answer.status_code == 302, answer.text
    assert _links(sso) == [("a" * 96, pupil.person_key, "ine")]
    answer = _login(sso, {FR_EDUCT_ID: ["a" * 96], AFFILIATION: ["eleve2d"]})  # no INE: the stored link suffices
    assert answer.status_code == 302 and _links(sso) == [("a" * 96, pupil.person_key, "ine")]


def test_a_pupil_without_ine_is_linked_by_the_vector_at_their_school(sso):
    pupil = sso.person("kind = 'eleve'")
    vector = f"4|{pupil.last_name}|{pupil.first_name}|{pupil.jointure}|{pupil.uai}"
    answer = _login(sso, {FR_EDUCT_ID: ["b" * 96], AFFILIATION: ["eleve2d"], "FrEduVecteur": [vector]})
    assert answer.status_code == 302, answer.text
    assert _links(sso) == [("b" * 96, pupil.person_key, "vecteur")]


def test_an_unknown_pupil_gets_a_clear_page_and_a_journal_entry(sso):
    answer = _login(sso, {FR_EDUCT_ID: ["c" * 96], AFFILIATION: ["eleve2d"], "FrEduCtEleveINE": ["0000000000X"]})
    assert answer.status_code == 403 and "aucun élève ne correspond à ce compte EduConnect" in answer.text
    assert _last_refusal(sso).key == "no_match" and _links(sso) == []


def test_a_parent_is_linked_through_their_children_and_their_names(sso):
    pupil, (first, second) = _family(sso)
    vector = f"2|{second.last_name}|{second.first_name}|{pupil.ine}|{pupil.uai}"
    answer = _login(sso, {FR_EDUCT_ID: ["d" * 96], AFFILIATION: ["resp2d"], "FrEduVecteur": [vector],
                          "urn:oid:2.5.4.4": [second.last_name.lower()], "urn:oid:2.5.4.42": [second.first_name]},
                    start="/sso/login?profile=parent")
    assert answer.status_code == 302, answer.text
    assert _links(sso) == [("d" * 96, second.person_key, "enfants")]


def test_a_parent_whose_names_fit_no_guardian_is_refused_not_guessed(sso):
    pupil, _ = _family(sso)
    vector = f"2|INCONNU|Personne|{pupil.ine}|{pupil.uai}"
    answer = _login(sso, {FR_EDUCT_ID: ["e" * 96], AFFILIATION: ["resp2d"], "FrEduVecteur": [vector]},
                    start="/sso/login?profile=parent")
    assert answer.status_code == 403 and "aucun responsable de ces 1 enfant(s) ne porte ce nom" in answer.text
    assert _last_refusal(sso).key == "no_match" and _links(sso) == []


def test_a_parent_naming_an_unknown_child_is_refused(sso):
    _, (parent, _) = _family(sso)
    vector = f"2|{parent.last_name}|{parent.first_name}|0000000000X|0150001A"
    answer = _login(sso, {FR_EDUCT_ID: ["f" * 96], AFFILIATION: ["resp1d"], "FrEduVecteur": [vector]},
                    start="/sso/login?profile=parent")
    assert answer.status_code == 403
    assert "l'enfant 0000000000X (0150001A) n'est pas dans l'annuaire" in html.unescape(answer.text)


def test_the_discovery_page_sends_pupils_and_parents_to_educonnect_and_staff_to_the_academie(sso):
    with sso.browser() as browser:
        page = browser.get(f"{sso.base}/sso/login")
        assert page.status_code == 200 and 'id="profile-eleve"' in page.text and 'id="profile-personnel"' in page.text
        for profile, idp in (("eleve", sso.educonnect), ("parent", sso.educonnect), ("personnel", sso.idp)):
            hop = browser.get(f"{sso.base}/sso/login?profile={profile}")
            assert hop.status_code == 302
            assert browser.get(f"{sso.base}{hop.headers['location']}").headers["location"].startswith(idp.url)
        hinted = browser.get(f"{sso.base}/sso/login?idp_hint=agents")
        assert hinted.headers["location"].startswith("/saml/login/agents")


def test_an_establishment_can_send_its_users_straight_to_an_idp(make_sso):
    sso = make_sso(educonnect=True, extra='uais = ["0150001A"]\n')
    with sso.browser() as browser:
        hop = browser.get(f"{sso.base}/sso/login?uai=0150001a")
        assert hop.status_code == 302 and hop.headers["location"].startswith("/saml/login/agents")
        assert browser.get(f"{sso.base}/sso/login?uai=0999999Z").status_code == 200  # the discovery page
