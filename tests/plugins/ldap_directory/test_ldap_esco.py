"""Directories in GIP-RECIA's ESCO schema (the real schema files in esco_schema/): the ``esco`` preset and
the jointure rule, read by the reader and synced beside the AAF."""

from __future__ import annotations

import time

import pytest
from ldaptest import ESCO_SETTINGS, ESCO_SOURCE, SCHOOL_YEAR, make_ldap_hub
from pydantic import SecretStr, ValidationError
from test_ldap_reader import described

from hub.model import Function, Guardianship, Person, PersonKind, Rejected
from plugins.aaf.hookimpl import hub_write_demo as write_aaf_demo
from plugins.ldap_directory.hookimpl import Settings, hub_read_directory
from plugins.ldap_directory.ldif import EscoLayout
from plugins.ldap_directory.presets import jointure_key

SOURCES = [ESCO_SOURCE, "MENESR"]


def esco_settings(server, **changes) -> Settings:
    values = dict(
        url=server.url, bind_dn=server.reader_dn, bind_password=SecretStr(server.reader_password),
        base_dn=server.suffix, school_year=SCHOOL_YEAR, page_size=50, timeout_seconds=5, preset="esco",
        jointure_sources=SOURCES,
    )  # fmt: skip
    return Settings(**{**values, **changes})


def read_all(settings, since=None) -> list:
    return list(hub_read_directory(settings=settings, since=since, uai=None).items)


def person_dn(server, jointure: str) -> str:
    return f"uid={EscoLayout.uid(jointure)},ou=people,{server.suffix}"


def pupil_with_two_parents(academie) -> Person:
    return next(p for p in academie.persons_of(PersonKind.ELEVE) if len(p.guardians) == 2)


# --- rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "sources", "key"), [
    (["AC-RENNES$4058762"], ["AC-RENNES"], "4058762"),
    (["ENT$F1700ivg", "AC-RENNES$4058762"], ["AC-RENNES", "MENESR"], "4058762"),
    (["MENESR$123", "AC-RENNES$456"], ["AC-RENNES", "MENESR"], "456"),  # the order of the list decides
    (["MENESR$123", "AC-RENNES$456"], ["MENESR", "AC-RENNES"], "123"),
    (["ac-rennes$789"], ["AC-RENNES"], "789"),  # source ids compare without case
    (["ENT$F1700ivg"], ["AC-RENNES", "MENESR"], ""),  # a manual entry only: no key
    (["AC-RENNES$"], ["AC-RENNES"], ""),
    (["40000001"], [], "40000001"),  # no rule: the value as it is (sdet)
    ([], ["AC-RENNES"], ""),
])  # fmt: skip
def test_the_jointure_rule_keeps_the_first_listed_source(values, sources, key):
    assert jointure_key(values, sources) == key


def test_presets_set_names_and_filters_under_the_settings():
    base = dict(url="ldap://x", base_dn="dc=fr")
    sdet = Settings(**base)
    assert (sdet.preset, sdet.people_filter, sdet.structures_filter) == (
        "sdet", "(objectClass=ENTPerson)", "(objectClass=ENTStructure)"
    )  # fmt: skip
    assert sdet.attributes["HubZone"] == "HubZone" and sdet.jointure_sources == []
    esco = Settings(**base, preset="esco", jointure_sources=["AC-RENNES", "MENESR"])
    assert esco.structures_filter == "(objectClass=ENTEtablissement)" and esco.attributes["HubZone"] == ""
    tuned = Settings(
        **base, preset="esco", jointure_sources=["AC-RENNES"], structures_filter="(objectClass=ENTStructure)",
        attributes={"mail": "ENTPersonMailDiffusion"},
    )  # fmt: skip
    assert tuned.structures_filter == "(objectClass=ENTStructure)"
    assert tuned.attributes["mail"] == "ENTPersonMailDiffusion" and tuned.attributes["HubSecteurCollege"] == ""
    for bad, message in [
        (dict(preset="esco"), "preset 'esco' needs jointure_sources"),
        (dict(preset="ldif"), "Input should be 'sdet' or 'esco'"),
        (dict(jointure_sources=["AC$RENNES"]), "without '\\$'"),
        (dict(jointure_sources=[" "]), "non-empty name"),
    ]:
        with pytest.raises(ValidationError, match=message):
            Settings(**base, **bad)


# --- against an ESCO slapd --------------------------------------------------------------


