"""Parsing in child processes (`[plugins.aaf] second_process`): the same sync as in process, the same errors."""

from __future__ import annotations

import os
import shutil

import pytest
from hubtest import HubEnv

from hub.model import PersonKind
from plugins.aaf import writer
from plugins.aaf.reader import read_feed

IN_CHILD = {"HUB_PLUGINS__AAF__SECOND_PROCESS": "true"}
IN_PROCESS = {"HUB_PLUGINS__AAF__SECOND_PROCESS": "false"}


def test_a_sync_read_in_a_second_process_stores_what_one_read_in_process_would(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    assert "child process" in hub_env.run("sync", "aaf", env=IN_CHILD).output
    stored = hub_env.stored_state()
    assert hub_env.scalar("select count(*) from person where kind = :k", k=PersonKind.ELEVE) > 100
    assert hub_env.scalar("select count(*) from guardianship") > 100
    again = hub_env.run("sync", "aaf", "--full", env=IN_PROCESS)  # the same files read in process: no change
    assert "child process" not in again.output
    assert hub_env.counts().get("person.update", 0) == 0
    assert hub_env.stored_state()[:-1] == stored[:-1]


def test_a_malformed_file_read_in_a_second_process_stops_the_run_naming_file_and_line(hub_env):
    school = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège Jules Ferry",
              "ENTStructureTypeStruct": "COLLEGE"}  # fmt: skip
    pupil = {"sn": "Dupont", "givenName": "Léa", "ENTPersonStructRattach": "10151000"}
    files = writer.write_requests(
        hub_env.aaf_dir,
        [("add", "EtabEducNat", "10151000", school)] + [("add", "Eleve", str(i), pupil) for i in range(5)]
        + [("add", "PersRelEleve", "9", {"sn": "Dupont", "givenName": "Marc"})],  # two files: two children
        flavour="Complet",
    )
    text = (
        files[1]
        .read_text(encoding="iso-8859-15")
        .replace("</attributes></addRequest>\n<addRequest>", "</attribute></addRequest>\n<addRequest>", 1)
    )
    files[1].write_text(text, encoding="iso-8859-15")
    result = hub_env.run("sync", "aaf", expect=None, env=IN_CHILD)
    assert result.exit_code != 0
    assert f"{files[1].name}:4: malformed XML" in result.output and "nothing was applied" in result.output
    assert hub_env.scalar("select count(*) from person") == 0


def test_the_feed_counts_and_notes_come_back_from_the_second_process(tmp_path):
    """A Delta read in a child learns there the structures of the Complet before it (its context)."""
    school = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège", "ENTStructureTypeStruct": "COLLEGE"}
    writer.write_requests(tmp_path, [("add", "EtabEducNat", "10151000", school)], flavour="Complet", stamp="20260901")
    moved = {"sn": "Martin", "ENTPersonStructRattach": "10151000", "mobile": "06 00 00 00 00"}
    writer.write_delta(tmp_path, [("modify", "Eleve", "7", moved)], stamp="20260902")
    feeds = [
        read_feed(tmp_path, mode="delta", since=None, school_year=2026, second_process=child) for child in (False, True)
    ]
    items = [list(feed.items) for feed in feeds]
    assert items[0] == items[1] and len(items[0]) == 1
    assert items[1][0].fields["uai"] == "0151000F"  # the structure id of the Complet, known in the child
    assert "child process" in feeds[1].description and "child process" not in feeds[0].description
    assert feeds[0].records == feeds[1].records == 1
    assert feeds[0].notes == feeds[1].notes and any("mobile: 1" in note for note in feeds[1].notes)


