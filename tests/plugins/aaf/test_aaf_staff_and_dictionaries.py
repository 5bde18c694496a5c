"""What the AAF says of staff (functions, professeur principal, classes without subjects), the subject and
MEF dictionaries, pseudo-structures, and the modifications the hub does not keep."""

from __future__ import annotations

from aaf_files import read

from hub.model import (
    Establishment,
    Function,
    Membership,
    Nomenclature,
    NomenclatureKind,
    Notice,
    Person,
    PersonKind,
    Rejected,
    TeachingAssignment,
)
from hub.sync.normalize import apply_patch
from plugins.aaf import writer

COLLEGE = ("add", "EtabEducNat", "10151000", {"ENTStructureUAI": "0151000F", "ENTStructureNomCourant": "Collège A",
                                              "ENTStructureTypeStruct": "COLLEGE", "ENTStructureClasses": ["6A$6e A"]})
LYCEE = ("add", "EtabEducNat", "10152000", {"ENTStructureUAI": "0152000T", "ENTStructureNomCourant": "Lycée B",
                                            "ENTStructureTypeStruct": "LYCEE"})  # fmt: skip
STAFF = {"sn": "Martin", "givenName": "Anne", "ENTPersonStructRattach": "10151000"}


def complet(directory, *requests):
    writer.write_requests(directory, [COLLEGE, LYCEE, *requests], flavour="Complet")
    return read(directory)


def test_functions_in_each_establishment_and_the_kind_they_give(tmp_path):
    feed = complet(tmp_path,
        ("add", "PersEducNat", "1", {**STAFF, "ENTPersonFonctions": [
            "10151000$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES", "0152000T$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES"]}),
        ("add", "PersEducNat", "2", {**STAFF, "ENTPersonFonctions": ["10151000$DIR$DIRECTION",
                                                                     "10152000$DIR$DIRECTION"]}),
        ("add", "PersEducNat", "3", {**STAFF, "ENTPersonFonctions": "10151000$DOC$DOCUMENTATION$L0080$DOCUMENTATION"}),
        ("add", "PersEducNat", "4", {**STAFF, "ENTPersonFonctions": "99999$EDU$EDUCATION"}),
    )  # fmt: skip
    teacher, head, librarian, rejected = feed.items[2:]
    assert teacher.kind == PersonKind.ENSEIGNANT and teacher.functions == (
        Function("0151000F", "ENS", "ENSEIGNEMENT", "L0202"), Function("0152000T", "ENS", "ENSEIGNEMENT", "L0202"))
    assert head.kind == PersonKind.PERSONNEL and [f.uai for f in head.functions] == ["0151000F", "0152000T"]
    assert librarian.kind == PersonKind.ENSEIGNANT and librarian.functions[0].code == "DOC"
    assert rejected.reason == "unknown structure '99999' in ENTPersonFonctions"


def test_professeur_principal_and_classes_without_subjects(tmp_path):
    feed = complet(tmp_path, ("add", "PersEducNat", "1", {
        **STAFF, "ENTPersonFonctions": "10151000$ENS$ENSEIGNEMENT",
        "ENTAuxEnsClassesMatieres": ["10151000$6A$FRANCAIS", "10151000$6A$LATIN"],
        "ENTAuxEnsGroupesMatieres": [], "ENTAuxEnsClasses": ["10151000$6A", "10151000$6B"],
        "ENTAuxEnsGroupes": "10151000$ULIS", "ENTAuxEnsClassesPrincipal": ["10151000$6A", "10151000$6C"],
    }))  # fmt: skip
    (teacher,) = [i for i in feed.items if isinstance(i, Person)]
    assert teacher.assignments == (
        TeachingAssignment("0151000F", "6A", "FRANCAIS", True), TeachingAssignment("0151000F", "6A", "LATIN", True),
        TeachingAssignment("0151000F", "6B"), TeachingAssignment("0151000F", "ULIS"),
        TeachingAssignment("0151000F", "6C", "", True),
    )  # fmt: skip


def test_subject_and_mef_dictionaries_come_before_the_people(tmp_path):
    feed = complet(tmp_path,
        ("add", "PersEducNat", "1", {**STAFF, "ENTPersonFonctions": "10151000$ENS$ENSEIGNEMENT"}),
        ("add", "Matiere", "030201", {"ENTMatJointure": "030201", "ENTLibelleMatiere": "ANGLAIS LV1",
                                      "ENTMatiereRattach": "030201"}),
        ("add", "Mef", "10010012110", {"ENTMefJointure": "10010012110", "ENTLibelleMef": "6EME",
                                       "ENTMEFRattach": "10010012110", "ENTMEFSTAT11": "10010012110",
                                       "ENTNivFormation": "6EME", "ENTFiliere": "GENERALE"}),
        ("add", "Matiere", "X1", {"ENTMatJointure": "X1"}),
    )  # fmt: skip
    assert [type(i).__name__ for i in feed.items] == [
        "Establishment", "Establishment", "Nomenclature", "Nomenclature", "Rejected", "Person"]  # fmt: skip
    mef, matiere, rejected = feed.items[2:5]
    assert mef == Nomenclature(NomenclatureKind.MEF, "10010012110", "6EME", "10010012110", "6EME", "GENERALE",
                               mef.source_ref)  # fmt: skip
    assert mef.source_ref.endswith("_MefEducNat_0001.xml:4 Mef 10010012110")
    assert matiere == Nomenclature(NomenclatureKind.MATIERE, "030201", "ANGLAIS LV1", "030201",
                                   source_ref=matiere.source_ref)  # fmt: skip
    assert rejected.reason == "missing mandatory attribute ENTLibelleMatiere"
    assert b'<attr name="categorieMef"><value>Mef</value>' in next(tmp_path.glob("*_MefEducNat_0001.xml")).read_bytes()


