"""ONDE source plugin: exports written by the demo writer or by hand, read back through the hooks."""

from __future__ import annotations

import dataclasses
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.demo import generate_academie
from hub.errors import SourceError
from hub.model import (
    Establishment,
    EstablishmentKind,
    GroupKind,
    Membership,
    Notice,
    Person,
    PersonKind,
    Rejected,
    check_letter,
)
from hub.sync.stage import normalize_establishment, normalize_person
from plugins.onde import writer
from plugins.onde.hookimpl import Settings, hub_read_directory, hub_write_demo
from plugins.onde.reader import division_code, fold_name, parse_niveau

UAI = "0151001G"
HEADER = writer.HEADER


def ine(n: int) -> str:
    digits = f"{n:010d}"
    return digits + check_letter(digits)


def pupil_row(n: int = 1, **values: str) -> list[str]:
    """A row of the writer's header; ``values`` by header name (``_`` for spaces)."""
    row = {
        "UAI école": UAI, "Nom école": "École élémentaire Jules Ferry", "Commune école": "Aurillac",
        "INE": ine(n), "Nom élève": f"Élève{n}", "Nom d'usage élève": "", "Prénom élève": "Chloé",
        "Date naissance": "14/03/2016", "Niveau": "CE2", "Classe": "CE2-CM1 Mme Martin", "Cycle": "2",
        "Nom responsable 1": f"Parent{n}", "Prénom responsable 1": "Hélène", "Lien responsable 1": "MERE",
        "Courriel responsable 1": f"parent{n}@example.fr", "Autorité parentale responsable 1": "Oui",
    }  # fmt: skip
    row.update({k.replace("_", " "): v for k, v in values.items()})
    return [row.get(h, "") for h in HEADER]


def read(path: Path, **settings):
    """Call the source hook as the core does; return the feed with its items listed."""
    feed = hub_read_directory(settings=Settings(path=path, school_year=2026, **settings), since=None, uai=None)
    feed.items = list(feed.items)
    return feed


def of(items, kind=None) -> list:
    if kind is None:
        return [i for i in items if isinstance(i, Establishment)]
    if kind is Rejected:
        return [i for i in items if isinstance(i, Rejected)]
    return [i for i in items if isinstance(i, Person) and i.kind == kind]


@pytest.fixture(scope="module")
def academie():
    return generate_academie(persons=2000, seed=5, school_year=2026)


