"""`hub sync ldap` end to end against a private slapd holding the demo académie."""

from __future__ import annotations

import sys
import time
from collections import Counter

from hubtest import HubEnv
from ldaptest import SCHOOL_YEAR, make_ldap_hub

from hub.model import PersonKind
from plugins.aaf.hookimpl import hub_write_demo as write_aaf_demo

NEW_PARENT = "49999999"


def plan_counts(env) -> dict:
    return {k: v for k, v in env.counts().items() if k.startswith(("person.", "establishment.")) and v}


def last_run(env):
    return env.rows("select status, complete, records_read, message from run order by id desc limit 1")[0]


def person_dn(server, jointure: str) -> str:
    return f"uid={jointure},ou=people,{server.suffix}"


def first_of(academie, kind: PersonKind):
    return next(p for p in academie.persons_of(kind) if p.uai)


def test_full_sync_lands_the_academie(ldap_hub, academie):
    ldap_hub.run("sync", "ldap")
    expected = Counter({str(kind): n for kind, n in academie.counts().items()})
    stored = Counter(dict(ldap_hub.rows("select kind, count(*) from person where status = 'active' group by kind")))
    assert stored == expected
    assert ldap_hub.scalar("select count(*) from establishment") == len(academie.establishments)
    assert ldap_hub.scalar("select count(*) from enrollment") == expected["eleve"]
    pupil = first_of(academie, PersonKind.ELEVE)
    row = ldap_hub.rows(
        "select last_name, first_name, uai, jointure, birth_date from person where person_key = :k",
        k=f"ine:{pupil.ine}",
    )[0]
    assert (row.last_name, row.first_name, row.uai, row.jointure) == (
        pupil.last_name,
        pupil.first_name,
        pupil.uai,
        pupil.jointure,
    )
    assert str(row.birth_date) == str(pupil.birth_date)
    names = {e.uai: e.name for e in academie.establishments}
    assert dict(ldap_hub.rows("select uai, name from establishment")) == names  # accents survived base64
    run = last_run(ldap_hub)
    assert run.status == "applied" and run.complete and run.records_read == sum(expected.values()) + len(names)
    [(cursor,)] = ldap_hub.rows("select cursor from source_state where source = 'ldap'")
    assert len(cursor) == 15 and cursor.endswith("Z")


def test_ldap_and_aaf_give_the_same_records(ldap_hub, academie, tmp_path):
    """The same académie through both sources: every stored person and establishment is equal."""
    aaf = HubEnv(tmp_path / "aaf-hub", f"sqlite:///{tmp_path / 'aaf.db'}")
    aaf.root.mkdir()
    aaf.write_config()
    aaf.run("db", "upgrade")
    write_aaf_demo(settings=None, academie=academie, directory=aaf.aaf_dir)
    aaf.run("sync", "aaf")
    ldap_hub.run("sync", "ldap")
    people = "select person_key, kind, digest from person order by person_key"
    assert ldap_hub.rows(people) == aaf.rows(people)
    places = "select uai, digest from establishment order by uai"
    assert ldap_hub.rows(places) == aaf.rows(places)
    links = "select count(*) from guardianship"
    assert ldap_hub.scalar(links) == aaf.scalar(links) > 0


def test_a_second_read_plans_nothing(ldap_hub):
    ldap_hub.run("sync", "ldap")
    before = ldap_hub.stored_state()
    ldap_hub.run("sync", "ldap", "--full")
    assert plan_counts(ldap_hub) == {}
    assert last_run(ldap_hub).complete
    ldap_hub.run("sync", "ldap")  # incremental: nothing changed since the cursor
    assert plan_counts(ldap_hub) == {}
    assert not last_run(ldap_hub).complete
    assert ldap_hub.stored_state() == before