def test_a_delta_of_a_few_thousand_changes_is_read_in_a_child(tmp_path):
    """A Delta's items cost the core a lookup each: from a megabyte of files, a child parses while it looks up."""
    pupil = {"sn": "Martin", "givenName": "Léa", "mobile": "06 00 00 00 00"}
    small = writer.write_delta(tmp_path, [("modify", "Eleve", str(i), pupil) for i in range(10)], stamp="20260902")
    assert "child process" not in read_feed(tmp_path, mode="delta", since=None, school_year=2026).description
    small[0].unlink()
    writer.write_delta(tmp_path, [("modify", "Eleve", str(i), pupil) for i in range(5000)], stamp="20260902")
    feed = read_feed(tmp_path, mode="delta", since=None, school_year=2026)
    assert "parsed in 1 child process" in feed.description
    assert len(list(feed.items)) == 5000


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one child per core: this machine has one")
def test_files_read_by_several_children_keep_their_order(hub_env):
    """The files of people are shared out between children, each reading one file after another: a record
    repeated in a later file is still the one left out, however fast each child was (`Renumber`)."""
    school = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège", "ENTStructureTypeStruct": "COLLEGE"}

    def pupil(n: int) -> dict:
        return {"sn": f"Élève {n}", "givenName": "Léa", "ENTPersonStructRattach": "10151000"}

    first = writer.write_requests(hub_env.aaf_dir, [("add", "EtabEducNat", "10151000", school)]
                                  + [("add", "Eleve", str(i), pupil(i)) for i in range(3000)],
                                  flavour="Complet", stamp="20260901")  # fmt: skip
    later = writer.write_requests(hub_env.aaf_dir, [("add", "Eleve", "2999", pupil(2999))], flavour="Complet",
                                  stamp="20260901", index=2)  # the last pupil of the first, again: read sooner
    result = hub_env.run("sync", "aaf", env=IN_CHILD)
    assert "parsed in 2 child processes" in result.output
    assert hub_env.scalar("select count(*) from person") == 3000
    [(record, reason)] = hub_env.rows("select record, reason from run_event where level = 'error'")
    assert record.startswith(later[0].name) and "duplicate jointure 2999" in reason
    assert f"first seen at {first[1].name}" in reason


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one child per core: this machine has one")
def test_real_shaped_files_read_by_several_children_store_what_one_process_does(hub_env, tmp_path):
    """Files as académies send them (CRLF, no XML declaration, ISO-8859-15), a pseudo-structure, unusable
    records: what the children stage, send back and reject is what a read in process gives."""
    school = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège Jules Ferry",
              "ENTStructureTypeStruct": "COLLEGE", "ENTStructureClasses": ["6A$6e A"]}
    zone = {**school, "ENTStructureUAI": "0000000V", "ENTStructureNomCourant": "Zone de remplacement"}
    pupil = {"sn": "Lecœur", "givenName": "Hélène", "ENTPersonStructRattach": "10151000",
             "ENTEleveClasses": "10151000$6A", "ENTElevePersRelEleve": "900"}
    files = writer.write_requests(hub_env.aaf_dir, [
        ("add", "EtabEducNat", "10151000", school), ("add", "EtabEducNat", "10159999", zone),
        *[("add", "Eleve", str(i), {**pupil, "sn": f"Lecœur {i}"}) for i in range(40)],
        ("add", "Eleve", "41", {**pupil, "ENTPersonStructRattach": "10159999", "ENTEleveClasses": None}),
        ("add", "Eleve", "42", {**pupil, "sn": None}),
        ("add", "Eleve", "43", {**pupil, "ENTPersonDateNaissance": "31/02/2014"}),
        ("add", "PersRelEleve", "900", {"sn": "Lecœur", "givenName": "Anne"}),
        ("add", "PersRelEleve", "901", {"sn": "Müller", "givenName": None}),
    ], flavour="Complet", stamp="20260901", encoding="iso-8859-15")  # fmt: skip
    for path in files:  # as exported: CRLF, and no declaration (not UTF-8: read as ISO-8859-15)
        lines = path.read_bytes().split(b"\n")
        path.write_bytes(b"\r\n".join(lines[1:] if lines[0].startswith(b"<?xml") else lines))
    (tmp_path / "plain").mkdir()
    plain = HubEnv(tmp_path / "plain", f"sqlite:///{tmp_path / 'plain.db'}")
    plain.write_config()
    plain.run("db", "upgrade")
    shutil.copytree(hub_env.aaf_dir, plain.aaf_dir)

    assert "parsed in 2 child processes" in hub_env.run("sync", "aaf", env=IN_CHILD).output
    assert "child process" not in plain.run("sync", "aaf", env=IN_PROCESS).output
    people = "select person_key, last_name, first_name, uai from person order by person_key"
    events = "select level, record, reason from run_event where level in ('error', 'warning') order by record"
    assert hub_env.rows(people) == plain.rows(people)
    assert ("jnt:41", "Lecœur", "Hélène", "0000000V") in hub_env.rows(people)
    assert len(hub_env.rows(people)) == 42  # 41 pupils and the parent; 42, 43 and 901 rejected
    assert hub_env.rows(events) == plain.rows(events) and len(hub_env.rows(events)) >= 3
    assert hub_env.scalar("select count(*) from guardianship") == plain.scalar("select count(*) from guardianship")
