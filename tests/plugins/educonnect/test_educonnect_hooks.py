"""The plugin's hooks called as the broker calls them, against the demo académie's store (no HTTP)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from werkzeug.test import EnvironBuilder

from hub.hookspecs import AccountLink, LinkRefused, UpstreamIdentity
from hub.settings import SamlIdpSettings
from hub.sso.people import PeopleLookup
from plugins.educonnect import hookimpl

EDUCONNECT = SamlIdpSettings(metadata_file="x.xml", plugin="educonnect", profiles=["eleve", "parent"])
AGENTS = SamlIdpSettings(metadata_file="y.xml", profiles=["personnel"])
EDUCT = "urn:oid:1.3.6.1.4.1.20326.10.999.1."


@pytest.fixture
def people(demo_db):
    engine = create_engine(f"sqlite:///{demo_db}")
    yield PeopleLookup(engine)
    engine.dispose()


def _row(people, sql: str):
    with people.engine.connect() as conn:
        return conn.execute(text(sql)).first()


def _identity(attributes: dict, settings=EDUCONNECT) -> UpstreamIdentity:
    return UpstreamIdentity("educonnect", settings, "transient-1", attributes)


def test_a_pupil_by_ine(people):
    pupil = _row(people, "select * from person where kind = 'eleve' order by id limit 1")
    answer = hookimpl.hub_link_account(identity=_identity(
        {f"{EDUCT}57": ["x" * 96], f"{EDUCT}7": ["eleve1d"], "FrEduCtEleveINE": [pupil.ine.lower()]}), people=people)
    assert answer == AccountLink(pupil.person_key, "x" * 96, "ine")


@pytest.mark.parametrize("attributes, reason", [
    ({}, "FrEduCtId"),
    ({f"{EDUCT}57": ["x"], f"{EDUCT}7": ["enseignant"]}, "profil EduConnect inconnu"),
    ({f"{EDUCT}57": ["x"], f"{EDUCT}7": ["eleve2d"]}, "ni l'INE"),
    ({f"{EDUCT}57": ["x"], f"{EDUCT}7": ["resp2d"], "FrEduVecteur": ["pas un vecteur"]}, "aucun enfant lisible"),
])
def test_what_cannot_be_linked_is_refused_with_its_reason(people, attributes, reason):
    answer = hookimpl.hub_link_account(identity=_identity(attributes), people=people)
    assert isinstance(answer, LinkRefused) and reason in answer.reason


def test_other_idps_are_not_the_plugins_business(people):
    assert hookimpl.hub_link_account(identity=_identity({}, AGENTS), people=people) is None


@pytest.mark.parametrize("query, expected", [
    ("profile=eleve", "educonnect"), ("profile=parent", "educonnect"), ("idp_hint=educonnect", "educonnect"),
    ("profile=personnel", None), ("", None)])
def test_pupils_and_parents_are_sent_to_educonnect(query, expected):
    from flask import Request

    request = Request(EnvironBuilder(path="/sso/login", query_string=query).get_environ())
    assert hookimpl.hub_select_idp(request=request, idps={"agents": AGENTS, "educonnect": EDUCONNECT},
                                   client=None) == expected
