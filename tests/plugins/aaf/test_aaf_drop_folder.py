"""The AAF drop folder as académies fill it: several feeds, Complets left beside Deltas, real files' bytes."""

from __future__ import annotations

import json
import os
from datetime import datetime

from aaf_files import read

from hub.model import Person, PersonDeletion
from plugins.aaf import writer

SCHOOL = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège Jules Ferry"}


def gone(directory, feed, stamp, *ids, category="Eleve", **options):
    """A Delta of deleteRequests (a deletion is the smallest request that names its person)."""
    return writer.write_delta(directory, [("delete", category, i, None) for i in ids], prefix=feed, stamp=stamp,
                              **options)  # fmt: skip


def keys(feed) -> list[str]:
    return [i.key.removeprefix("jnt:") for i in feed.items]


def test_deltas_of_several_feeds_are_read_by_date_then_sequence_never_by_feed_name(tmp_path):
    gone(tmp_path, "ENT2D-CLERMONT", "20260902", "2d-0902")
    gone(tmp_path, "ENT1D-CLERMONT", "20260903", "1d-0903")
    gone(tmp_path, "ENT1D-CLERMONT", "20260901", "1d-0901")
    gone(tmp_path, "ENT_CLERMONT", "20260902_10", "c-0902-10")  # counters: 10 comes after 2
    gone(tmp_path, "ENT_CLERMONT", "20260902_2", "c-0902-2", category="PersRelEleve")
    gone(tmp_path, "ENT_CLERMONT", "20260902_2", "c-0902-2-staff", category="PersEducNat")
    feed = read(tmp_path)
    assert keys(feed) == ["1d-0901", "2d-0902", "c-0902-2-staff", "c-0902-2", "c-0902-10", "1d-0903"]
    assert json.loads(feed.cursor) == {
        "ENT1D-CLERMONT": "ENT1D-CLERMONT_Delta_20260903_Eleve_0001.xml",
        "ENT2D-CLERMONT": "ENT2D-CLERMONT_Delta_20260902_Eleve_0001.xml",
        "ENT_CLERMONT": "ENT_CLERMONT_Delta_20260902_10_Eleve_0001.xml",
    }


def test_a_late_file_of_one_feed_is_still_read(tmp_path):
    gone(tmp_path, "ENT1D-CLERMONT", "20260902", "1d-0902")
    gone(tmp_path, "ENT2D-CLERMONT", "20260905", "2d-0905")
    first = read(tmp_path)
    gone(tmp_path, "ENT1D-CLERMONT", "20260903", "1d-0903")  # dated before the other feed's last file
    gone(tmp_path, "ENT2D-CLERMONT", "20260905_1", "2d-0905-1")  # a second set of the same day
    later = read(tmp_path, since=first.cursor)
    assert keys(later) == ["1d-0903", "2d-0905-1"]
    assert read(tmp_path, since=later.cursor).items == []


def test_times_after_the_date_order_the_sets_of_one_day(tmp_path):
    gone(tmp_path, "ENT_CLERMONT", "20260902153000", "afternoon", category="PersEducNat")
    gone(tmp_path, "ENT_CLERMONT", "20260902_093000", "morning")
    assert keys(read(tmp_path)) == ["morning", "afternoon"]


def complet(directory, feed, stamp, *pupils):
    writer.write_requests(directory, [("add", "EtabEducNat", "10151000", SCHOOL)] + [
        ("add", "Eleve", j, {"sn": "Dupont", "givenName": "Léa", "ENTPersonStructRattach": "10151000"}) for j in pupils
    ], flavour="Complet", prefix=feed, stamp=stamp)  # fmt: skip


def test_a_complet_beside_newer_deltas_never_undoes_them(tmp_path):
    complet(tmp_path, "ENT_CLERMONT", "20260801", "old")
    complet(tmp_path, "ENT_CLERMONT", "20260901", "p1", "p2", "p3")
    gone(tmp_path, "ENT_CLERMONT", "20260825", "before-the-complet")
    gone(tmp_path, "ENT_CLERMONT", "20260905", "p1")
    gone(tmp_path, "ENT_CLERMONT", "20260906", "p2")
    first = read(tmp_path)
    assert first.complete is True
    assert [i.jointure for i in first.items if isinstance(i, Person)] == ["p1", "p2", "p3"]
    assert first.notes == [
        "2 Delta file(s) after the Complet are left for the next run: ENT_CLERMONT_Delta_20260905 (1 file), "
        "ENT_CLERMONT_Delta_20260906 (1 file)",
        "skipped 3 file(s) older than the newest Complet of their feed: ENT_CLERMONT_Complet_20260801 (2 files), "
        "ENT_CLERMONT_Delta_20260825 (1 file)",
    ]
    second = read(tmp_path, since=first.cursor)
    assert (second.complete, keys(second)) == (False, ["p1", "p2"])
    third = read(tmp_path, since=second.cursor)  # the Complet again would bring p1 and p2 back
    assert (third.complete, third.items, third.cursor) == (False, [], second.cursor)
    assert "skipped 3 file(s)" in third.notes[0]


def test_a_complet_with_nothing_after_it_is_read_again(tmp_path):
    complet(tmp_path, "ENT_CLERMONT", "20260901", "p1")
    first = read(tmp_path)
    again = read(tmp_path, since=first.cursor)
    assert (again.complete, again.cursor, again.notes) == (True, first.cursor, [])
    assert [i.jointure for i in again.items if isinstance(i, Person)] == ["p1"]


