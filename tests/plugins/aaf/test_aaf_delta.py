"""AAF Delta files: modifications become PersonPatch, deletions PersonDeletion, and the cursor skips replays."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest
from aaf_files import read

from hub.errors import SourceError
from hub.model import Guardianship, Membership, Person, PersonDeletion, PersonPatch, Rejected, TeachingAssignment
from hub.sync.stage import apply_patch
from plugins.aaf import writer

SCHOOL = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège Jules Ferry"}


def delta(directory, stamp, *requests, **options):
    return writer.write_delta(directory, requests, stamp=stamp, **options)


def test_modifications_become_a_patch_with_model_fields(tmp_path):
    delta(tmp_path, "20260902", ("modify", "Eleve", "10000001", {
        "sn": "Lefèvre", "givenName": "Chloé", "ENTEleveClasses": ["0151000F$5B"], "ENTEleveGroupes": [],
        "ENTEleveMEF": "10110001110", "ENTEleveNivFormation": "5EME", "ENTPersonDateNaissance": "02/03/2014",
        "ENTElevePersRelEleve": ["40000001$10$1$1$1$0"], "ENTEleveINE": "1234567891W", "mail": "",
        "ENTEleveBoursier": "O",
    }))  # fmt: skip
    feed = read(tmp_path)
    assert feed.complete is False
    (patch,) = feed.items
    assert isinstance(patch, PersonPatch) and patch.key == "jnt:10000001"
    assert patch.source_ref.endswith("_Eleve_0001.xml:4 Eleve 10000001")
    assert patch.fields == {
        "last_name": "Lefèvre",
        "first_name": "Chloé",
        "email": None,
        "ine": "1234567891W",
        "enrollment.mef": "10110001110",
        "enrollment.niveau": "5EME",
        "birth_date": date(2014, 3, 2),
        "memberships:division": (Membership("0151000F", "5B", "division"),),
        "enrollment.division": "5B",
        "memberships:groupe": (),
        "guardians": (Guardianship("jnt:40000001", 1),),
    }


def test_a_patch_applies_to_the_generated_pupil(small_academie, tmp_path):
    pupil = next(p for p in small_academie.persons_of("eleve") if len(p.memberships) == 1)
    delta(tmp_path, "20260902", ("modify", "Eleve", pupil.jointure, {
        "sn": "Nouveau", "ENTEleveClasses": f"{writer.structure_id(pupil.uai)}$XX",
        "ENTEleveGroupes": f"{pupil.uai}$ULIS",
    }))  # fmt: skip
    writer.write_requests(tmp_path, [("add", "EtabEducNat", writer.structure_id(pupil.uai), {
        **SCHOOL, "ENTStructureUAI": pupil.uai})], flavour="Complet")  # fmt: skip
    (patch,) = read(tmp_path, mode="delta").items  # the id comes from the Complet EtabEducNat beside it
    patched = apply_patch(pupil, patch)
    assert (patched.last_name, patched.enrollment.division) == ("Nouveau", "XX")
    assert patched.memberships == (Membership(pupil.uai, "XX", "division"), Membership(pupil.uai, "ULIS", "groupe"))
    assert dataclasses.replace(patched, last_name=pupil.last_name, memberships=pupil.memberships, source_ref="",
                               enrollment=pupil.enrollment) == pupil  # fmt: skip


def test_deletions_and_additions(tmp_path):
    delta(
        tmp_path,
        "20260902",
        ("delete", "PersRelEleve", "40000001", None),
        ("delete", "PersEducNat", "70000001", None),
        ("add", "PersRelEleve", "40000002", {"sn": "Martin", "givenName": "Inès", "mail": "ines@example.org"}),
    )
    items = read(tmp_path).items  # fmt: skip
    assert [type(i) for i in items] == [PersonDeletion, PersonDeletion, Person]
    assert [i.key for i in items[:2]] == ["jnt:70000001", "jnt:40000001"]  # PersEducNat before PersRelEleve
    assert items[0].source_ref.endswith("_PersEducNat_0001.xml:4 PersEducNat 70000001")
    assert (items[2].kind, items[2].email) == ("parent", "ines@example.org")


def test_struct_keys_in_a_delta(tmp_path):
    delta(
        tmp_path,
        "20260902",
        ("modify", "PersEducNat", "1", {"ENTPersonStructRattach": "0150002H"}),
        ("modify", "PersEducNat", "2", {"ENTPersonStructRattach": "12345"}),
        (
            "modify",
            "PersEducNat",
            "3",
            {"ENTAuxEnsClassesMatieres": "0150002H$6A$FRANCAIS", "ENTAuxEnsGroupesMatieres": []},
        ),
        ("modify", "PersEducNat", "4", {"ENTAuxEnsClassesMatieres": "0150002H$6A$FRANCAIS", "sn": "Roux"}),
    )
    first, second, third, fourth, partial = read(tmp_path).items  # fmt: skip
    assert first.fields == {"uai": "0150002H"}  # shaped like a UAI: accepted, the core checks it
    assert isinstance(second, Rejected) and second.reason == "unknown structure '12345' in ENTPersonStructRattach"
    assert third.fields == {"assignments": (TeachingAssignment("0150002H", "6A", "FRANCAIS"),)}
    assert fourth.fields == {"last_name": "Roux"}
    assert isinstance(partial, Rejected) and partial.key == "jnt:4"
    assert "ENTAuxEnsClassesMatieres alone" in partial.reason


def test_establishment_changes_need_a_complet(tmp_path):
    delta(
        tmp_path,
        "20260902",
        ("modify", "EtabEducNat", "10151000", {"ENTStructureNomCourant": "Collège Marie Curie"}),
        ("delete", "EtabEducNat", "10151001", None),
        ("add", "EtabEducNat", "10151002", {**SCHOOL, "ENTStructureUAI": "0151002H"}),
    )
    modified, deleted, added = read(tmp_path).items  # fmt: skip
    assert modified.reason == "establishment modifications are not supported in a Delta; send a Complet"
    assert deleted.reason == "establishment deletions are not supported in a Delta; send a Complet"
    assert added.uai == "0151002H"


def test_unsupported_modification_operation_is_rejected(tmp_path):
    request = writer.request_xml("modify", "Eleve", "1", {"sn": "A"}).replace('"replace"', '"add"')
    writer.write_file(tmp_path / "ENT_Delta_20260902_Eleve_0001.xml", [request])
    (item,) = read(tmp_path).items
    assert item.reason == "modification add sn is not supported (only replace)"


def test_cursor_skips_deltas_already_read(tmp_path):
    delta(tmp_path, "20260902", ("delete", "Eleve", "1", None), ("delete", "PersEducNat", "2", None))
    delta(tmp_path, "20260903", ("delete", "Eleve", "3", None))
    delta(tmp_path, "20260903", ("delete", "Eleve", "4", None), index=2)
    first = read(tmp_path)
    assert [i.key for i in first.items] == ["jnt:2", "jnt:1", "jnt:3", "jnt:4"]
    assert json.loads(first.cursor) == {"ENT_TEST": "ENT_TEST_Delta_20260903_Eleve_0002.xml"}
    again = read(tmp_path, since=first.cursor)
    assert (again.items, again.cursor, again.complete) == ([], first.cursor, False)
    delta(tmp_path, "20260904", ("delete", "PersEducNat", "5", None))
    later = read(tmp_path, since=first.cursor)
    assert [i.key for i in later.items] == ["jnt:5"]
    assert json.loads(later.cursor) == {"ENT_TEST": "ENT_TEST_Delta_20260904_PersEducNat_0001.xml"}


def test_an_old_cursor_naming_one_file_is_understood(tmp_path):
    delta(tmp_path, "20260902", ("delete", "Eleve", "1", None), ("delete", "PersEducNat", "2", None))
    delta(tmp_path, "20260903", ("delete", "Eleve", "3", None))
    # a set that stops at an early type: its other files still come after the cursor
    feed = read(tmp_path, since="ENT_TEST_Delta_20260902_PersEducNat_0001.xml")
    assert [i.key for i in feed.items] == ["jnt:1", "jnt:3"]
    assert json.loads(feed.cursor) == {"ENT_TEST": "ENT_TEST_Delta_20260903_Eleve_0001.xml"}
    lost = read(tmp_path, since="nonsense")
    assert [i.key for i in lost.items] == ["jnt:2", "jnt:1", "jnt:3"]
    assert lost.notes[0] == "cursor 'nonsense' is not understood: read as if there were none"


def test_auto_mode_prefers_a_new_complet(small_aaf, tmp_path):
    for f in small_aaf.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    delta(tmp_path, "20260902", ("delete", "Eleve", "1", None), prefix="ENT_DEMO")
    auto = read(tmp_path, since=json.dumps({"ENT_DEMO": "ENT_DEMO_Delta_20260801_Eleve_0001.xml"}))
    assert auto.complete is True and len(auto.details["files"]) == 6
    assert not any(isinstance(i, PersonDeletion) for i in auto.items)
    assert auto.notes == [
        "1 Delta file(s) after the Complet are left for the next run: ENT_DEMO_Delta_20260902 (1 file)"]
    following = read(tmp_path, since=auto.cursor)  # the Complet is read: now the Delta after it
    assert (following.complete, [i.key for i in following.items]) == (False, ["jnt:1"])
    deltas = read(tmp_path, mode="delta")
    assert (deltas.complete, [i.key for i in deltas.items]) == (False, ["jnt:1"])
    with pytest.raises(SourceError, match="no AAF Complet file"):
        read(_only_deltas(tmp_path), mode="complet")
    with pytest.raises(SourceError, match="no AAF Delta file"):
        read(small_aaf, mode="delta")


def _only_deltas(directory):
    target = directory / "deltas"
    target.mkdir()
    for f in directory.glob("*Delta*.xml"):
        (target / f.name).write_bytes(f.read_bytes())
    return target