@pytest.fixture(scope="module")
def demo_dir(academie, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("onde")
    hub_write_demo(settings=Settings(path=directory, demo_layout="ecole"), academie=academie, directory=None)
    return directory


@pytest.mark.parametrize("layout", ["ecole", "circonscription"])
def test_the_demo_round_trips(academie, tmp_path, layout):
    files = hub_write_demo(settings=Settings(path=tmp_path, demo_layout=layout), academie=academie, directory=None)
    ecoles = [e for e in academie.establishments if e.kind == EstablishmentKind.ECOLE]
    if layout == "ecole":
        assert [f.name for f in files] == [f"ONDE_{e.uai}.csv" for e in ecoles]
    else:
        assert len(files) == len({e.secteur_college for e in ecoles})
    feed = read(tmp_path)
    assert feed.complete is True and feed.cursor is None
    assert not of(feed.items, Rejected)
    read_ecoles = of(feed.items)
    # ONDE does not know the secteur; UAI, name, commune, kind and classes are equal
    assert [dataclasses.replace(e, source_ref="") for e in read_ecoles] == [
        dataclasses.replace(e, secteur_college=None) for e in ecoles
    ]
    generated = {p.ine: p for p in academie.persons_of(PersonKind.ELEVE) if p.uai in {e.uai for e in ecoles}}
    pupils = {p.ine: p for p in of(feed.items, PersonKind.ELEVE)}
    assert pupils.keys() == generated.keys()

    def seen(p: Person):
        e = p.enrollment
        return (p.uai, p.ine, p.last_name, p.first_name, p.birth_date, e.niveau, e.division, e.school_year,
                p.memberships, len(p.guardians), [g.rank for g in p.guardians])  # fmt: skip

    assert {k: seen(p) for k, p in pupils.items()} == {k: seen(p) for k, p in generated.items()}
    # every pupil is linked to the same parents (by name and e-mail: ONDE has no parent id)
    parents = {f"jnt:{p.jointure}": p for p in of(feed.items, PersonKind.PARENT)}
    generated_parents = {f"jnt:{p.jointure}": p for p in academie.persons_of(PersonKind.PARENT)}

    def family(p: Person, known: dict) -> list:
        return [(known[g.parent_key].last_name, known[g.parent_key].first_name, known[g.parent_key].email, g.rank)
                for g in p.guardians]  # fmt: skip

    assert {k: family(p, parents) for k, p in pupils.items()} == {
        k: family(p, generated_parents) for k, p in generated.items()
    }
    assert all(p.jointure.startswith("onde-") and "@" in p.email for p in parents.values())
    # one parent per distinct generated parent, except where the demo gives two parents one name and e-mail
    linked = {g.parent_key for p in generated.values() for g in p.guardians}
    identities = {(fold_name(p.last_name), fold_name(p.first_name), p.email) for k, p in generated_parents.items()
                  if k in linked}  # fmt: skip
    assert len(parents) == len(identities) and len(linked) - len(identities) <= 0.01 * len(linked)
    for item in feed.items:  # the core accepts every item
        assert normalize_person(item) if isinstance(item, Person) else normalize_establishment(item)


def test_items_come_establishment_first_then_parents_before_their_child(demo_dir):
    items = read(demo_dir).items
    seen: set[str] = set()
    for item in items:
        if isinstance(item, Establishment):
            seen.add(item.uai)
        elif item.kind == PersonKind.PARENT:
            seen.add(f"jnt:{item.jointure}")
        else:
            assert item.uai in seen and all(g.parent_key in seen for g in item.guardians)


def test_source_ref_is_file_and_line(demo_dir):
    pupils = of(read(demo_dir).items, PersonKind.ELEVE)
    first = sorted(demo_dir.glob("*.csv"))[0].name
    assert [p.source_ref for p in pupils[:3]] == [f"{first}:2", f"{first}:3", f"{first}:4"]


@pytest.mark.parametrize(("encoding", "label", "head"), [
    ("cp1252", "Windows-1252", b"UAI \xe9cole"),
    ("utf-8-sig", "UTF-8 with BOM", b"\xef\xbb\xbfUAI \xc3\xa9cole"),
    ("utf-8", "UTF-8", b"UAI \xc3\xa9cole"),
])  # fmt: skip
def test_encodings_are_detected_and_accents_survive(tmp_path, encoding, label, head):
    path = writer.write_file(tmp_path / f"ONDE_{UAI}.csv", [
        pupil_row(1, **{"Nom élève": "Lecœur", "Prénom élève": "Françoise"}),
        pupil_row(2, **{"Nom élève": "Bénézit", "Prénom élève": "Gaëtan", "Nom responsable 1": "Œuvrard"}),
    ], encoding=encoding)  # fmt: skip
    assert path.read_bytes().startswith(head)
    feed = read(tmp_path)
    assert f"({label}: ONDE_{UAI}.csv)" in feed.description
    assert feed.details["encodings"] == {path.name: label}
    names = [(p.last_name, p.first_name) for p in of(feed.items, PersonKind.ELEVE)]
    assert names == [("Lecœur", "Françoise"), ("Bénézit", "Gaëtan")]
    assert of(feed.items, PersonKind.PARENT)[1].last_name == "Œuvrard"
    assert of(feed.items)[0].name == "École élémentaire Jules Ferry"


def test_mixed_encodings_are_each_described(tmp_path):
    writer.write_file(tmp_path / "ONDE_0151001G.csv", [pupil_row(1)], encoding="cp1252")
    writer.write_file(tmp_path / "ONDE_0151002H.csv", [pupil_row(2, UAI_école="0151002H")], encoding="utf-8-sig")
    feed = read(tmp_path)
    assert "Windows-1252: ONDE_0151001G.csv; UTF-8 with BOM: ONDE_0151002H.csv" in feed.description
    assert len(of(feed.items, PersonKind.ELEVE)) == 2


def test_siblings_share_one_parent_across_files(tmp_path):
    mother = {"Nom responsable 1": "Martin", "Prénom responsable 1": "Hélène",
              "Courriel responsable 1": "h.martin@example.fr"}  # fmt: skip
    father = {"Nom responsable 2": "Martin", "Prénom responsable 2": "Paul",
              "Téléphone responsable 2": "06 12 34 56 78", "Autorité parentale responsable 2": "Oui"}  # fmt: skip
    same_written_otherwise = {
        "Nom responsable 1": "MARTIN ", "Prénom responsable 1": "Helene",
        "Courriel responsable 1": "H.Martin@example.fr", "Nom responsable 2": "Martin",
        "Prénom responsable 2": "Paul", "Téléphone responsable 2": "+33 6 12 34 56 78",
    }  # fmt: skip
    rows = [pupil_row(1, **mother, **father), pupil_row(2, **same_written_otherwise)]
    writer.write_file(tmp_path / f"ONDE_{UAI}.csv", rows)
    other = "0151002H"
    writer.write_file(tmp_path / f"ONDE_{other}.csv", [pupil_row(3, UAI_école=other, **mother)])
    items = read(tmp_path).items
    parents = of(items, PersonKind.PARENT)
    assert [(p.first_name, p.email) for p in parents] == [("Hélène", "h.martin@example.fr"), ("Paul", None)]
    pupils = of(items, PersonKind.ELEVE)
    keys = [tuple((g.parent_key, g.rank) for g in p.guardians) for p in pupils]
    mother_key, father_key = (f"jnt:{p.jointure}" for p in parents)
    assert keys == [((mother_key, 1), (father_key, 2))] * 2 + [((mother_key, 1),)]


def test_namesakes_without_contact_are_kept_apart_by_ecole(tmp_path):
    anonymous = {"Courriel responsable 1": "", "Nom responsable 1": "Martin", "Prénom responsable 1": "Marie"}
    writer.write_file(tmp_path / "ONDE_0151001G.csv", [pupil_row(1, **anonymous), pupil_row(2, **anonymous)])
    writer.write_file(tmp_path / "ONDE_0151002H.csv", [pupil_row(3, UAI_école="0151002H", **anonymous)])
    assert len(of(read(tmp_path).items, PersonKind.PARENT)) == 2


def test_authority_ranks_legal_representatives_and_leaves_others_at_zero(tmp_path):
    row = pupil_row(1, **{"Autorité parentale responsable 1": "Non", "Nom responsable 2": "Durand",
                          "Prénom responsable 2": "Luc", "Courriel responsable 2": "luc@example.fr",
                          "Autorité parentale responsable 2": ""})  # fmt: skip
    (pupil,) = of(read(writer.write_file(tmp_path / f"ONDE_{UAI}.csv", [row]).parent).items, PersonKind.ELEVE)
    assert [g.rank for g in pupil.guardians] == [0, 1]


def test_a_missing_mandatory_column_stops_the_read(tmp_path):
    at = HEADER.index("Date naissance")
    header = [h for h in HEADER if h != "Date naissance"]
    row = pupil_row(1)
    path = writer.write_file(tmp_path / f"ONDE_{UAI}.csv", [row[:at] + row[at + 1 :]], header=header)
    with pytest.raises(SourceError) as error:
        read(tmp_path)
    assert str(path) in str(error.value) and "lacks mandatory column(s) Date naissance" in str(error.value)


def test_no_uai_column_nor_uai_in_the_file_name_stops_the_read(tmp_path):
    header = [h for h in HEADER if h != "UAI école"]
    writer.write_file(tmp_path / "ONDE_circonscription_01.csv", [pupil_row(1)[1:]], header=header)
    with pytest.raises(SourceError, match=r"circonscription_01\.csv: .*UAI école \(or a folder named by the UAI"):
        read(tmp_path)
    (tmp_path / "ONDE_circonscription_01.csv").rename(tmp_path / f"extraction_{UAI.lower()}.csv")
    (pupil,) = of(read(tmp_path).items, PersonKind.ELEVE)
    assert pupil.uai == UAI and pupil.enrollment.uai == UAI


def test_a_comma_separated_file_gets_a_hint(tmp_path):
    writer.write_file(tmp_path / f"ONDE_{UAI}.csv", [pupil_row(1)], delimiter=",")
    with pytest.raises(SourceError, match="is the delimiter ';' right"):
        read(tmp_path)
    assert len(of(read(tmp_path, delimiter=",").items, PersonKind.ELEVE)) == 1


@pytest.mark.parametrize("content", [
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),  # a spreadsheet saved as .csv
    "INE;Nom élève".encode("utf-16"),
    b"INE;Nom \x81\x8d\x8f\x90\x9d",  # neither UTF-8 nor Windows-1252
    b"",
])  # fmt: skip
def test_a_file_that_is_not_csv_text_stops_the_read(tmp_path, content):
    (tmp_path / f"ONDE_{UAI}.csv").write_bytes(content)
    with pytest.raises(SourceError, match=f"ONDE_{UAI}.csv"):
        read(tmp_path)