def test_incremental_read_takes_only_the_changes(ldap_hub, changing_slapd, academie):
    ldap_hub.run("sync", "ldap")
    [(cursor,)] = ldap_hub.rows("select cursor from source_state")
    time.sleep(1.1)  # modifyTimestamp has a one-second resolution
    conn = changing_slapd.connection()
    pupil, teacher = first_of(academie, PersonKind.ELEVE), first_of(academie, PersonKind.ENSEIGNANT)
    parent = next(academie.persons_of(PersonKind.PARENT))
    conn.modify(person_dn(changing_slapd, pupil.jointure), {"sn": [("MODIFY_REPLACE", ["Nouveau-Nom"])]})
    conn.modify(person_dn(changing_slapd, teacher.jointure), {"mail": [("MODIFY_REPLACE", ["prof@ac-test.fr"])]})
    conn.modify(person_dn(changing_slapd, parent.jointure), {"givenName": [("MODIFY_REPLACE", ["Éloïse"])]})
    school = academie.establishments[0].uai
    conn.modify(
        f"ENTStructureUAI={school},ou=structures,{changing_slapd.suffix}",
        {"ENTStructureNomCourant": [("MODIFY_REPLACE", ["Collège Renommé"])]},
    )
    conn.add(
        person_dn(changing_slapd, NEW_PARENT),
        ["inetOrgPerson", "ENTPerson"],
        {
            "uid": NEW_PARENT,
            "cn": "Jeanne Nouvelle",
            "sn": "Nouvelle",
            "givenName": "Jeanne",
            "ENTPersonJointure": NEW_PARENT,
            "ENTPersonProfils": "National_TUT",
        },
    )
    ldap_hub.run("sync", "ldap")
    assert plan_counts(ldap_hub) == {"person.update": 3, "person.create": 1, "establishment.update": 1}
    assert ldap_hub.scalar("select name from establishment where uai = :u", u=school) == "Collège Renommé"
    assert not last_run(ldap_hub).complete
    [(newer,)] = ldap_hub.rows("select cursor from source_state")
    assert newer > cursor
    assert ldap_hub.scalar("select first_name from person where jointure = :j", j=parent.jointure) == "Éloïse"
    assert ldap_hub.scalar("select status from person where person_key = :k", k=f"jnt:{NEW_PARENT}") == "active"

    time.sleep(1.1)  # the next read starts after the boundary second: it reads only what changed since
    conn.modify(person_dn(changing_slapd, teacher.jointure), {"sn": [("MODIFY_REPLACE", ["Autre"])]})
    ldap_hub.run("sync", "ldap")
    assert plan_counts(ldap_hub) == {"person.update": 1}
    assert last_run(ldap_hub).records_read <= 5  # the boundary second's entries, not the directory


def test_deletions_show_in_a_full_read_only(ldap_hub, changing_slapd, academie):
    ldap_hub.run("sync", "ldap")
    pupil = first_of(academie, PersonKind.ELEVE)
    changing_slapd.connection().delete(person_dn(changing_slapd, pupil.jointure))
    ldap_hub.run("sync", "ldap")  # an incremental read cannot see a deletion
    assert "person.delete" not in plan_counts(ldap_hub)
    ldap_hub.run("sync", "ldap", "--full")
    assert plan_counts(ldap_hub) == {"person.delete": 1}
    assert (
        ldap_hub.scalar("select status from person where person_key = :k", k=f"ine:{pupil.ine}") == "pending_deletion"
    )


def test_wrong_password_is_refused_and_not_shown(slapd, tmp_path, sqlite_url):
    password = "Not-The-Password-42"
    env = make_ldap_hub(tmp_path, sqlite_url, slapd, password=password)
    result = env.run("sync", "ldap", expect=1)
    assert f"refused the bind as {slapd.reader_dn}: invalid credentials" in result.output
    assert "HUB_PLUGINS__LDAP__BIND_PASSWORD" in result.output and "nothing was applied" in result.output
    assert password not in result.output
    assert env.scalar("select count(*) from person") == 0
    status, message = env.rows("select status, message from run")[0]
    assert status == "failed" and password not in message


def test_server_down_is_a_clear_error(ldap_hub, changing_slapd):
    ldap_hub.run("sync", "ldap")
    before = ldap_hub.stored_state()
    changing_slapd.stop()
    result = ldap_hub.run("sync", "ldap", "--full", expect=1)
    assert f"cannot connect to LDAP server {changing_slapd.url} (Connection refused)" in result.output
    assert ldap_hub.stored_state() == before
    assert last_run(ldap_hub).status == "failed"


def test_size_limit_stops_the_run_and_applies_nothing(ldap_hub, changing_slapd, academie):
    ldap_hub.run("sync", "ldap")
    parent = next(academie.persons_of(PersonKind.PARENT))
    changing_slapd.connection().modify(
        person_dn(changing_slapd, parent.jointure), {"sn": [("MODIFY_REPLACE", ["Changé"])]}
    )
    before = ldap_hub.stored_state()
    changing_slapd.restart(size_limit=50)  # the reader account is limited; the page size is 100
    result = ldap_hub.run("sync", "ldap", "--full", expect=1)
    assert "stopped reading people under dc=academie,dc=fr at its size limit for cn=reader" in result.output
    assert "nothing was applied" in result.output
    assert ldap_hub.stored_state() == before  # the change read before the limit was rolled back
    assert last_run(ldap_hub).status == "failed"


def test_referral_is_refused(ldap_hub, changing_slapd):
    changing_slapd.connection().add(
        f"ou=elsewhere,ou=people,{changing_slapd.suffix}",
        ["referral", "extensibleObject"],
        {"ou": "elsewhere", "ref": "ldap://ldap.example.org/ou=people,dc=example,dc=org"},
        controls=[("2.16.840.1.113730.3.4.2", True, None)],  # ManageDsaIT: store the referral itself
    )
    result = ldap_hub.run("sync", "ldap", expect=1)
    assert "returned a referral to ldap://ldap.example.org/" in result.output
    assert ldap_hub.scalar("select count(*) from person") == 0