def test_an_esco_directory_reads_with_the_aaf_keys(esco_slapd, academie, client):
    """Prefixed, multi-valued jointures cut to the AAF key; parents named by uid and by DN resolved to
    theirs; structure DNs to UAIs; ENTAuxEnsClasses beside the subjects; functions read."""
    items = read_all(esco_settings(esco_slapd, client=client))
    assert not [i for i in items if isinstance(i, Rejected)]
    people = {p.jointure: p for p in items if isinstance(p, Person)}
    assert set(people) == {p.jointure for p in academie.persons()}
    assert all(p.digest() == people[p.jointure].digest() for p in described(academie))  # guardians included
    pupil = pupil_with_two_parents(academie)
    links = esco_slapd.connection()
    links.search(person_dn(esco_slapd, pupil.jointure), "(objectClass=*)", attributes=["ENTElevePersRelEleve"])
    first, second = sorted(links.response[0]["attributes"]["ENTElevePersRelEleve"], key=len)
    assert "=" not in first.split("$")[0] and second.startswith("uid=")  # one by uid, one by DN
    assert people[pupil.jointure].guardians == pupil.guardians
    teacher = next(p for p in described(academie) if p.kind == PersonKind.ENSEIGNANT and p.functions[0].discipline)
    assert people[teacher.jointure].functions == (
        Function(teacher.uai, "ENS", "ENSEIGNEMENT", teacher.functions[0].discipline),
    )
    assert any(a.principal for a in people[teacher.jointure].assignments) == any(
        a.principal for a in teacher.assignments
    )
    assert {e.uai for e in items if not isinstance(e, Person)} == {e.uai for e in academie.establishments}


def test_jointure_sources_choose_the_key_and_others_are_rejected(changing_esco_slapd):
    conn = changing_esco_slapd.connection()
    people = {  # uid -> ENTPersonJointure values
        "Fboth": ["ENT$Fboth", "MENESR$m-1", f"{ESCO_SOURCE}$48000001"],
        "Fmenesr": ["MENESR$48000002"],
        "Fmanual": ["ENT$Fmanual"],
    }
    for uid, jointures in people.items():
        conn.add(
            f"uid={uid},ou=people,{changing_esco_slapd.suffix}",
            ["inetOrgPerson", "ENTPerson"],
            {"uid": uid, "cn": uid, "sn": "Nom", "givenName": "Prénom", "ENTPersonLogin": uid,
             "ENTPersonJointure": jointures, "ENTPersonProfils": "National_TUT"},
        )  # fmt: skip
    items = read_all(esco_settings(changing_esco_slapd))
    read = {p.source_ref.split(",")[0]: p.jointure for p in items if isinstance(p, Person)}
    assert read["uid=Fboth"] == "48000001" and read["uid=Fmenesr"] == "48000002" and "uid=Fmanual" not in read
    [rejected] = [i for i in items if isinstance(i, Rejected)]
    assert rejected.source_ref.startswith("uid=Fmanual,") and rejected.reason == (
        f"no ENTPersonJointure from {ESCO_SOURCE} or MENESR (found ENT$Fmanual); "
        "plugins.ldap.jointure_sources lists the sources whose keys are kept"
    )


def test_unknown_parent_references_are_left_for_the_core(changing_esco_slapd, academie):
    """A uid or DN no parent has: the link keeps the reference as its key (the core reports that guardian as
    not known); a known DN written in another case and spacing is still found."""
    pupil = pupil_with_two_parents(academie)
    parent = pupil.guardians[0].parent_key.removeprefix("jnt:")
    known = person_dn(changing_esco_slapd, parent).upper().replace(",", ", ")
    unknown_dn = f"uid=Fnobody,ou=people,{changing_esco_slapd.suffix}"
    changing_esco_slapd.connection().modify(
        person_dn(changing_esco_slapd, pupil.jointure),
        {"ENTElevePersRelEleve": [("MODIFY_REPLACE", [f"{known}$1$1$1$1$0", "Fghost$2$0$1$0$0",
                                                      f"{unknown_dn}$90$0$0$1$0"])]},
    )  # fmt: skip
    items = read_all(esco_settings(changing_esco_slapd))
    [read] = [p for p in items if isinstance(p, Person) and p.jointure == pupil.jointure]
    assert read.guardians == (
        Guardianship(f"jnt:{parent}", 1), Guardianship("jnt:Fghost", 2), Guardianship(f"jnt:{unknown_dn}", 0)
    )  # fmt: skip