def test_an_empty_or_missing_folder_stops_the_read(tmp_path):
    with pytest.raises(SourceError, match="no ONDE file"):
        read(tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        read(tmp_path / "absent")


def test_bad_rows_are_rejected_and_the_rest_is_read(tmp_path):
    rows = [
        pupil_row(1),
        pupil_row(2, Niveau="6EME"),
        pupil_row(3, Date_naissance="31/02/2016"),
        pupil_row(4, **{"Nom élève": "", "Nom d'usage élève": " "}),
        pupil_row(5, INE=""),
        pupil_row(6)[:-3],
        pupil_row(7, Niveau="", Classe=""),
        pupil_row(8, **{"Prénom responsable 1": ""}),
        pupil_row(9),
    ]
    writer.write_file(tmp_path / f"ONDE_{UAI}.csv", rows)
    items = read(tmp_path).items
    file = f"ONDE_{UAI}.csv"
    rejected = [(r.source_ref, r.reason, r.key) for r in of(items, Rejected)]
    assert rejected == [
        (f"{file}:4", "birth date '31/02/2016' is not a date (JJ/MM/AAAA)", f"ine:{ine(3)}"),
        (f"{file}:5", "missing last name (Nom d'usage élève / Nom élève)", f"ine:{ine(4)}"),
        (f"{file}:7", f"{len(HEADER) - 3} fields where the header has {len(HEADER)}", ""),
        (f"{file}:8", "missing Classe", f"ine:{ine(7)}"),
        (f"{file}:9", "responsable 1: missing last name or first name; the link is left out", ""),
    ]
    pupils = of(items, PersonKind.ELEVE)
    assert [p.ine for p in pupils] == [ine(1), ine(2), None, ine(8), ine(9)]
    # an unknown niveau keeps the pupil without one, with a warning naming the value
    assert pupils[1].enrollment.niveau == "" and pupils[0].enrollment.niveau == "CE2"
    (notice,) = [i for i in items if isinstance(i, Notice)]
    assert (notice.source_ref, notice.key) == (f"{file}:3", f"ine:{ine(2)}")
    assert "unknown niveau '6EME'" in notice.reason
    # without an INE, the pupil is keyed by its jointure
    assert pupils[2].key == f"jnt:{pupils[2].jointure}" and pupils[2].jointure.startswith("onde-")
    assert pupils[3].guardians == ()
    # the representatives of a rejected pupil are still known (their children keep their stored links)
    assert {p.last_name for p in of(items, PersonKind.PARENT)} == {f"Parent{n}" for n in (1, 2, 3, 4, 5, 7, 9)}


def test_header_names_are_matched_whatever_accents_case_and_punctuation(tmp_path):
    header = ["uai ecole", "NOM_ECOLE", "commune de l'école", "Ine", "NOM D’USAGE ÉLÈVE", "nom de famille eleve",
              "PRENOM ELEVE", "Date de naissance", "niveau", " Libellé  classe ", "Nom du responsable légal 1",
              "Responsable 1 - Prénom", "Responsable 1 - E-mail", "Autorite Parentale Resp 1", "Mél responsable 2",
              "NOM RESP. 2", "prénom représentant légal 2"]  # fmt: skip
    row = [UAI, "École primaire", "Mauriac", ine(1), "Usage", "Naissance", "Zoé", "2016-03-14",
           "CM2 - Cours moyen 2e année", " CM1-CM2   Mme Martin ", "Dupont", "Anne", "anne@example.fr", "OUI",
           "jo@example.fr", "Durand", "Jo"]  # fmt: skip
    writer.write_file(tmp_path / "export.csv", [row], header=header, encoding="utf-8")
    items = read(tmp_path).items
    (school,) = of(items)
    assert (school.uai, school.name, school.commune) == (UAI, "École primaire", "Mauriac")
    assert [(g.code, g.label) for g in school.groups] == [("CM1-CM2 Mme Martin", "CM1-CM2 Mme Martin")]
    (pupil,) = of(items, PersonKind.ELEVE)
    assert (pupil.last_name, pupil.first_name, str(pupil.birth_date)) == ("Usage", "Zoé", "2016-03-14")
    assert (pupil.enrollment.niveau, pupil.enrollment.division) == ("CM2", "CM1-CM2 Mme Martin")
    assert pupil.memberships == (Membership(UAI, "CM1-CM2 Mme Martin", GroupKind.DIVISION),)
    assert [(p.last_name, p.first_name, p.email) for p in of(items, PersonKind.PARENT)] == [
        ("Dupont", "Anne", "anne@example.fr"),
        ("Durand", "Jo", "jo@example.fr"),
    ]
    assert [g.rank for g in pupil.guardians] == [1, 2]


def test_column_names_override_a_local_export(tmp_path):
    header = ["Etab", "INE", "Identité", "Prénom élève", "Naissance", "Niveau", "Classe", "Mail parent", "Nom parent",
              "Prénom parent"]  # fmt: skip
    row = [UAI, ine(1), "Dupont", "Léo", "01/09/2016", "CE1", "CE1 A", "p@example.fr", "Dupont", "Marc"]
    writer.write_file(tmp_path / "export.csv", [row], header=header)
    with pytest.raises(SourceError, match="Nom d'usage élève or Nom élève, Date naissance"):
        read(tmp_path)
    names = {"uai": "etab", "birth_name": "IDENTITE", "birth_date": "Naissance", "guardian1_email": "Mail parent",
             "guardian1_last_name": "Nom parent", "guardian1_first_name": "Prénom parent"}  # fmt: skip
    items = read(tmp_path, column_names=names).items
    (pupil,) = of(items, PersonKind.ELEVE)
    assert (pupil.uai, pupil.last_name, str(pupil.birth_date)) == (UAI, "Dupont", "2016-09-01")
    (parent,) = of(items, PersonKind.PARENT)
    assert (parent.first_name, parent.email) == ("Marc", "p@example.fr")
    assert pupil.guardians[0].parent_key == f"jnt:{parent.jointure}"
    assert not of(items)  # no école name column: the école must be known already


def test_column_names_are_checked_and_named_in_the_error(tmp_path):
    with pytest.raises(ValidationError, match="unknown field"):
        Settings(path=tmp_path, column_names={"nom": "Nom"})
    writer.write_file(tmp_path / f"ONDE_{UAI}.csv", [pupil_row(1)])
    with pytest.raises(SourceError, match="classe configured as 'Division'"):
        read(tmp_path, column_names={"classe": "Division"})


@pytest.mark.parametrize(("label", "code"), [
    ("CP", "CP"), ("ce1", "CE1"), ("CE 2", "CE2"), ("C.P.", "CP"), ("CM2 - Cours moyen 2e année", "CM2"),
    ("Cours moyen première année", "CM1"), ("Cours préparatoire", "CP"), ("Cours élémentaire 2ème année", "CE2"),
    ("GS - Grande section", "GS"), ("6EME", None), ("Cours moyen", None), ("", None),
])  # fmt: skip
def test_niveau_labels(label, code):
    assert parse_niveau(label) == code


def test_long_class_labels_get_a_stable_short_code():
    label = "CE2-CM1-CM2 classe unique de M. Jean-Baptiste de La Rochefoucauld (site annexe)"
    code = division_code(label)
    assert len(code) <= 60 and code == division_code(f"  {label} ") and code != division_code(label + "!")


def test_the_pupils_land_in_the_core_the_same_from_both_layouts(academie, demo_dir, tmp_path):
    hub_write_demo(settings=Settings(path=tmp_path, demo_layout="circonscription"), academie=academie, directory=None)
    by_ecole, by_circo = read(demo_dir).items, read(tmp_path).items

    def core(items):
        return Counter(normalize_person(dataclasses.replace(p, source_ref="")).digest()
                       for p in items if isinstance(p, Person))  # fmt: skip

    assert core(by_ecole) == core(by_circo)


@pytest.mark.slow
def test_files_stream_in_constant_memory(tmp_path):
    family = {"Nom responsable 1": "Martin", "Courriel responsable 1": "martin@example.fr"}
    rows = (pupil_row(n, Classe=f"Classe {n % 12}", **family) for n in range(1, 15_001))
    path = writer.write_file(tmp_path / f"ONDE_{UAI}.csv", rows)
    assert path.stat().st_size > 2_000_000
    tracemalloc.start()
    try:
        feed = hub_read_directory(settings=Settings(path=tmp_path, school_year=2026), since=None, uai=None)
        pupils = sum(1 for item in feed.items if isinstance(item, Person) and item.kind == PersonKind.ELEVE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pupils == 15_000
    assert peak < 500_000, peak
