"""AAF source plugin: Complet files written by the demo writer and read back through the hooks."""

from __future__ import annotations

import dataclasses
import tracemalloc
from datetime import date
from pathlib import Path

import psutil
import pytest
from aaf_files import read

from hub.demo import generate_academie
from hub.errors import SourceError
from hub.model import Establishment, EstablishmentKind, Notice, Person, PersonKind, Rejected
from hub.sdet import current_school_year
from hub.sync.stage import normalize_establishment, normalize_person
from plugins.aaf import writer
from plugins.aaf.hookimpl import Settings, hub_read_directory, hub_write_demo

PUPIL = {"sn": "Dupont", "givenName": "Léa", "ENTPersonStructRattach": "10151000", "ENTEleveClasses": "10151000$6A"}
SCHOOL = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège Jules Ferry",
          "ENTStructureTypeStruct": "COLLEGE", "ENTStructureClasses": ["6A$6e A"]}  # fmt: skip


def unref(item):
    return dataclasses.replace(item, source_ref="") if isinstance(item, (Person, Establishment)) else item


def test_a_complet_round_trips(small_academie, small_aaf):
    feed = read(small_aaf)
    assert feed.complete is True and feed.cursor == '{"ENT_DEMO": "ENT_DEMO_Complet_20260901_PersRelEleve_0001.xml"}'
    assert not [i for i in feed.items if isinstance(i, (Rejected, Notice))]
    establishments = [i for i in feed.items if isinstance(i, Establishment)]
    persons = {p.jointure: p for p in feed.items if isinstance(p, Person)}
    assert feed.items[: len(establishments)] == establishments  # establishments before their people
    assert [unref(e) for e in establishments] == small_academie.establishments
    # staff as the writer describes them: a function each, a professeur principal per collège/lycée division
    staff = {p.jointure: p for p in writer.staff_roles(small_academie)}
    generated = [staff.get(p.jointure, p) for p in small_academie.persons()]
    assert all(staff[j].functions for j in staff)
    principals = [(a.uai, a.group_code) for p in staff.values() for a in p.assignments if a.principal]
    assert principals and len(principals) == len(set(principals))
    assert feed.records == len(feed.items) - len([i for i in feed.items if isinstance(i, Notice)])
    assert {j: unref(p) for j, p in persons.items()} == {p.jointure: p for p in generated}
    for p in generated:  # the core accepts them and normalizes both to the same record
        assert unref(normalize_person(persons[p.jointure])) == normalize_person(p)
    assert all(normalize_establishment(e) for e in establishments)


def test_demo_files_are_named_encoded_and_split(small_academie, tmp_path):
    files = writer.write_academie(small_academie, tmp_path, max_per_file=50)
    names = [f.name for f in files]
    assert names[0] == "ENT_DEMO_Complet_20260901_EtabEducNat_0001.xml"
    assert "ENT_DEMO_Complet_20260901_Eleve_0003.xml" in names
    head = files[0].read_bytes()[:200]
    assert head.startswith(b'<?xml version="1.0" encoding="ISO-8859-15"?>\n')
    assert b'<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">\n<ficAlimMENESR>' in head
    assert not (tmp_path / "ficAlimMENESR.dtd").exists()  # never needed
    feed = read(tmp_path)
    assert len([i for i in feed.items if isinstance(i, Person)]) == sum(small_academie.counts().values())
    assert feed.details["files"] == names


def test_source_ref_names_file_line_category_and_id(small_aaf):
    pupil = next(i for i in read(small_aaf).items if isinstance(i, Person) and i.kind == PersonKind.ELEVE)
    file, rest = pupil.source_ref.split(":", 1)
    assert file.endswith("_Eleve_0001.xml") and rest == f"4 Eleve {pupil.jointure}"


def test_accents_of_iso_8859_15_survive(tmp_path):
    names = {"1": ("Lecœur", "Françoise"), "2": ("Bénézit", "Hélène"), "3": ("Œuvrard", "Gaëtan")}
    requests = [("add", "EtabEducNat", "10151000", SCHOOL)]
    requests += [("add", "Eleve", j, {**PUPIL, "sn": sn, "givenName": gn}) for j, (sn, gn) in names.items()]
    files = writer.write_requests(tmp_path, requests, flavour="Complet")
    raw = b"".join(f.read_bytes() for f in files)
    assert b"Lec\xbdur" in raw and b"Fran\xe7oise" in raw and b"H\xe9l\xe8ne" in raw  # one byte each, no refs
    back = {p.jointure: (p.last_name, p.first_name) for p in read(tmp_path).items if isinstance(p, Person)}
    assert back == names


