"""A pupil's subjects (AAF ENTEleveCodeEnseignements) reach GAR as GAREleveEnseignement, with their GARMatiere."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import configure
from lxml import etree
from test_gar_delivery import archive_of
from test_gar_export import children, export, files, official

from plugins.aaf import writer

UAI = "0151000F"
SCHOOL = {"ENTStructureUAI": UAI, "ENTStructureNomCourant": "Collège Jules Ferry",
          "ENTStructureTypeStruct": "COLLEGE", "ENTStructureClasses": ["6A$6e A"]}  # fmt: skip
SUBJECTS = {"030201": "ANGLAIS LV1", "020300": "LATIN", "030602": "ESPAGNOL LV2"}


def pupil(jointure: str, codes: list[str]) -> tuple:
    return ("add", "Eleve", jointure, {
        "sn": f"Élève {jointure}", "givenName": "Léa", "ENTPersonStructRattach": "10151000",
        "ENTEleveClasses": "10151000$6A", "ENTEleveMEF": "10010012110", "ENTEleveNivFormation": "6EME",
        "ENTEleveCodeEnseignements": codes, "ENTEleveEnseignements": [SUBJECTS[c] for c in codes],
    })  # fmt: skip


def gar_id(env, jointure: str) -> str:
    return env.scalar(
        "select g.gar_id from gar_person g join person p on p.id = g.person_id where p.jointure = :j", j=jointure
    )


def options(elements, who: str) -> list[str]:
    """The GARMatiereCode of ``who``'s GAREleveEnseignement records."""
    return sorted(
        e.findtext("{*}GARMatiereCode")
        for e in elements
        if etree.QName(e).localname == "GAREleveEnseignement" and e.findtext("{*}GARPersonIdentifiant") == who
    )


def codes(root, section: str) -> set[str]:
    """The GARMatiereCode of the ``section`` records of a file."""
    return {e.findtext("{*}GARMatiereCode") for e in root if etree.QName(e).localname == section}


def test_a_pupils_subjects_are_stored_and_exported_with_their_matieres(hub_env, tmp_path):
    configure(hub_env)
    writer.write_requests(hub_env.aaf_dir, [
        ("add", "EtabEducNat", "10151000", SCHOOL),
        *(("add", "Matiere", code, {"ENTMatJointure": code, "ENTLibelleMatiere": label})
          for code, label in SUBJECTS.items()),
        pupil("1", ["030201", "020300", "030201"]), pupil("2", []),
    ], flavour="Complet", stamp="20260901")  # fmt: skip
    hub_env.run("sync", "aaf")
    stored = dict(hub_env.rows("select p.jointure, e.subjects from enrollment e join person p on p.id = e.person_id"))
    assert stored == {"1": "020300$030201", "2": ""}  # once each, sorted

    out = tmp_path / "out"
    export(hub_env, out, "--uai", UAI)
    for kind in ("Eleve", "Etab"):
        (path,) = files(out, UAI, kind)
        xsd = official("2D")
        assert xsd.validate(etree.parse(str(path))), (path.name, xsd.error_log.last_error)
    eleves = children(out, UAI, "Eleve")
    assert options(eleves, gar_id(hub_env, "1")) == ["020300", "030201"]
    assert options(eleves, gar_id(hub_env, "2")) == []
    (record,) = [e for e in eleves if etree.QName(e).localname == "GAREleveEnseignement"][:1]
    assert [etree.QName(c).localname for c in record] == ["GARStructureUAI", "GARPersonIdentifiant", "GARMatiereCode"]
    assert record.findtext("{*}GARStructureUAI") == UAI
    matieres = {
        e.findtext("{*}GARMatiereCode"): e.findtext("{*}GARMatiereLibelle")
        for e in children(out, UAI, "Etab")
        if etree.QName(e).localname == "GARMatiere"
    }
    assert matieres == {"020300": "LATIN", "030201": "ANGLAIS LV1"}  # labels from the subject nomenclature


