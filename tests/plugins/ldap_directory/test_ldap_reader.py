"""The ldap source's reader: settings, value rules, error messages, and reads against a private slapd."""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date

import pytest
from ldap3.core import exceptions as lx
from ldaptest import require_client, require_slapd
from pydantic import SecretStr, ValidationError
from slapd import ENT_SCHEMA, Slapd

from hub.demo_roles import staff_roles
from hub.errors import SourceError
from hub.model import Establishment, Function, Guardianship, Person, PersonKind, Rejected, TeachingAssignment
from hub.sdet import guardians, person_kind
from plugins.ldap_directory.connection import source_error
from plugins.ldap_directory.hookimpl import Settings, hub_read_directory, hub_write_demo
from plugins.ldap_directory.reader import Reject, birth_date


def settings_for(server, **changes) -> Settings:
    values = dict(
        url=server.url,
        bind_dn=server.reader_dn,
        bind_password=SecretStr(server.reader_password),
        base_dn=server.suffix,
        school_year=2026,
        page_size=50,
        timeout_seconds=5,
    )
    return Settings(**{**values, **changes})


def read_all(settings, since=None) -> list:
    return list(hub_read_directory(settings=settings, since=since, uai=None).items)


# --- rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("profiles", "kind"), [
    (["National_ELV"], PersonKind.ELEVE),
    (["National_TUT"], PersonKind.PARENT),
    (["National_ENS"], PersonKind.ENSEIGNANT),
    (["national_doc"], PersonKind.ENSEIGNANT),
    (["National_DIR"], PersonKind.PERSONNEL),
    (["National_EVS"], PersonKind.PERSONNEL),
    (["National_ETA"], PersonKind.PERSONNEL),
    (["National_DIR", "National_ENS"], PersonKind.ENSEIGNANT),  # a teaching head: teaches
    (["National_TUT", "National_ETA"], PersonKind.PERSONNEL),
    (["National_1"], PersonKind.ELEVE),  # SDET v3 numbering
    (["National_3"], PersonKind.ENSEIGNANT),
    (["National_XYZ", "National_TUT"], PersonKind.PARENT),
    (["National_XYZ"], None),
    ([], None),
])  # fmt: skip
def test_profiles_give_the_kind(profiles, kind):
    assert person_kind(profiles) == kind


def test_birth_dates():
    assert birth_date("05/09/2014", "d") == date(2014, 9, 5)
    assert birth_date("2014-09-05", "d") == date(2014, 9, 5)
    assert birth_date("", "d") is None
    for bad in ("31/02/2014", "5/9/2014", "20140905", "hier"):
        with pytest.raises(Reject, match="is not a date"):
            birth_date(bad, "ENTPersonDateNaissance")


def test_guardians_rank_the_legal_ones():
    links = ["40000001$1$1$1$1$0", "40000002$2$0$1$0$0", "40000003$90$0$0$1$0", "$1$0$1$0$0"]
    assert guardians(links, []) == (
        Guardianship("jnt:40000001", 1),
        Guardianship("jnt:40000002", 2),
        Guardianship("jnt:40000003", 0),
    )
    assert guardians([], ["40000009"]) == (Guardianship("jnt:40000009", 1),)


def test_settings_defaults_and_checks():
    s = Settings(
        url="ldaps://annuaire.ac-test.fr",
        base_dn="dc=ac-test,dc=fr",
        attributes={"ENTPersonJointure": "employeeNumber"},
    )
    assert s.people_filter == "(objectClass=ENTPerson)" and s.page_size == 1000
    assert s.attributes["ENTPersonJointure"] == "employeeNumber" and s.attributes["sn"] == "sn"
    for bad, message in [
        (dict(url="http://x"), "expected ldap://host"),
        (dict(url="ldap://x:99999"), "bad port"),
        (dict(url="ldap://x/dc=fr?uid"), "holds no base DN"),
        (dict(url="ldaps://x", start_tls=True), "start_tls is for ldap://"),
        (dict(people_filter="objectClass=ENTPerson"), "not an LDAP filter"),
        (dict(people_filter="(&(a=1)(b=2)"), "not an LDAP filter"),
        (dict(attributes={"ENTPersonJointur": "x"}), "unknown attribute"),
        (dict(page_size=0), "greater than or equal to 1"),
        (dict(extra=1), "Extra inputs are not permitted"),
    ]:
        with pytest.raises(ValidationError, match=message):
            Settings(**{"url": "ldap://x", "base_dn": "dc=fr", **bad})