def test_characters_outside_the_encoding_become_references(tmp_path):
    writer.write_requests(tmp_path, [("add", "PersRelEleve", "9", {"sn": "Nguyễn", "givenName": "Zoë"})])
    (parent,) = read(tmp_path).items
    assert (parent.last_name, parent.first_name) == ("Nguyễn", "Zoë")


def test_malformed_xml_aborts_with_file_and_line(tmp_path):
    requests = [("add", "EtabEducNat", "10151000", SCHOOL)] + [("add", "Eleve", str(i), PUPIL) for i in range(5)]
    files = writer.write_requests(tmp_path, requests, flavour="Complet")
    eleves = files[1]
    lines = eleves.read_text(encoding="iso-8859-15").splitlines()
    lines[5] = lines[5].replace("</attributes>", "</attribute>")
    eleves.write_text("\n".join(lines), encoding="iso-8859-15")
    with pytest.raises(SourceError, match=rf"{eleves.name}:6: malformed XML: .*mismatch"):
        read(tmp_path)


def test_truncated_file_aborts(tmp_path):
    (path,) = writer.write_requests(tmp_path, [("add", "PersRelEleve", "9", {"sn": "A", "givenName": "B"})])
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(SourceError, match=path.name):
        read(tmp_path)


def test_entities_and_external_dtd_are_not_loaded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    path = tmp_path / "ENT_X_Delta_20260902_PersRelEleve_0001.xml"
    request = writer.request_xml("add", "PersRelEleve", "9", {"sn": "X", "givenName": "Y"})
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE ficAlimMENESR SYSTEM "http://127.0.0.1:9/ficAlimMENESR.dtd" '
        f'[<!ENTITY leak SYSTEM "file://{secret}">]>\n<ficAlimMENESR>\n'
        + request.replace("<value>X</value>", "<value>&leak;</value>") + "</ficAlimMENESR>\n"
    )  # fmt: skip
    (item,) = read(tmp_path).items
    assert isinstance(item, Rejected) and "missing mandatory attribute sn" in item.reason
    assert "TOP SECRET" not in repr(item)


def test_unreadable_records_are_rejected_and_the_rest_goes_on(tmp_path):
    requests = [
        ("add", "EtabEducNat", "10151000", SCHOOL),
        ("add", "EtabEducNat", "10159999", {**SCHOOL, "ENTStructureUAI": None}),
        ("add", "Eleve", "1", {**PUPIL, "sn": None}),
        ("add", "Eleve", "2", {**PUPIL, "ENTEleveClasses": "99999$6A"}),
        ("add", "Eleve", "3", {**PUPIL, "ENTPersonDateNaissance": "31/02/2014"}),
        ("add", "Eleve", None, PUPIL),
        ("add", "Eleve", "4", {**PUPIL, "givenName": ""}),
        ("add", "Eleve", "5", {**PUPIL, "ENTEleveGroupes": "LATIN"}),
        ("modify", "Eleve", "6", {"sn": "Martin"}),
        ("add", "Eleve", "7", PUPIL),
    ]
    writer.write_requests(tmp_path, requests, flavour="Complet", file_type="Eleve")
    writer.write_requests(tmp_path, [("add", "Rien", "M1", {"x": "y"})], flavour="Complet", file_type="PersRelEleve")
    items = read(tmp_path).items
    rejected = {(r.source_ref.split(" ")[0].split("_")[-1], r.reason, r.key) for r in items if isinstance(r, Rejected)}
    assert rejected == {
        ("0001.xml:5", "missing mandatory attribute ENTStructureUAI", ""),
        ("0001.xml:6", "missing mandatory attribute sn", "jnt:1"),
        ("0001.xml:7", "unknown structure '99999' in ENTEleveClasses", "jnt:2"),
        ("0001.xml:8", "ENTPersonDateNaissance '31/02/2014' is not a date (JJ/MM/AAAA)", "jnt:3"),
        ("0001.xml:9", "missing identifier", ""),
        ("0001.xml:10", "missing mandatory attribute givenName", "jnt:4"),
        ("0001.xml:11", "ENTEleveGroupes value 'LATIN' is not structKey$code", "jnt:5"),
        ("0001.xml:12", "modifyRequest in a Complet file, which holds only addRequest", "jnt:6"),
        ("0001.xml:4", "unknown category 'Rien'", ""),
    }
    assert [i.jointure for i in items if isinstance(i, Person)] == ["7"]
    assert items[0].uai == "0151000F" and items[0].kind == EstablishmentKind.COLLEGE


