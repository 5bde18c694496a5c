"""Parsing in child processes (`[plugins.aaf] second_process`): the same sync as in process, the same errors."""

from __future__ import annotations

import os

import pytest

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
    school = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège", "ENTStructureTypeStruct": "COLLEGE"}
    writer.write_requests(tmp_path, [("add", "EtabEducNat", "10151000", school)], flavour="Complet", stamp="20260901")
    writer.write_delta(
        tmp_path, [("modify", "Eleve", "7", {"sn": "Martin", "mobile": "06 00 00 00 00"})], stamp="20260902"
    )
    feeds = [
        read_feed(tmp_path, mode="delta", since=None, school_year=2026, second_process=child) for child in (False, True)
    ]
    items = [list(feed.items) for feed in feeds]
    assert items[0] == items[1] and len(items[0]) == 1
    assert feeds[0].records == feeds[1].records == 1
    assert feeds[0].notes == feeds[1].notes and any("mobile: 1" in note for note in feeds[1].notes)


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