def test_errors_read_as_sentences_without_the_password():
    s = Settings(url="ldap://annuaire:389", base_dn="dc=fr", bind_dn="cn=hub,dc=fr", bind_password=SecretStr("s3cret"))

    def text(exc):
        return str(source_error(exc, s, "reading people under dc=fr"))

    def result(code, description, message="s3cret appears here"):
        return lx.LDAPOperationResult(
            result=code, description=description, dn="", message=message, response_type="searchResDone"
        )

    assert "refused the bind as cn=hub,dc=fr: invalid credentials" in text(result(49, "invalidCredentials"))
    assert "at its size limit for cn=hub,dc=fr" in text(result(4, "sizeLimitExceeded"))
    assert "at its time limit for cn=hub,dc=fr" in text(result(3, "timeLimitExceeded"))
    assert "administrative limit exceeded" in text(result(11, "adminLimitExceeded"))
    assert "answered busy while reading people" in text(result(51, "busy"))
    refused = lx.LDAPSocketOpenError("socket connection error while opening: [Errno 111] Connection refused")
    assert text(refused) == (
        "cannot connect to LDAP server ldap://annuaire:389 (Connection refused); is the server up and the URL right?"
    )
    assert "lost the connection" in text(lx.LDAPSessionTerminatedByServerError("session terminated by server"))
    assert "did not answer within 60 s" in text(lx.LDAPSocketReceiveError("error receiving data: timed out"))
    assert all("s3cret" not in text(result(code, "x")) for code in (1, 32, 49, 50, 51, 53, 80))


def test_a_bad_cursor_asks_for_a_full_read():
    s = Settings(url="ldap://127.0.0.1:9", base_dn="dc=fr")
    with pytest.raises(SourceError, match="run `hub sync ldap --full`"):
        hub_read_directory(settings=s, since="ENT_Delta_0001.xml", uai=None)


def test_a_bind_dn_without_password_says_which_variable_to_set():
    s = Settings(url="ldap://127.0.0.1:9", base_dn="dc=fr", bind_dn="cn=hub,dc=fr")
    with pytest.raises(
        SourceError, match="no password for the LDAP bind as cn=hub,dc=fr: set HUB_PLUGINS__LDAP__BIND_PASSWORD"
    ):
        hub_read_directory(settings=s, since=None, uai=None)