def test_a_changed_option_is_planned_as_an_update(hub_env):
    writer.write_requests(hub_env.aaf_dir, [("add", "EtabEducNat", "10151000", SCHOOL), pupil("1", ["030201"])],
                          flavour="Complet", stamp="20260901")  # fmt: skip
    hub_env.run("sync", "aaf")
    for path in hub_env.aaf_dir.glob("*Complet*"):
        path.unlink()
    writer.write_delta(hub_env.aaf_dir, [("modify", "Eleve", "1", {"ENTEleveCodeEnseignements": ["030602", "030201"],
                                                                    "ENTEleveEnseignements": ["ESPAGNOL LV2"]})],
                       stamp="20260915")  # fmt: skip
    hub_env.run("sync", "aaf", "--dry-run")
    planned = hub_env.rows("select entity, op, key from plan_change where run_id = (select max(id) from run)")
    assert planned == [("person", "update", "jnt:1")]
    hub_env.run("sync", "aaf")
    assert hub_env.scalar("select subjects from enrollment") == "030201$030602"
    assert not hub_env.rows("select reason from run_event where level = 'warning' and reason like '%Enseignements%'")


@pytest.mark.slow
def test_the_demo_pupils_options_reach_gar_and_a_change_goes_with_the_next_delta(delivering, sftp_server):
    delivering.run("gar", "deliver", "--mode", "complet")
    complet = archive_of(sftp_server, "Complet")
    xsd = official("2D")
    eleves = [e for name, root in complet.items() if "_2D_Eleve_" in name for e in root]
    assert Counter(etree.QName(e).localname for e in eleves)["GAREleveEnseignement"] > 0
    for name, root in complet.items():
        if "_2D_" in name:
            assert xsd.validate(root), (name, xsd.error_log.last_error)
    # every subject a pupil follows has its GARMatiere in the establishment's Etab file
    for name, root in complet.items():
        if "_2D_Eleve_" in name:
            etab = next(r for n, r in complet.items() if f"_{name.split('_')[5]}_2D_Etab_" in n)
            assert codes(root, "GAREleveEnseignement") <= codes(etab, "GARMatiere")

    jointure, uai = delivering.rows(
        "select p.jointure, p.uai from person p join enrollment e on e.person_id = p.id "
        "join establishment s on s.uai = p.uai where s.kind = 'college' and e.subjects <> '' order by p.person_key"
    )[0]
    for path in delivering.aaf_dir.glob("*Complet*"):
        path.unlink()
    writer.write_delta(delivering.aaf_dir, [("modify", "Eleve", jointure, {"ENTEleveCodeEnseignements": ["SES"]})],
                       stamp="20260915")  # fmt: skip
    delivering.run("sync", "aaf")
    delivering.run("gar", "deliver")
    delta = archive_of(sftp_server, "Delta")
    eleves = [e for name, root in delta.items() if "_Eleve_" in name for e in root]
    who = gar_id(delivering, jointure)
    assert [e.findtext("{*}GARPersonIdentifiant") for e in eleves if etree.QName(e).localname == "GAREleve"] == [who]
    assert options(eleves, who) == ["SES"]
    etab = next(root for name, root in delta.items() if f"_{uai}_2D_Etab_" in name)
    assert "SES" in codes(etab, "GARMatiere")
    for name, root in delta.items():
        if "_2D_" in name:
            assert xsd.validate(root), (name, xsd.error_log.last_error)


def test_a_subject_code_the_store_cannot_keep_rejects_the_pupil_naming_it(hub_env):
    bad = ("add", "Eleve", "3", {**pupil("3", [])[3], "ENTEleveCodeEnseignements": ["0302$01"]})
    writer.write_requests(hub_env.aaf_dir, [("add", "EtabEducNat", "10151000", SCHOOL), pupil("1", ["030201"]), bad],
                          flavour="Complet", stamp="20260901")  # fmt: skip
    hub_env.run("sync", "aaf")
    assert hub_env.rows("select jointure from person") == [("1",)]
    (reason,) = [r for (r,) in hub_env.rows("select reason from run_event") if "0302$01" in r]
    assert "subject code '0302$01'" in reason