def test_struct_key_may_be_the_uai(tmp_path):
    pupil = {**PUPIL, "ENTPersonStructRattach": "0151000F", "ENTEleveClasses": "0151000F$6A"}
    writer.write_requests(tmp_path, [("add", "EtabEducNat", "10151000", SCHOOL), ("add", "Eleve", "1", pupil)],
                          flavour="Complet")  # fmt: skip
    _, person = read(tmp_path).items
    assert person.uai == "0151000F" and person.enrollment.division == "6A"


def test_guardians_rank_legal_representatives_only(tmp_path):
    links = ["71$20$1$1$1$0", "72$90$0$0$1$0", "73$10$0$1$0$0", "$1$0$1$0$0"]
    writer.write_requests(tmp_path, [("add", "EtabEducNat", "10151000", SCHOOL),
                                     ("add", "Eleve", "1", {**PUPIL, "ENTElevePersRelEleve": links})],
                          flavour="Complet")  # fmt: skip
    _, pupil = read(tmp_path).items
    assert [(g.parent_key, g.rank) for g in pupil.guardians] == [("jnt:71", 1), ("jnt:72", 0), ("jnt:73", 2)]


@pytest.mark.parametrize(
    ("type_struct", "kind"),
    [("COLLEGE", "college"), ("LYCEE GENERAL ET TECHNOLOGIQUE", "lycee"), ("LYCEE PROFESSIONNEL", "lycee_pro"),
     ("LP", "lycee_pro"), ("ECOLE ELEMENTAIRE", "ecole"), ("ECOLE MATERNELLE", "ecole"), ("EREA", "erea"),
     ("CIO", "autre")],
)  # fmt: skip
def test_structure_types(tmp_path, type_struct, kind):
    writer.write_requests(tmp_path, [("add", "EtabEducNat", "1", {**SCHOOL, "ENTStructureTypeStruct": type_struct})])
    assert read(tmp_path).items[0].kind == kind


def test_missing_or_empty_directory_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        read(tmp_path / "nowhere")
    (tmp_path / "ENT_Complet_Fonctions_0001.xml").write_text("<ficAlimMENESR/>")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SourceError, match=f"no AAF file in {tmp_path}: .*not read: ENT_Complet_Fonctions_0001.xml"):
        read(tmp_path)


def test_settings_are_strict():
    with pytest.raises(ValueError):
        Settings(path="x", unknown=1)
    with pytest.raises(ValueError):
        Settings(path="x", encoding="klingon-8")
    assert Settings(path="x").mode == "auto"


def test_school_year_starts_in_august():
    assert current_school_year(date(2026, 8, 1)) == 2026
    assert current_school_year(date(2027, 7, 31)) == 2026


def test_write_demo_defaults_to_the_configured_path(small_academie, tmp_path):
    files = hub_write_demo(settings=Settings(path=tmp_path / "aaf"), academie=small_academie, directory=None)
    assert len(files) == 6 and all(f.parent == tmp_path / "aaf" for f in files)


@pytest.fixture(scope="module")
def large_aaf(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("aaf-large")
    writer.write_academie(generate_academie(persons=20_000, seed=2), directory)
    return directory


@pytest.mark.slow
def test_memory_stays_flat_while_reading_20000_persons(large_aaf):
    """Python objects (tracemalloc) and libxml2's tree (resident size, invisible to tracemalloc) both stay flat."""
    settings = Settings(path=large_aaf, school_year=2026)
    process = psutil.Process()
    start = peak = process.memory_info().rss
    count = 0
    for item in hub_read_directory(settings=settings, since=None, uai=None).items:
        assert not isinstance(item, Rejected)
        count += 1
        if count % 1000 == 0:
            peak = max(peak, process.memory_info().rss)
    assert count > 20_000
    assert peak - start < 40_000_000  # keeping the parsed tree would take ~120 MB here
    tracemalloc.start()
    try:
        for _ in hub_read_directory(settings=settings, since=None, uai=None).items:
            pass
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert traced_peak < 30_000_000