def test_a_name_without_a_date_is_dated_by_its_modification_time(tmp_path):
    complet(tmp_path, "ENT", "", "p1")  # ENT_Complet__EtabEducNat… has an empty date: write it by hand
    for path in tmp_path.glob("ENT_Complet__*"):
        path.rename(path.with_name(path.name.replace("Complet__", "Complet_")))
    at = datetime(2026, 9, 1, 10, 15).timestamp()
    for path in tmp_path.glob("ENT_Complet_*"):
        os.utime(path, (at, at))
    gone(tmp_path, "ENT", "20260825", "older")
    gone(tmp_path, "ENT", "20260902", "newer")
    first = read(tmp_path)
    assert first.complete and first.details["files"] == ["ENT_Complet_EtabEducNat_0001.xml",
                                                          "ENT_Complet_Eleve_0001.xml"]  # fmt: skip
    assert json.loads(first.cursor) == {"ENT": "ENT_Complet_Eleve_0001.xml@20260901101500"}
    assert "ENT_Delta_20260825 (1 file)" in first.notes[-1]
    assert keys(read(tmp_path, since=first.cursor)) == ["newer"]


def test_a_complet_of_one_feed_alone_deletes_nobody(tmp_path):
    complet(tmp_path, "ENT2D-CLERMONT", "20260901", "p1")
    gone(tmp_path, "ENT1D-CLERMONT", "20260902", "x")
    feed = read(tmp_path)
    assert feed.complete is False and [i.jointure for i in feed.items if isinstance(i, Person)] == ["p1"]
    assert feed.notes == ["Complet read without deleting anyone: the other feeds of the folder (ENT1D-CLERMONT) "
                          "are not part of this run"]  # fmt: skip
    assert keys(read(tmp_path, since=feed.cursor)) == ["x"]


def test_files_the_hub_does_not_read_are_listed(tmp_path):
    gone(tmp_path, "ENT_CLERMONT", "20260902", "x")
    (tmp_path / "ENT_CLERMONT_Delta_20260902_Fonctions_0001.xml").write_text("<ficAlimMENESR/>")
    (tmp_path / "lisez-moi.xml").write_text("<texte/>")
    (tmp_path / "ficAlimMENESR.dtd").write_text("")
    feed = read(tmp_path)
    assert keys(feed) == ["x"]
    assert feed.notes == [
        "not read (not an AAF file of a type the hub reads): ENT_CLERMONT_Delta_20260902_Fonctions_0001.xml, "
        "lisez-moi.xml"
    ]


REAL_REQUEST = (
    '<addRequest>\r\n<operationalAttributes><attr name="categoriePersonne"><value>PersRelEleve</value></attr>'
    "</operationalAttributes> \r\n<identifier><id>2345678</id></identifier> \r\n<attributes> \r\n"
    '<attr name="ENTPersonJointure"><value>2345678</value></attr>\r\n'
    '<attr name="ENTPersonDateNaissance"><value/></attr>\r\n'
    '<attr name="sn"><value>LECŒUR</value></attr>\r\n<attr name="givenName"><value>Hélène</value></attr>\r\n'
    '<attr name="homePhone"><value>+33 4 13 34 56 78</value></attr>\r\n</attributes>\r\n</addRequest>\r\n'
)


def test_real_files_crlf_with_or_without_a_declaration_in_either_encoding(tmp_path):
    """As entcore's fixtures of real exports: CRLF, a DOCTYPE, sometimes no XML declaration."""
    bodies = {
        "ISO-8859-15": '<?xml version="1.0" encoding="ISO-8859-15"?>\r\n',
        "iso-8859-15": "",  # no declaration, and not UTF-8: read as ISO-8859-15
        "UTF-8": "",
        "utf-8": '<?xml version="1.0"?>\r\n',
    }
    for n, (encoding, declaration) in enumerate(bodies.items()):
        text = (f'{declaration}<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">\r\n<ficAlimMENESR>\r\n'
                f"{REAL_REQUEST.replace('2345678', str(n))}</ficAlimMENESR>\r\n")  # fmt: skip
        (tmp_path / f"ENT_CLERMONT_Delta_2026090{n + 1}_PersRelEleve_0000.xml").write_bytes(text.encode(encoding))
    assert b"LEC\xbcUR" in (tmp_path / "ENT_CLERMONT_Delta_20260902_PersRelEleve_0000.xml").read_bytes()
    parents = read(tmp_path).items
    assert [(p.jointure, p.last_name, p.first_name, p.birth_date) for p in parents] == [
        (str(n), "LECŒUR", "Hélène", None) for n in range(4)
    ]
    assert parents[1].source_ref.endswith("_PersRelEleve_0000.xml:3 PersRelEleve 1")


def test_one_day_of_several_feeds_is_read_type_by_type(tmp_path):
    gone(tmp_path, "ENT1D-CLERMONT", "20260902", "pupil")
    gone(tmp_path, "ENT2D-CLERMONT", "20260902", "teacher", category="PersEducNat")
    feed = read(tmp_path)
    assert all(isinstance(i, PersonDeletion) for i in feed.items) and keys(feed) == ["teacher", "pupil"]
