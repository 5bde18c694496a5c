"""ONDE as the écoles really export it: a folder per école, three Windows-1252 files, no INE, no UAI.

The fixtures are written here (see onde_exports.py) and read through the hook, as the core reads them.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter

import pytest
from onde_exports import FOLDER, UAI, eleve, enseignant, header_line, line, responsable, write_ecole

from hub.demo import generate_academie
from hub.errors import SourceError
from hub.model import (
    Establishment,
    EstablishmentKind,
    Function,
    GroupKind,
    Guardianship,
    Notice,
    Person,
    PersonKind,
    Rejected,
    TeachingAssignment,
)
from hub.sync.stage import normalize_establishment, normalize_person
from plugins.onde import writer
from plugins.onde.hookimpl import Settings, hub_read_directory, hub_write_demo
from plugins.onde.reader import parse_niveau

ELEVES = f"{FOLDER}/CSVExtraction-eleves.csv"
RESPONSABLES = f"{FOLDER}/CSVExtraction-responsables.csv"
ENSEIGNANTS = f"{FOLDER}/CSVExtraction-enseignants.csv"


def read(path, **settings):
    feed = hub_read_directory(settings=Settings(path=path, school_year=2026, **settings), since=None, uai=None)
    feed.items = list(feed.items)
    return feed


def of(items, kind) -> list:
    if isinstance(kind, PersonKind):
        return [i for i in items if isinstance(i, Person) and i.kind == kind]
    return [i for i in items if isinstance(i, kind)]


def ecole_of_three(root, **options):
    """Two siblings, a namesake in another class, two parents; a directeur without class and two teachers."""
    return write_ecole(root, [
        eleve("Lecœur", "Françoise", classe="CE2 Mme Martin"),
        eleve("Lecœur", "Gaëtan", born="2018-09-01", niveau="CP", classe="CP M. Roux"),
        eleve("Lecœur", "Françoise", born="2014-02-02", niveau="CM2", classe="CM2"),
    ], [
        responsable("Lecœur", "Hélène", ("Lecœur", "Françoise", "CE2 Mme Martin"), ("Lecœur", "Gaëtan", "CP M. Roux"),
                    courriel="helene.lecoeur@example.fr"),
        responsable("Durand", "Paul", ("Lecœur", "Gaëtan", "CP M. Roux"), usage="", portable="06 12 34 56 78"),
        responsable("Lecœur", "Marc", ("Lecœur", "Françoise", "CM2")),
    ], [
        enseignant("Martin", "Anne", courriel="anne.martin@ac-clermont.fr", classe="CE2 Mme Martin"),
        enseignant("Roux", "Jean", courriel="jean.roux@ac-clermont.fr", classe="CP M. Roux"),
        enseignant("Roux", "Jean", courriel="jean.roux@ac-clermont.fr", classe="CM2"),
        enseignant("Bonnet", "Lise", directeur="OUI"),
    ], **options)  # fmt: skip


def test_an_ecole_folder_is_read_whole_with_its_three_files(tmp_path):
    ecole_of_three(tmp_path)
    feed = read(tmp_path)
    items = feed.items
    assert not of(items, Rejected) and not of(items, Notice)
    (school,) = of(items, Establishment)
    assert (school.uai, school.name, school.kind) == (UAI, "École Jules Ferry", EstablishmentKind.ECOLE)
    assert [(g.code, g.kind) for g in school.groups] == [(c, GroupKind.DIVISION) for c in
                                                          ("CE2 Mme Martin", "CP M. Roux", "CM2")]  # fmt: skip
    pupils = of(items, PersonKind.ELEVE)
    assert [(p.first_name, p.uai, p.ine, p.enrollment.niveau, p.enrollment.division) for p in pupils] == [
        ("Françoise", UAI, None, "CE2", "CE2 Mme Martin"), ("Gaëtan", UAI, None, "CP", "CP M. Roux"),
        ("Françoise", UAI, None, "CM2", "CM2"),
    ]  # fmt: skip
    assert all(p.key == f"jnt:{p.jointure}" and p.jointure.startswith("onde-") for p in pupils)
    assert len({p.jointure for p in pupils}) == 3  # the namesakes differ by birth date: two pupils, never one
    helene, paul, marc = of(items, PersonKind.PARENT)
    assert (helene.email, paul.last_name, paul.email) == ("helene.lecoeur@example.fr", "Durand", None)
    assert [p.guardians for p in pupils] == [
        (Guardianship(f"jnt:{helene.jointure}", 1),),
        (Guardianship(f"jnt:{helene.jointure}", 1), Guardianship(f"jnt:{paul.jointure}", 2)),
        (Guardianship(f"jnt:{marc.jointure}", 1),),
    ]
    martin, roux, bonnet = of(items, PersonKind.ENSEIGNANT)
    assert martin.functions == (Function(UAI, "ENS"),) and martin.uai == UAI
    assert martin.assignments == (TeachingAssignment(UAI, "CE2 Mme Martin"),)
    assert roux.assignments == (TeachingAssignment(UAI, "CP M. Roux"), TeachingAssignment(UAI, "CM2"))
    assert bonnet.functions == (Function(UAI, "ENS"), Function(UAI, "DIR", "DIRECTION")) and bonnet.assignments == ()
    assert all(t.jointure.startswith("onde-ens-") for t in (martin, roux, bonnet))
    assert feed.records == 3 + 3 + 4
    assert "Windows-1252: CSVExtraction-eleves.csv" not in feed.description  # files are named with their folder
    assert f"Windows-1252: {ELEVES}, {RESPONSABLES}, {ENSEIGNANTS}" in feed.description
    # parents come before the pupils that name them, the école before everyone
    order = [type(i).__name__ + (f":{i.kind}" if isinstance(i, Person) else "") for i in items]
    assert order.index("Establishment") < order.index("Person:parent") < order.index("Person:eleve")
    assert max(i for i, k in enumerate(order) if k == "Person:parent") < order.index("Person:eleve")
    for item in items:  # the core accepts every item
        assert normalize_person(item) if isinstance(item, Person) else normalize_establishment(item)


def test_keys_are_stable_whatever_the_spelling_and_quoting(tmp_path):
    first = read(ecole_of_three(tmp_path / "a").parent).items
    write_ecole(tmp_path / "b", [
        eleve("LECOEUR", "FRANCOISE", born="14/03/2016", classe="CE2 Mme Martin"),
    ], [responsable("LECŒUR", "Hélène", ("LECOEUR", "Françoise", "ce2  mme martin"),
                    courriel="Helene.Lecoeur@example.fr")], quoting=csv.QUOTE_ALL)  # fmt: skip
    second = read(tmp_path / "b").items
    assert of(second, PersonKind.ELEVE)[0].jointure == of(first, PersonKind.ELEVE)[0].jointure
    assert of(second, PersonKind.PARENT)[0].jointure == of(first, PersonKind.PARENT)[0].jointure
    assert of(second, PersonKind.ELEVE)[0].guardians == of(first, PersonKind.ELEVE)[0].guardians


def test_the_single_file_layout_gives_the_same_jointure_beside_the_ine(tmp_path):
    """The jointure is set with an INE too: it is how the core knows the pupil when the INE arrives later."""
    write_ecole(tmp_path / "extraction", [eleve("Lecœur", "Françoise", usage="Martin")])
    row = {"UAI école": UAI, "INE": "0000000001B", "Nom élève": "Lecœur", "Nom d'usage élève": "Martin",
           "Prénom élève": "Françoise", "Date naissance": "14/03/2016", "Niveau": "CE2", "Classe": "CE2 Mme Martin"}
    (tmp_path / "single").mkdir()
    writer.write_file(tmp_path / "single" / "ONDE.csv", [[row.get(h, "") for h in writer.HEADER]])
    (without,) = of(read(tmp_path / "extraction").items, PersonKind.ELEVE)
    (with_ine,) = of(read(tmp_path / "single").items, PersonKind.ELEVE)
    assert without.key == f"jnt:{without.jointure}" and with_ine.key == "ine:0000000001B"
    assert with_ine.jointure == without.jointure and without.last_name == with_ine.last_name == "Martin"


def test_kinds_are_told_by_name_in_any_case_or_by_header(tmp_path):
    folder = ecole_of_three(tmp_path, folder=f"{UAI}_Jules_Ferry")
    (folder / "CSVExtraction-eleves.csv").rename(folder / "csvextraction-ELEVES.CSV")
    (folder / "CSVExtraction-responsables.csv").rename(folder / "parents.csv")
    (folder / "CSVExtraction-enseignants.csv").rename(folder / "maitres.csv")
    items = read(tmp_path).items
    assert of(items, Establishment)[0].name == "Jules Ferry"
    counts = Counter(i.kind for i in of(items, Person))
    assert counts == {PersonKind.ELEVE: 3, PersonKind.PARENT: 3, PersonKind.ENSEIGNANT: 3}
    assert all(p.guardians for p in of(items, PersonKind.ELEVE))


def test_a_folder_named_by_the_uai_alone_yields_no_establishment_and_path_may_be_that_folder(tmp_path):
    folder = ecole_of_three(tmp_path, folder=UAI)
    for path in (tmp_path, folder):
        items = read(path).items
        assert not of(items, Establishment)  # the école must be known already (AAF)
        assert {p.uai for p in of(items, PersonKind.ELEVE)} == {UAI}


def test_children_are_linked_by_names_and_class_never_by_guess(tmp_path):
    write_ecole(tmp_path, [
        eleve("Petit", "Léa", classe="CP A"), eleve("Petit", "Léa", born="2016-05-05", classe="CP A"),
        eleve("Petit", "Léa", born="2016-06-06", classe="CP B"), eleve("Morel", "Tom", usage="Bernard", classe="CP B"),
    ], [
        responsable("Petit", "Anne", ("Petit", "Léa", "CP A")),  # two Léa Petit in CP A: ambiguous
        responsable("Petit", "Luc", ("Petit", "Léa", "CP B")),  # one in CP B
        responsable("Bernard", "Eve", ("Bernard", "Tom", "CP B")),  # by the usage name
        responsable("Roy", "Max", ("Roy", "Zoé", "CP A"), ("Petit", "Léa", "CM2")),  # not in the école
    ])  # fmt: skip
    items = read(tmp_path).items
    anne, luc, eve, max_ = of(items, PersonKind.PARENT)
    pupils = of(items, PersonKind.ELEVE)
    assert [[g.parent_key for g in p.guardians] for p in pupils] == [
        [], [], [f"jnt:{luc.jointure}"], [f"jnt:{eve.jointure}"]
    ]
    notices = [(n.source_ref, n.key, n.reason) for n in of(items, Notice)]
    assert notices == [
        (f"{RESPONSABLES}:2", f"jnt:{anne.jointure}",
         f"child 1 'Léa Petit' of class 'CP A' fits 2 pupils ({ELEVES}:2, {ELEVES}:3): not linked"),
        (f"{RESPONSABLES}:5", f"jnt:{max_.jointure}",
         "child 1 'Zoé Roy' of class 'CP A' is not among the école's pupils: not linked"),
        (f"{RESPONSABLES}:5", f"jnt:{max_.jointure}",
         "child 2 'Léa Petit' of class 'CM2' is not among the école's pupils: not linked"),
    ]  # fmt: skip


@pytest.mark.parametrize(("label", "code"), [
    ("TPS", "TPS"), ("Toute petite section", "TPS"), ("PS", "PS"), ("MS", "MS"), ("GS", "GS"), ("CP", "CP"),
    ("CE1", "CE1"), ("CE2", "CE2"), ("CM1", "CM1"), ("CM2", "CM2"), ("CLIS", "ULIS"), ("ULIS école", "ULIS"),
    ("ULIS", "ULIS"), ("UPE2A", "UPE2A"), ("Unité pédagogique pour élèves allophones arrivants", "UPE2A"),
    ("Classe pour l'inclusion scolaire", "ULIS"), ("SEGPA", None),
])  # fmt: skip
def test_levels_of_the_premier_degre(label, code):
    assert parse_niveau(label) == code


def test_an_unknown_level_keeps_the_pupil_without_one_and_missing_identity_rejects(tmp_path):
    write_ecole(tmp_path, [
        eleve("Petit", "Léa", niveau="CLIS"), eleve("Morel", "Tom", niveau="NIVEAU X"), eleve("Roy", "", niveau="CP"),
        eleve("Blanc", "Ana", born=""),
    ])  # fmt: skip
    items = read(tmp_path).items
    assert [(p.first_name, p.enrollment.niveau) for p in of(items, PersonKind.ELEVE)] == [("Léa", "ULIS"),
                                                                                         ("Tom", "")]  # fmt: skip
    (notice,) = of(items, Notice)
    assert notice.source_ref == f"{ELEVES}:3" and "unknown niveau 'NIVEAU X'" in notice.reason
    assert [(r.source_ref, r.reason) for r in of(items, Rejected)] == [
        (f"{ELEVES}:4", "missing first name"), (f"{ELEVES}:5", "missing birth date"),
    ]  # fmt: skip


def test_rows_mixing_utf8_and_windows_1252_each_read_right(tmp_path):
    folder = write_ecole(tmp_path, [], [], [])
    (folder / "CSVExtraction-eleves.csv").write_bytes(
        header_line() + line(eleve("Lecœur", "François"), "cp1252") + line(eleve("Bénézit", "Gaëtan"), "utf-8")
    )
    feed = read(tmp_path)
    assert [(p.last_name, p.first_name) for p in of(feed.items, PersonKind.ELEVE)] == [
        ("Lecœur", "François"), ("Bénézit", "Gaëtan"),
    ]  # fmt: skip
    assert feed.details["encodings"][ELEVES] == "UTF-8 and Windows-1252 lines"
    assert f"{ELEVES}: UTF-8 and Windows-1252 lines, each line decoded on its own" in feed.notes


def test_damaged_lines_are_rejected_with_file_line_and_reason(tmp_path):
    folder = write_ecole(tmp_path, [], [], [])
    good = line(eleve("Lecœur", "François"))
    (folder / "CSVExtraction-eleves.csv").write_bytes(
        header_line() + good
        + line(eleve("Bénézit", "FranÃ§ois"), "utf-8")  # 3: UTF-8 read as Latin-1, then saved again
        + header_line()  # 4: files joined
        + b"\xef\xbb\xbf" + line(eleve("Roy", "Zoé"), "utf-8")  # 5: a BOM in the middle
        + line(["Morel", *eleve("Morel", "Tom")[:-1], "Passage en CM1"])  # 6: shifted by one column
        + line(eleve("Morel", "Tom")[:-4])  # 7: short
        + line(eleve("Blanc", "Ana")).replace(b"Ana", b"A\x81\x8d")  # 8: neither UTF-8 nor Windows-1252
        + good.replace(b"Fran", b"Jean-Fran")  # 9
    )  # fmt: skip
    feed = read(tmp_path)
    width = len(writer.ELEVES_HEADER)
    rejected = [(r.source_ref, r.reason) for r in of(feed.items, Rejected)]
    assert rejected == [
        (f"{ELEVES}:3", "the line holds 'Ã§', UTF-8 already misread as Latin-1 (mojibake): export the file again"),
        (f"{ELEVES}:4", "the header line again (files joined?)"),
        (f"{ELEVES}:5", "the line holds a byte order mark (BOM) in the middle of the file (files joined?)"),
        (f"{ELEVES}:6", f"{width + 1} fields where the header has {width}"),
        (f"{ELEVES}:7", f"{width - 4} fields where the header has {width}"),
        (f"{ELEVES}:8", "the line is neither UTF-8 nor Windows-1252 (byte 0x81 at column 9)"),
    ]
    assert [p.first_name for p in of(feed.items, PersonKind.ELEVE)] == ["François", "Jean-François"]
    assert not any("Ã" in p.first_name for p in of(feed.items, Person))
    assert feed.records == 8


def test_a_damaged_responsables_or_enseignants_line_is_rejected_too(tmp_path):
    folder = ecole_of_three(tmp_path)
    path = folder / "CSVExtraction-responsables.csv"
    path.write_bytes(path.read_bytes() + line(responsable("Petit", "AndrÃ©", ("Lecœur", "Gaëtan", "CP M. Roux")),
                                                "utf-8")[:-2] + b";;;;\r\n")  # fmt: skip
    path = folder / "CSVExtraction-enseignants.csv"
    path.write_bytes(path.read_bytes() + b";Sans;Sans\r\n")
    items = read(tmp_path).items
    assert [(r.source_ref, r.reason.split(",")[0]) for r in of(items, Rejected)] == [
        (f"{RESPONSABLES}:5", "the line holds 'Ã©'"), (f"{ENSEIGNANTS}:6", "3 fields where the header has 13"),
    ]  # fmt: skip
    assert len(of(items, PersonKind.PARENT)) == 3 and len(of(items, PersonKind.ENSEIGNANT)) == 3


def test_an_invalid_email_is_left_out_with_a_notice_and_the_person_kept(tmp_path):
    write_ecole(tmp_path, [eleve("Petit", "Léa", classe="CP A")], [
        responsable("Petit", "Anne", ("Petit", "Léa", "CP A"), courriel="anne.petit@@example.fr"),
    ], [enseignant("Roux", "Jean", courriel="jean roux@ac-clermont.fr", classe="CP A")])  # fmt: skip
    row = {"UAI école": "0151002H", "INE": "0000000001B", "Nom élève": "Roy", "Prénom élève": "Zoé",
           "Date naissance": "14/03/2016", "Niveau": "CE2", "Classe": "CE2", "Nom responsable 1": "Roy",
           "Prénom responsable 1": "Max", "Courriel responsable 1": "max.roy@"}  # fmt: skip
    writer.write_file(tmp_path / "ONDE_0151002H.csv", [[row.get(h, "") for h in writer.HEADER]])
    items = read(tmp_path).items
    assert [(p.first_name, p.email) for p in of(items, Person) if p.kind != PersonKind.ELEVE] == [
        ("Max", None), ("Anne", None), ("Jean", None),
    ]  # fmt: skip
    notices = [(n.source_ref, n.reason.split(":")[0]) for n in of(items, Notice)]
    assert notices == [
        ("ONDE_0151002H.csv:2", "responsable 1"),
        (f"{RESPONSABLES}:2", "e-mail 'anne.petit@@example.fr' left out"),
        (f"{ENSEIGNANTS}:2", "e-mail 'jean roux@ac-clermont.fr' left out"),
    ]
    assert all(p.guardians for p in of(items, PersonKind.ELEVE))


def test_an_ecole_whose_pupils_file_has_only_its_header_yields_nothing(tmp_path):
    ecole_of_three(tmp_path)
    (tmp_path / FOLDER / "CSVExtraction-eleves.csv").write_bytes(header_line())
    writer.write_file(tmp_path / "ONDE_0151002H.csv", [])  # a single file with its header only
    feed = read(tmp_path)
    assert feed.items == []
    assert f"{FOLDER}: no pupil ({ELEVES}): nothing read from it" in feed.notes
    assert "ONDE_0151002H.csv: no pupil (ONDE_0151002H.csv): nothing read from it" in feed.notes


def test_layouts_coexist_and_strays_are_noted(tmp_path):
    ecole_of_three(tmp_path)
    row = {"UAI école": "0151002H", "Nom école": "École du Bourg", "INE": "0000000001B", "Nom élève": "Roy",
           "Prénom élève": "Zoé", "Date naissance": "14/03/2016", "Niveau": "CE2", "Classe": "CE2"}  # fmt: skip
    writer.write_file(tmp_path / "ONDE_0151002H.csv", [[row.get(h, "") for h in writer.HEADER]])
    (tmp_path / "archives").mkdir()
    (tmp_path / "archives" / "old.csv").write_text("x")
    (tmp_path / "lisez-moi.txt").write_text("x")
    (tmp_path / FOLDER / "export.pdf").write_bytes(b"%PDF")
    feed = read(tmp_path)
    assert [e.uai for e in of(feed.items, Establishment)] == ["0151002H", UAI]
    assert Counter(p.uai for p in of(feed.items, PersonKind.ELEVE)) == {"0151002H": 1, UAI: 3}
    assert (f"ignored (not a *.csv file or an école folder named by its UAI): archives/, lisez-moi.txt, "
            f"{FOLDER}/export.pdf") in feed.notes  # fmt: skip
    assert feed.records == 1 + 3 + 3 + 4


def test_a_missing_file_of_the_extraction_is_noted(tmp_path):
    (ecole_of_three(tmp_path) / "CSVExtraction-enseignants.csv").unlink()
    feed = read(tmp_path)
    assert f"école {FOLDER}: no CSVExtraction-enseignants.csv" in feed.notes
    assert not of(feed.items, PersonKind.ENSEIGNANT) and of(feed.items, PersonKind.ELEVE)


def test_a_responsables_file_outside_an_ecole_folder_stops_the_read(tmp_path):
    folder = ecole_of_three(tmp_path)
    (folder / "CSVExtraction-responsables.csv").rename(tmp_path / "CSVExtraction-responsables.csv")
    with pytest.raises(SourceError, match="a responsables export belongs in its école's folder, named by"):
        read(tmp_path)


def test_a_teacher_of_two_ecoles_is_one_person(tmp_path):
    roux = {"courriel": "jean.roux@ac-clermont.fr"}
    write_ecole(tmp_path, [eleve("Petit", "Léa", classe="CP")], [], [enseignant("Roux", "Jean", classe="CP", **roux)])
    director = enseignant("Roux", "Jean", directeur="oui", **roux)
    write_ecole(tmp_path, [eleve("Roy", "Zoé", classe="CM2")], [], [director], folder="0151002H École du Bourg")
    (teacher,) = of(read(tmp_path).items, PersonKind.ENSEIGNANT)
    assert teacher.uai == UAI and teacher.assignments == (TeachingAssignment(UAI, "CP"),)
    assert teacher.functions == (Function(UAI, "ENS"), Function("0151002H", "ENS"),
                                 Function("0151002H", "DIR", "DIRECTION"))  # fmt: skip


@pytest.fixture(scope="module")
def academie():
    return generate_academie(persons=2000, seed=5, school_year=2026)


def test_the_extraction_demo_round_trips(academie, tmp_path):
    files = hub_write_demo(settings=Settings(path=tmp_path, demo_layout="extraction"), academie=academie,
                           directory=None)  # fmt: skip
    ecoles = [e for e in academie.establishments if e.kind == EstablishmentKind.ECOLE]
    assert sorted({f.parent.name for f in files}) == sorted(f"{e.uai} {e.name}" for e in ecoles)
    header = files[0].read_bytes().split(b"\r\n")[0].decode("cp1252")
    assert header.startswith("Nom Elève;Nom d'usage Elève;") and "INE" not in header
    feed = read(tmp_path)
    assert not of(feed.items, Rejected)
    assert [dataclasses.replace(e, source_ref="") for e in of(feed.items, Establishment)] == [
        dataclasses.replace(e, secteur_college=None, commune="") for e in ecoles  # ONDE knows neither
    ]
    generated = [p for p in academie.persons_of(PersonKind.ELEVE) if p.enrollment.uai in {e.uai for e in ecoles}]
    pupils = of(feed.items, PersonKind.ELEVE)

    def seen(p):
        return p.uai, p.last_name, p.first_name, p.birth_date, p.enrollment.niveau, p.enrollment.division

    assert Counter(map(seen, pupils)) == Counter(map(seen, generated))
    # each child is linked to the generated parents, in the same order (ranks)
    parents = {f"jnt:{p.jointure}": p for p in of(feed.items, PersonKind.PARENT)}
    generated_parents = {f"jnt:{p.jointure}": p for p in academie.persons_of(PersonKind.PARENT)}

    def family(p, known):
        return tuple((known[g.parent_key].first_name, known[g.parent_key].email, g.rank) for g in p.guardians)

    # two children of one name in one class (the demo has such namesakes) cannot be told apart by a
    # responsable's row: they get no parent and a notice each, never a guess
    names = Counter((p.uai, p.last_name, p.first_name, p.enrollment.division) for p in generated)
    ambiguous = {seen(p) for p in generated if names[p.uai, p.last_name, p.first_name, p.enrollment.division] > 1}
    assert {seen(p): family(p, parents) for p in pupils} == {
        seen(p): () if seen(p) in ambiguous else family(p, generated_parents) for p in generated}
    notices = of(feed.items, Notice)
    assert bool(notices) == bool(ambiguous)
    assert all(any(f"'{first} {last}' of class '{division}' fits 2 pupils" in n.reason
                   for _, last, first, _, _, division in ambiguous) for n in notices)
    teachers = of(feed.items, PersonKind.ENSEIGNANT)
    assert sum(1 for t in teachers if Function(t.uai, "DIR", "DIRECTION") in t.functions) == len(ecoles)
    assert {a.group_code for t in teachers for a in t.assignments} == {g.code for e in ecoles for g in e.groups}
    for item in feed.items:
        if isinstance(item, Person):
            assert normalize_person(item)
