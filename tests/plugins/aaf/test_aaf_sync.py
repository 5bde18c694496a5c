"""AAF files as académies send them, through `hub sync`: what is stored, and what a Complet left behind cannot undo."""

from __future__ import annotations

from aaf_files import records

from hub.model import NomenclatureKind, PersonKind
from plugins.aaf import writer


def events(hub_env) -> list[str]:
    return [row.reason for row in hub_env.rows("select reason from run_event order by id")]


def test_the_demo_stores_functions_principals_and_dictionaries(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    staff = records(hub_env.aaf_dir, "PersEducNat")
    assert hub_env.scalar("select count(*) from person_function") == len(staff) > 0
    assert hub_env.scalar(
        "select count(*) from person_function f join person p on p.id = f.person_id "
        "where p.kind = :k and f.code = 'ENS' and f.uai = p.uai", k=PersonKind.ENSEIGNANT,
    ) == hub_env.scalar("select count(*) from person where kind = :k", k=PersonKind.ENSEIGNANT)  # fmt: skip
    principals = sum(len(attrs.get("ENTAuxEnsClassesPrincipal", [])) for _, attrs in staff)
    assert principals > 0
    assert hub_env.scalar("select count(*) from teaching_assignment where principal") == principals
    for kind in NomenclatureKind:
        assert hub_env.scalar("select count(*) from nomenclature where kind = :k", k=kind) == len(
            writer.demo_nomenclature(kind))
    assert hub_env.scalar("select label from nomenclature where kind = 'mef' and code = '10010012110'") == "6EME"


SCHOOL = {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège Jules Ferry",
          "ENTStructureTypeStruct": "COLLEGE", "ENTStructureClasses": ["6A$6e A"]}  # fmt: skip
ZONE = {"ENTStructureUAI": "0000000V", "ENTStructureNomCourant": "Zone de remplacement",
        "ENTStructureTypeStruct": "Z.REMP"}  # fmt: skip


def test_a_pseudo_structure_is_stored_marked_with_its_staff(hub_env):
    pupils = [("add", "Eleve", str(n), {"sn": f"Élève {n}", "givenName": "Léa", "ENTPersonStructRattach": "10151000",
                                        "ENTEleveClasses": "10151000$6A", "ENTPersonDateNaissance": "01/02/2014"})
              for n in range(1, 4)]  # fmt: skip
    writer.write_requests(hub_env.aaf_dir, [
        ("add", "EtabEducNat", "10151000", SCHOOL), ("add", "EtabEducNat", "99", ZONE), *pupils,
        ("add", "PersEducNat", "70", {"sn": "Remplaçant", "givenName": "Paul", "ENTPersonStructRattach": "99",
                                      "ENTPersonFonctions": ["99$ENS$ENSEIGNEMENT$L0422$ANGLAIS",
                                                             "10151000$ENS$ENSEIGNEMENT$L0422$ANGLAIS"],
                                      "ENTAuxEnsClassesMatieres": "10151000$6A$ANGLAIS"}),
    ], flavour="Complet", prefix="ENT_CLERMONT", stamp="20260901")  # fmt: skip
    hub_env.run("sync", "aaf")
    assert hub_env.rows("select uai, pseudo from establishment order by uai") == [("0000000V", True),
                                                                                  ("0151000F", False)]
    assert hub_env.scalar("select uai from person where jointure = '70'") == "0000000V"
    assert hub_env.rows("select f.uai from person_function f join person p on p.id = f.person_id "
                        "where p.jointure = '70' order by f.uai") == [("0000000V",), ("0151000F",)]  # fmt: skip
    assert events(hub_env).count(
        "structure 0000000V fails the UAI check (expected 0000000A): kept as a pseudo-structure") == 1


def test_a_complet_left_beside_deltas_does_not_undo_them(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    (pupil, attrs), (leaving, _) = records(hub_env.aaf_dir, "Eleve")[:2]
    teacher, staff = records(hub_env.aaf_dir, "PersEducNat")[0]
    school = staff["ENTPersonStructRattach"][0]
    writer.write_delta(hub_env.aaf_dir, [  # the same feed as the Complet
        ("modify", "Eleve", pupil, {"sn": "NOUVEAU-NOM", "ENTEleveBoursier": "O"}),
        ("modify", "PersEducNat", teacher, {"ENTPersonFonctions": f"{school}$DIR$DIRECTION", "mobile": "0600000000"}),
    ], prefix="ENT_DEMO", stamp="20260915")  # fmt: skip
    writer.write_delta(hub_env.aaf_dir, [("delete", "Eleve", leaving, None)], prefix="ENT1D-CLERMONT",
                       stamp="20260910")  # fmt: skip
    hub_env.run("sync", "aaf")
    counts = hub_env.counts()
    assert (counts.get("person.update"), counts.get("person.delete")) == (2, 1), counts
    assert hub_env.scalar("select last_name from person where jointure = :j", j=pupil) == "NOUVEAU-NOM"
    assert hub_env.rows("select f.code from person_function f join person p on p.id = f.person_id "
                        "where p.jointure = :j", j=teacher) == [("DIR",)]  # fmt: skip
    assert "2 modifications of unmodelled attributes ignored (ENTEleveBoursier: 1, mobile: 1)" in events(hub_env)

    hub_env.run("sync", "aaf")  # the Complet is still in the folder: it must not bring the old name back
    assert not any(k.startswith("person.") for k in hub_env.counts())
    assert hub_env.scalar("select last_name from person where jointure = :j", j=pupil) == "NOUVEAU-NOM"
    assert hub_env.scalar("select status from person where jointure = :j", j=leaving) == "pending_deletion"
    assert attrs["sn"][0] != "NOUVEAU-NOM"