def test_an_esco_incremental_read_over_several_pages(changing_esco_slapd, academie, client):
    """Page size 2, changed pupils over several pages: their structure DNs and parents' uids and DNs were
    learned before the people search opened."""
    pupils = [p for p in academie.persons_of(PersonKind.ELEVE) if len(p.guardians) == 2][:5]
    time.sleep(1.05)
    since = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
    conn = changing_esco_slapd.connection()
    for pupil in pupils:
        conn.modify(person_dn(changing_esco_slapd, pupil.jointure), {"sn": [("MODIFY_REPLACE", ["Changé"])]})
    items = read_all(esco_settings(changing_esco_slapd, page_size=2, client=client), since=since)
    assert not [i for i in items if isinstance(i, Rejected)]
    read = {p.jointure: p for p in items if isinstance(p, Person)}
    assert set(read) == {p.jointure for p in pupils}
    for pupil in pupils:
        assert read[pupil.jointure].guardians == pupil.guardians and read[pupil.jointure].enrollment == pupil.enrollment


# --- synced beside the AAF --------------------------------------------------------------


def test_the_same_academie_from_aaf_and_esco_is_one_person_each(tmp_path, db_url, esco_slapd, academie):
    """AAF files and an ESCO directory of the same académie, synced into one hub: no one twice."""
    hub = make_ldap_hub(tmp_path, db_url, esco_slapd, extra=ESCO_SETTINGS, enabled=("aaf", "ldap"))
    write_aaf_demo(settings=None, academie=academie, directory=hub.aaf_dir)
    hub.run("sync", "aaf")
    total = sum(academie.counts().values())
    links = hub.scalar("select count(*) from guardianship")
    assert hub.scalar("select count(*) from person") == total and links > 0
    hub.run("sync", "ldap")
    assert hub.rows("select status from run order by id desc limit 1")[0].status == "applied"
    assert hub.scalar("select count(*) from person") == total
    assert hub.scalar("select count(*) from person where person_key like '%$%'") == 0
    assert hub.scalar("select count(*) from guardianship") == links
    assert hub.scalar("select count(*) from run_event where reason like '%is not known%'") == 0


def test_an_unknown_parent_is_a_warning_not_a_crash(tmp_path, sqlite_url, changing_esco_slapd, academie):
    pupil = pupil_with_two_parents(academie)
    changing_esco_slapd.connection().modify(
        person_dn(changing_esco_slapd, pupil.jointure),
        {"ENTElevePersRelEleve": [("MODIFY_REPLACE", ["Fghost$1$1$1$1$0"])]},
    )
    hub = make_ldap_hub(tmp_path, sqlite_url, changing_esco_slapd, extra=ESCO_SETTINGS)
    hub.run("sync", "ldap")
    dn = person_dn(changing_esco_slapd, pupil.jointure)
    [(reason,)] = hub.rows("select reason from run_event where record = :dn", dn=dn)
    assert reason == "guardian jnt:Fghost is not known; the link is left out"


def test_functions_and_principals_are_stored(tmp_path, sqlite_url, changing_esco_slapd, academie):
    """Needs the core's person_function table and teaching_assignment.principal."""
    teacher = next(p for p in academie.persons_of(PersonKind.ENSEIGNANT) if p.assignments)
    division = teacher.assignments[0].group_code
    structure = f"ENTStructureSIREN=19{teacher.uai[:7]}00018,ou=structures,{changing_esco_slapd.suffix}"
    changing_esco_slapd.connection().modify(
        person_dn(changing_esco_slapd, teacher.jointure),
        {"ENTAuxEnsClassesPrincipal": [("MODIFY_REPLACE", [f"{structure}${division}"])]},
    )
    hub = make_ldap_hub(tmp_path, sqlite_url, changing_esco_slapd, extra=ESCO_SETTINGS)
    hub.run("sync", "ldap")
    staff = sum(n for kind, n in academie.counts().items() if kind in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL))
    assert hub.scalar("select count(distinct person_id) from person_function") == staff
    functions = "select f.uai, f.code, f.label from person_function f join person p on p.id = f.person_id "
    assert hub.rows(functions + "where p.jointure = :j", j=teacher.jointure) == [(teacher.uai, "ENS", "ENSEIGNEMENT")]
    principals = (
        "select t.uai, t.group_code from teaching_assignment t join person p on p.id = t.person_id "
        "where t.principal = :yes and p.jointure = :j"
    )
    assert hub.rows(principals, yes=True, j=teacher.jointure) == [(teacher.uai, division)]