def test_pseudo_structures_are_kept_with_their_people(tmp_path):
    placeholder = ("add", "EtabEducNat", "99", {"ENTStructureUAI": "0000000V", "ENTStructureNomCourant": "Attente",
                                                "ENTStructureTypeStruct": "Z.REMP", "ENTStructureClasses": "REMP$R"})
    dotted = ("add", "EtabEducNat", "98", {"ENTStructureUAI": "Z.REMP63", "ENTStructureNomCourant": "Zone 63"})
    too_long = ("add", "EtabEducNat", "97", {"ENTStructureUAI": "ZONE-REMP-63", "ENTStructureNomCourant": "Zone"})
    feed = complet(tmp_path, placeholder, dotted, too_long, placeholder,
        ("add", "PersEducNat", "1", {**STAFF, "ENTPersonStructRattach": "99", "ENTPersonFonctions": [
            "99$ENS$ENSEIGNEMENT", "Z.REMP63$ENS$ENSEIGNEMENT"], "ENTAuxEnsClassesMatieres": "99$REMP$ANGLAIS"}),
        ("add", "Eleve", "2", {"sn": "A", "givenName": "B", "ENTEleveClasses": "0000000V$REMP"}),
    )  # fmt: skip
    notices = [i for i in feed.items if isinstance(i, Notice)]
    assert [n.reason for n in notices] == [  # one per structure, however often it comes
        "structure 0000000V fails the UAI check (expected 0000000A): kept as a pseudo-structure",
        "structure Z.REMP63 fails the UAI check (UAI 'Z.REMP63' is not 7 digits and a letter): "
        "kept as a pseudo-structure",
    ]
    assert notices[0].source_ref.endswith("_EtabEducNat_0001.xml:6 EtabEducNat 99")
    places = [i for i in feed.items if isinstance(i, Establishment)]
    assert [(e.uai, e.pseudo) for e in places] == [
        ("0151000F", False), ("0152000T", False), ("0000000V", True), ("Z.REMP63", True), ("0000000V", True)]
    (rejected,) = [i for i in feed.items if isinstance(i, Rejected)]
    assert rejected.reason == "structure code 'ZONE-REMP-63' is longer than 8 characters and cannot be stored"
    teacher, pupil = [i for i in feed.items if isinstance(i, Person)]
    assert teacher.uai == "0000000V" and [f.uai for f in teacher.functions] == ["0000000V", "Z.REMP63"]
    assert teacher.assignments == (TeachingAssignment("0000000V", "REMP", "ANGLAIS"),)
    assert pupil.uai == "0000000V" and pupil.memberships == (Membership("0000000V", "REMP", "division"),)


def test_delta_patches_functions_and_assignments(tmp_path):
    writer.write_delta(tmp_path, [
        ("modify", "PersEducNat", "1", {"ENTPersonFonctions": ["0151000F$DIR$DIRECTION", "0152000T$ENS$ENSEIGNEMENT"],
                                        "ENTAuxEnsClassesMatieres": "0152000T$2A$ANGLAIS",
                                        "ENTAuxEnsGroupesMatieres": [], "ENTAuxEnsClassesPrincipal": "0152000T$2A"}),
        ("modify", "PersEducNat", "2", {"ENTAuxEnsClassesPrincipal": "0152000T$2A", "ENTAuxEnsClasses": []}),
    ])  # fmt: skip
    patch, partial = read(tmp_path).items
    assert patch.fields == {
        "functions": (Function("0151000F", "DIR", "DIRECTION"), Function("0152000T", "ENS", "ENSEIGNEMENT")),
        "assignments": (TeachingAssignment("0152000T", "2A", "ANGLAIS", True),),
    }
    stored = Person(PersonKind.ENSEIGNANT, "Martin", "Anne", jointure="1", uai="0151000F",
                    assignments=(TeachingAssignment("0151000F", "6A", "FRANCAIS"),))  # fmt: skip
    patched = apply_patch(stored, patch)
    assert (patched.functions, patched.assignments) == (patch.fields["functions"], patch.fields["assignments"])
    assert isinstance(partial, Rejected) and partial.key == "jnt:2" and partial.reason.startswith(
        "ENTAuxEnsClasses, ENTAuxEnsClassesPrincipal alone cannot be applied")


def test_modifications_of_unmodelled_attributes_are_counted(tmp_path):
    writer.write_delta(tmp_path, [
        ("modify", "PersRelEleve", "1", {"mobile": "0600000000", "ENTPersonAdresse": "1 rue A"}),
        ("modify", "PersRelEleve", "2", {"mobile": "0600000001", "sn": "Durand"}),
        ("modify", "Eleve", "3", {"ENTEleveBoursier": "O", "ENTEleveRegime": "DP DAN 4J"}),
        ("delete", "PersRelEleve", "4", None),
    ])  # fmt: skip
    feed = read(tmp_path)
    assert [(type(i).__name__, i.key) for i in feed.items] == [("PersonPatch", "jnt:2"), ("PersonDeletion", "jnt:4")]
    assert feed.records == 4
    assert feed.notes == ["5 modifications of unmodelled attributes ignored "
                          "(mobile: 2, ENTEleveBoursier: 1, ENTEleveRegime: 1, ENTPersonAdresse: 1)"]