def test_bad_entries_are_journaled_and_the_rest_applied(ldap_hub, changing_slapd, academie):
    conn = changing_slapd.connection()
    school = next(e.uai for e in academie.establishments if e.kind == "college")
    bad = {  # jointure -> (structural class, attributes)
        "48000001": ("account", {"givenName": "Sans", "ENTPersonProfils": "National_TUT"}),  # no sn
        "48000002": (
            "inetOrgPerson",
            {
                "sn": "Ine",
                "givenName": "Faux",
                "ENTPersonProfils": "National_ELV",
                "ENTEleveINE": "12345678901",
                "ENTEleveClasses": f"{school}$6A",
            },
        ),
        "48000003": ("inetOrgPerson", {"sn": "Profil", "givenName": "Inconnu", "ENTPersonProfils": "National_XYZ"}),
        "48000004": (
            "inetOrgPerson",
            {
                "sn": "Date",
                "givenName": "Fausse",
                "ENTPersonProfils": "National_TUT",
                "ENTPersonDateNaissance": "31/02/2010",
            },
        ),
    }
    for jointure, (structural, attributes) in bad.items():
        extra = {"cn": "x"} if structural == "inetOrgPerson" else {}
        conn.add(
            person_dn(changing_slapd, jointure),
            [structural, "ENTPerson"],
            {"uid": jointure, "ENTPersonJointure": jointure, **extra, **attributes},
        )
    ldap_hub.run("sync", "ldap")
    assert last_run(ldap_hub).status == "applied"
    assert ldap_hub.scalar("select count(*) from person") == sum(academie.counts().values())
    events = {record: reason for record, reason in ldap_hub.rows("select record, reason from run_event")}
    dn = person_dn(changing_slapd, "48000001")
    assert events[dn] == "missing mandatory attribute sn"
    assert "INE '12345678901' is not 10 letters or digits and a letter" in events[person_dn(changing_slapd, "48000002")]
    assert "unknown profile in ENTPersonProfils (National_XYZ)" in events[person_dn(changing_slapd, "48000003")]
    assert "'31/02/2010' is not a date" in events[person_dn(changing_slapd, "48000004")]
    run_id = ldap_hub.scalar("select max(id) from run")
    assert dn in ldap_hub.run("journal", "show", str(run_id)).output
    keys = {key for (key,) in ldap_hub.rows("select key from run_event")}
    assert {"jnt:48000001", "jnt:48000003", "jnt:48000004"} <= keys


def test_python_ldap_missing_says_how_to_install_it(slapd, tmp_path, sqlite_url, monkeypatch):
    """client = "python-ldap" on a machine without the module: the run fails, saying what to install."""
    monkeypatch.setitem(sys.modules, "ldap", None)  # `import ldap` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "plugins.ldap_directory.python_ldap", raising=False)
    env = make_ldap_hub(tmp_path, sqlite_url, slapd, client="python-ldap")
    result = env.run("sync", "ldap", expect=1)
    assert 'plugins.ldap.client = "python-ldap" needs the python-ldap module' in result.output
    assert "pip install 'ent-hub[ldap-c]'" in result.output and "libldap-dev" in result.output
    assert env.scalar("select count(*) from person") == 0


def test_secret_in_the_file_is_refused(slapd, tmp_path, sqlite_url):
    env = make_ldap_hub(tmp_path, sqlite_url, slapd)
    env.config.write_text(env.config.read_text() + 'bind_password = "in-the-file"\n')
    result = env.run("sync", "ldap", expect=1)
    assert "secrets are not read from the file" in result.output
    assert "HUB_PLUGINS__LDAP__BIND_PASSWORD" in result.output


def test_school_year_comes_from_the_settings(ldap_hub):
    ldap_hub.run("sync", "ldap")
    assert {y for (y,) in ldap_hub.rows("select distinct school_year from enrollment")} == {SCHOOL_YEAR}


def test_a_broken_entry_keeps_the_stored_person(ldap_hub, changing_slapd, academie):
    """A full read that cannot read someone's entry journals it and does not delete them."""
    ldap_hub.run("sync", "ldap")
    pupil = first_of(academie, PersonKind.ELEVE)
    changing_slapd.connection().modify(
        person_dn(changing_slapd, pupil.jointure), {"ENTPersonDateNaissance": [("MODIFY_REPLACE", ["hier"])]}
    )
    ldap_hub.run("sync", "ldap", "--full")
    assert plan_counts(ldap_hub) == {}
    assert ldap_hub.scalar("select status from person where person_key = :k", k=f"ine:{pupil.ine}") == "active"
    [(record, key)] = ldap_hub.rows("select record, key from run_event where run_id = (select max(id) from run)")
    assert (record, key) == (person_dn(changing_slapd, pupil.jointure), f"jnt:{pupil.jointure}")