def test_a_silent_server_times_out(client):
    """A server that accepts the connection and never answers: the bind waits timeout_seconds, no more."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        accepted = []
        threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
        s = Settings(
            url=f"ldap://127.0.0.1:{port}",
            base_dn="dc=fr",
            bind_dn="cn=hub,dc=fr",
            bind_password=SecretStr("x"),
            timeout_seconds=1,
            client=client,
        )
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"did not answer within 1 s while binding as cn=hub,dc=fr"):
            hub_read_directory(settings=s, since=None, uai=None)
        assert time.monotonic() - started < 5
        for conn, _ in accepted:
            conn.close()


# --- against slapd ----------------------------------------------------------------------


def test_structures_come_first_and_everything_is_read(slapd, academie, client):
    items = read_all(settings_for(slapd, client=client))
    kinds = [type(i) for i in items]
    first_person = kinds.index(Person)
    assert set(kinds[:first_person]) == {Establishment} and set(kinds[first_person:]) == {Person}
    assert len(items) == len(academie.establishments) + sum(academie.counts().values())


def test_both_clients_read_the_same_records(changing_slapd):
    """ldap3 and python-ldap, whatever the page size, in this process or a second one: the same items
    (ldap3 yields a page's entries in another order), the same cursor, in a full read and an incremental one."""
    require_client("python-ldap")

    def read(client: str, page_size: int, since: str | None = None, second_process=None) -> tuple[list, str | None]:
        settings = settings_for(changing_slapd, client=client, page_size=page_size, second_process=second_process)
        feed = hub_read_directory(settings=settings, since=since, uai=None)
        return sorted(feed.items, key=repr), feed.cursor

    full, cursor = read("ldap3", 1000, second_process=False)
    assert len(full) > 300 and cursor
    assert read("python-ldap", 1000) == read("python-ldap", 7, second_process=False) == (full, cursor)
    assert read("ldap3", 7) == read("python-ldap", 50, second_process=True) == (full, cursor)
    time.sleep(1.05)  # past the second the seed was loaded in: only the change is read
    since = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
    changed = next(i for i in full if isinstance(i, Person))
    changing_slapd.connection().modify(changed.source_ref, {"sn": [("MODIFY_REPLACE", ["Changé"])]})
    incremental = read("ldap3", 50, since)
    assert read("python-ldap", 50, since) == read("python-ldap", 50, since, second_process=True) == incremental
    assert [p.source_ref for p in incremental[0] if isinstance(p, Person)] == [changed.source_ref]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one child per core: this machine has one")
def test_a_full_read_shares_its_people_out(slapd, academie, client):
    """A full read on two cores: the structures here, then the people in two parts (by the last character
    of their jointure), each searched on its own connection; together, every person once."""
    logged = slapd.log_path.stat().st_size
    feed = hub_read_directory(settings=settings_for(slapd, client=client), since=None, uai=None)
    assert feed.description.endswith("people read by 2 child processes")
    people = [item.source_ref for item in feed.items if isinstance(item, Person)]
    assert len(people) == len(set(people)) == sum(academie.counts().values())
    with slapd.log_path.open(errors="replace") as log:
        log.seek(logged)
        parts = {line.split("filter=")[1].strip() for line in log if " SRCH " in line and "Jointure=*" in line}
    assert len(parts) == 2 and any("(!(|" in part for part in parts)


def test_a_jointure_without_a_substring_rule_keeps_the_people_in_one_child(demo_ldif, academie, client, tmp_path):
    """A schema that gives the jointure no substring rule: "ends with 0" would be Undefined, and so its
    negation, for every person; the full read does not split them (one child) and misses nobody."""
    schema = tmp_path / "ent.schema"
    schema.write_text(ENT_SCHEMA.read_text().replace(
        "EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch\n\tSYNTAX DirectoryString{64} SINGLE-VALUE )",
        "EQUALITY caseIgnoreMatch\n\tSYNTAX DirectoryString{64} SINGLE-VALUE )", 1))
    assert schema.read_text() != ENT_SCHEMA.read_text()
    with Slapd(seed=[demo_ldif], schemas=("core", "cosine", "inetorgperson", schema)) as server:
        feed = hub_read_directory(settings=settings_for(server, client=client), since=None, uai=None)
        assert feed.description.endswith("read in a second process")
        people = [item for item in feed.items if isinstance(item, Person)]
    assert len(people) == sum(academie.counts().values())


def test_reads_come_by_pages(slapd, academie, client):
    """The people arrive in pages of page_size (slapd's own log counts the searches), one search open
    at a time."""
    people = sum(academie.counts().values())
    logged = slapd.log_path.stat().st_size
    assert len(read_all(settings_for(slapd, page_size=25, client=client))) > people
    with slapd.log_path.open(errors="replace") as log:
        log.seek(logged)
        searches = [line for line in log if " SRCH base=" in line and "(objectClass=ENTPerson)" in line]
    assert math.ceil(people / 25) <= len(searches) <= math.ceil(people / 25) + 1


def test_an_anonymous_bind_reads_and_a_wrong_base_is_named(slapd, academie, client):
    """No bind DN: an anonymous bind (a password set anyway is not sent); a base that does not exist."""
    anonymous = read_all(settings_for(slapd, bind_dn=None, client=client))
    assert len([p for p in anonymous if isinstance(p, Person)]) == sum(academie.counts().values())
    with pytest.raises(SourceError, match=r"the search base does not exist \(reading structures under ou=nope,"):
        read_all(settings_for(slapd, base_dn=f"ou=nope,{slapd.suffix}", client=client))


def test_a_value_that_is_not_utf8_rejects_its_entry(changing_slapd, client):
    """Both clients leave such a value as bytes; the reader names the entry and the attribute. (audio is one
    of the few attributes whose syntax lets a server hold any bytes; read here as mail.)"""
    dn = f"uid=48000009,ou=people,{changing_slapd.suffix}"
    changing_slapd.connection().add(dn, ["inetOrgPerson", "ENTPerson"], {
        "uid": "48000009", "cn": "x", "sn": "Dupré", "givenName": "Jean", "ENTPersonJointure": "48000009",
        "ENTPersonProfils": "National_TUT", "audio": "Dupré".encode("latin-1"),
    })  # fmt: skip
    items = read_all(settings_for(changing_slapd, attributes={"mail": "audio"}, client=client))
    assert [(r.source_ref, r.reason, r.key) for r in items if isinstance(r, Rejected)] == [
        (dn, "audio holds a value that is not UTF-8 text", "jnt:48000009")
    ]


def test_a_connection_lost_mid_read_raises(changing_slapd, client):
    """In this process (a second one reads this small directory whole before the kill)."""
    settings = settings_for(changing_slapd, page_size=20, client=client, second_process=False)
    items = iter(hub_read_directory(settings=settings, since=None, uai=None).items)
    for _ in range(30):  # into the people's pages
        next(items)
    changing_slapd.kill()
    with pytest.raises(SourceError, match=r"lost the connection to LDAP server .* while reading people under "):
        list(items)


def test_an_error_in_the_second_process_is_raised_in_the_core(changing_slapd, client):
    """The bind is checked here, then the reading process binds again: a server gone in between is the
    same sentence as in this process, and the read stops. (An incremental read: a full one reads the
    structures here first, then the people in two children, `test_a_full_read_shares_its_people_out`.)"""
    settings = settings_for(changing_slapd, client=client, second_process=True)
    feed = hub_read_directory(settings=settings, since="20260101000000Z", uai=None)
    assert feed.description.endswith("read in a second process")
    changing_slapd.stop()
    with pytest.raises(SourceError, match=r"cannot connect to LDAP server .* \(Connection refused\)"):
        list(feed.items)


def test_structures_named_by_dn_are_resolved_in_an_incremental_read(changing_slapd, academie):
    """Many académie directories give structKeys as the structure's DN: mapped to the UAI, even when the
    structures were not part of the read."""
    pupil = next(p for p in academie.persons_of(PersonKind.ELEVE) if p.uai)
    structure = f"ENTStructureUAI={pupil.uai},ou=structures,{changing_slapd.suffix}"
    time.sleep(1.05)  # past the second the seed was loaded in: only the change is read
    since = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
    changing_slapd.connection().modify(
        f"uid={pupil.jointure},ou=people,{changing_slapd.suffix}",
        {
            "ENTPersonStructRattach": [("MODIFY_REPLACE", [structure.upper()])],
            "ENTEleveClasses": [("MODIFY_REPLACE", [f"{structure}${pupil.enrollment.division}"])],
        },
    )
    items = read_all(settings_for(changing_slapd), since=since)
    [read] = [i for i in items if isinstance(i, Person)]
    assert read.uai == pupil.uai and read.enrollment == pupil.enrollment
    assert read.memberships == pupil.memberships and not [i for i in items if isinstance(i, Rejected)]


def test_attribute_names_follow_the_settings(changing_slapd, academie, tmp_path):
    """A directory that keeps the jointure in employeeNumber and has no HubZone: the map says so,
    for the demo LDIF and for the read alike."""
    mapped = settings_for(changing_slapd, attributes={"ENTPersonJointure": "employeeNumber", "HubZone": ""})
    [ldif] = hub_write_demo(settings=mapped, academie=academie, directory=tmp_path)
    text = ldif.read_text()
    assert "employeeNumber: " in text and "ENTPersonJointure" not in text and "HubZone" not in text
    changing_slapd.reset([ldif])
    items = read_all(mapped)
    people = {p.jointure: p for p in items if isinstance(p, Person)}
    assert set(people) == {p.jointure for p in academie.persons()}
    assert all(p.digest() == people[p.jointure].digest() for p in described(academie))
    assert all(e.zone is None for e in items if isinstance(e, Establishment))


def described(academie) -> Iterator[Person]:
    """The académie's people as the demo files describe them: staff with their functions and principals."""
    yield from staff_roles(academie)
    yield from (p for p in academie.persons() if p.kind in (PersonKind.ELEVE, PersonKind.PARENT))


def test_an_incremental_read_over_several_pages_names_structures_it_did_not_read(changing_slapd, academie, client):
    """Changes spanning several pages (page size 2) whose structKeys are structure DNs: the structures are
    learned before the people search opens, not in the middle of it (a second search on the connection of
    an open paged search makes the server drop its cookie: "paged results cookie is invalid")."""
    pupils = [p for p in academie.persons_of(PersonKind.ELEVE) if p.uai][:7]
    time.sleep(1.05)  # past the second the seed was loaded in: only the changes are read
    since = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
    conn = changing_slapd.connection()
    for pupil in pupils:
        structure = f"ENTStructureUAI={pupil.uai},ou=structures,{changing_slapd.suffix}"
        conn.modify(
            f"uid={pupil.jointure},ou=people,{changing_slapd.suffix}",
            {
                "ENTPersonStructRattach": [("MODIFY_REPLACE", [structure])],
                "ENTEleveClasses": [("MODIFY_REPLACE", [f"{structure}${pupil.enrollment.division}"])],
            },
        )
    items = read_all(settings_for(changing_slapd, page_size=2, client=client), since=since)
    assert not [i for i in items if isinstance(i, Rejected)]
    read = {p.jointure: p for p in items if isinstance(p, Person)}
    assert set(read) == {p.jointure for p in pupils}
    assert all(read[p.jointure].enrollment == p.enrollment and read[p.jointure].uai == p.uai for p in pupils)


def test_functions_and_teaching_assignments(changing_slapd, academie):
    """ENTPersonFonctions as functions; classes with subjects, without (ENTAuxEnsClasses/Groupes), and the
    professeur principal flag (ENTAuxEnsClassesPrincipal)."""
    teacher = next(p for p in academie.persons_of(PersonKind.ENSEIGNANT) if len(p.assignments) >= 2)
    first, second = teacher.assignments[:2]
    school = next(e for e in academie.establishments if e.uai == teacher.uai)
    group = next((g for g in school.groups if g.kind == "groupe"), None) or school.groups[-1]
    structure = f"ENTStructureUAI={teacher.uai},ou=structures,{changing_slapd.suffix}"
    other = next(e.uai for e in academie.establishments if e.uai != teacher.uai)
    changing_slapd.connection().modify(
        f"uid={teacher.jointure},ou=people,{changing_slapd.suffix}",
        {
            "ENTAuxEnsClassesMatieres": [("MODIFY_REPLACE", [f"{teacher.uai}${first.group_code}$MATHS"])],
            "ENTAuxEnsGroupesMatieres": [("MODIFY_REPLACE", [])],
            "ENTAuxEnsClasses": [("MODIFY_REPLACE", [f"{structure}${first.group_code}",
                                                     f"{structure}${second.group_code}"])],
            "ENTAuxEnsGroupes": [("MODIFY_REPLACE", [f"{teacher.uai}${group.code}"])],
            "ENTAuxEnsClassesPrincipal": [("MODIFY_REPLACE", [f"{teacher.uai}${second.group_code}"])],
            "ENTPersonFonctions": [("MODIFY_REPLACE", [f"{structure}$ENS$ENSEIGNEMENT$L1300$MATHEMATIQUES",
                                                       f"{other}$DOC$DOCUMENTATION"])],
        },
    )  # fmt: skip
    [read] = [
        i for i in read_all(settings_for(changing_slapd)) if isinstance(i, Person) and i.jointure == teacher.jointure
    ]
    assert set(read.assignments) == {
        TeachingAssignment(teacher.uai, first.group_code, "MATHS"),
        TeachingAssignment(teacher.uai, second.group_code, "", principal=True),
        TeachingAssignment(teacher.uai, group.code, ""),
    }
    assert read.functions == (
        Function(teacher.uai, "ENS", "ENSEIGNEMENT", "L1300"),
        Function(other, "DOC", "DOCUMENTATION"),
    )


@pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")  # ldap3 2.9.1's hostname check
def test_ldaps_and_starttls_check_the_certificate(client):
    require_slapd()
    with Slapd(tls=True) as server:
        trusted = [
            settings_for(server, url=server.ldaps_url, ca_file=server.ca_file, client=client),
            settings_for(server, start_tls=True, ca_file=server.ca_file, client=client),
        ]
        for settings in trusted:
            assert read_all(settings) == []  # bound and searched over TLS; the directory is empty
        for settings in (
            settings_for(server, url=server.ldaps_url, client=client),
            settings_for(server, start_tls=True, client=client),
        ):
            with pytest.raises(
                SourceError, match=r"TLS certificate of LDAP server .* is not trusted .*plugins\.ldap\.ca_file"
            ):
                read_all(settings)
