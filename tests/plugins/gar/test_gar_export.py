"""`hub gar export`: the five files per establishment, valid against the official XSDs, minimal, stable ids."""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import configure
from lxml import etree
from sqlalchemy import text

from plugins.gar import roster
from plugins.gar.xmlfiles import InvalidRecord, Leaves, documents, schema, validate

XSD = Path(__file__).parents[3] / "plugins" / "gar" / "xsd"
NS = {"2D": "http://data.education.fr/ns/gar", "1D": "http://data.education.fr/ns/gar/1d"}


def official(degree: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / ("GAR-ENT.xsd" if degree == "2D" else "GAR-ENT-1D.xsd"))))


def files(out: Path, uai: str, kind: str) -> list[Path]:
    return sorted(out.glob(f"*_{uai}_*_{kind}_*.xml"))


def children(out: Path, uai: str, kind: str) -> list[etree._Element]:
    return [child for path in files(out, uai, kind) for child in etree.parse(str(path)).getroot()]


def texts(elements, name: str) -> list[str]:
    return [e.text for element in elements for e in element.iter(f"{{*}}{name}")]


def execute(env, sql: str, **params) -> None:
    engine = env.engine()
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


def export(env, out: Path, *args: str, expect: int = 0):
    return env.run("gar", "export", "--out", str(out), *args, expect=expect)


def first(env, kind: str) -> str:
    return env.scalar("select min(uai) from establishment where kind = :k", k=kind)


def test_a_college_and_an_ecole_get_five_valid_files_in_their_degree(gar_env, tmp_path):
    college, ecole = first(gar_env, "college"), first(gar_env, "ecole")
    out = tmp_path / "out"
    output = export(gar_env, out, "--uai", college, "--uai", ecole).output
    assert "2 establishment(s)" in output
    for uai, degree in ((college, "2D"), (ecole, "1D")):
        xsd = official(degree)
        for kind in ("Eleve", "Enseignant", "RespAff", "Etab", "Groupe"):
            (path,) = files(out, uai, kind)
            assert f"_{degree}_{kind}_0001.xml" in path.name
            tree = etree.parse(str(path))
            assert tree.getroot().tag == f"{{{NS[degree]}}}GAR-ENT-{kind}"
            assert xsd.validate(tree), (path.name, xsd.error_log.last_error)
        pupils = gar_env.scalar(
            "select count(*) from person where uai = :u and kind = 'eleve' and status = 'active'", u=uai
        )
        eleves = children(out, uai, "Eleve")
        assert Counter(etree.QName(e).localname for e in eleves)["GAREleve"] == pupils > 0
        assert set(texts(eleves, "GARPersonProfil")) == {"National_elv"}
        assert set(texts(children(out, uai, "Enseignant"), "GARPersonProfil")) >= {"National_ens"}
        groups = children(out, uai, "Groupe")
        assert "DIVISION" in texts(groups, "GARGroupeStatut")
        assert len(texts(groups, "GARPersonIdentifiant")) >= pupils  # every pupil is in their division

    college_files = {kind: children(out, college, kind) for kind in ("Eleve", "Enseignant", "Etab", "Groupe")}
    assert texts(college_files["Eleve"], "GARMEFCode")  # pupils' MEF, teachers' MEFs of the classes they teach
    assert texts(college_files["Enseignant"], "GARMEFCode")
    counts = json.loads(next(out.glob("*.summary.json")).read_text())["establishments"][college]
    written = Counter(etree.QName(e).localname for elements in college_files.values() for e in elements)
    assert counts["GARPersonMEF"] == written["GARPersonMEF"]  # pupils' and teachers', in two files
    assert {k: v for k, v in counts.items() if k != "GARRespAff"} == dict(written)
    assert "FRANCAIS" in texts(college_files["Etab"], "GARMatiereCode")
    assert texts(college_files["Groupe"], "GARMatiereCode")  # teacher × class × subject
    director_mail = gar_env.scalar(
        "select p.email from person p join person_function f on f.person_id = p.id where f.uai = :u and f.code = 'DIR'",
        u=college,
    )
    assert texts(children(out, college, "RespAff"), "GARPersonMail") == [director_mail]
    assert "National_dir" in texts(college_files["Enseignant"], "GARPersonProfil")
    assert len(texts(children(out, ecole, "Eleve"), "GARMEFSTAT4Code")[0]) == 4

    with tarfile.open(next(out.glob("*.tar.gz"))) as tar:
        assert sorted(tar.getnames()) == sorted(p.name for p in out.glob("*.xml"))
    md5 = next(out.glob("*.md5")).read_text()
    import hashlib

    assert md5 == hashlib.md5(next(out.glob("*.tar.gz")).read_bytes()).hexdigest()


def test_only_what_gar_needs_leaves_the_hub(gar_env, tmp_path):
    out = tmp_path / "out"
    export(gar_env, out)
    content = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.xml"))
    leaks = gar_env.rows("select ine, jointure, birth_date from person where ine is not null or jointure is not null")
    assert leaks
    for ine, jointure, born in leaks:
        assert (ine or "§") not in content and f">{jointure}<" not in content
        assert born is None or str(born) not in content
    parent_mails = [m for (m,) in gar_env.rows("select email from person where kind = 'parent' and email is not null")]
    assert parent_mails and not any(m in content for m in parent_mails)
    for element in ("GARPersonDateNaissance", "GARPersonCivilite", "GARStructureTelephone", "GARPersonIdSecondaire"):
        assert element not in content


def test_gar_ids_are_random_stable_and_never_shared(gar_env, tmp_path):
    export(gar_env, tmp_path / "a")
    export(gar_env, tmp_path / "b")
    ids = {}
    for name in ("a", "b"):
        ids[name] = sorted(
            t
            for p in (tmp_path / name).glob("*_Eleve_*.xml")
            for t in texts(etree.parse(str(p)).getroot(), "GARPersonIdentifiant")
        )
    assert ids["a"] == ids["b"] and ids["a"]
    stored = gar_env.rows(
        "select p.person_key, p.ine, p.jointure, p.last_name, g.gar_id from gar_person g "
        "join person p on p.id = g.person_id"
    )
    assert len({row[4] for row in stored}) == len(stored) == gar_env.scalar("select count(*) from gar_person")
    for key, ine, jointure, last_name, gar_id in stored:
        assert len(gar_id) <= 64
        assert all(part and part.lower() not in gar_id.lower() for part in (ine or "§", jointure or "§", last_name))
        assert key not in gar_id


def test_files_split_at_max_nodes_each_valid(gar_env, tmp_path):
    college = first(gar_env, "college")
    export(gar_env, tmp_path / "whole", "--uai", college)
    configure(gar_env, max_nodes=7)
    export(gar_env, tmp_path / "split", "--uai", college)
    xsd = official("2D")
    for kind in ("Eleve", "Groupe"):
        parts = files(tmp_path / "split", college, kind)
        whole = children(tmp_path / "whole", college, kind)
        assert len(parts) == -(-len(whole) // 7) > 1
        assert [p.name[-8:] for p in parts] == [f"{n:04d}.xml" for n in range(1, len(parts) + 1)]
        for path in parts:
            tree = etree.parse(str(path))
            assert len(tree.getroot()) <= 7 and xsd.validate(tree), xsd.error_log.last_error
        assert [etree.tostring(e) for e in children(tmp_path / "split", college, kind)] == [
            etree.tostring(e) for e in whole
        ]


def test_a_record_beyond_the_schema_stops_the_export_naming_the_person(sqlite_hub, tmp_path):
    configure(sqlite_hub)
    sqlite_hub.run("demo", "--persons", "300", "generate")
    sqlite_hub.run("sync", "aaf")
    key = sqlite_hub.scalar("select min(person_key) from person where kind = 'eleve'")
    engine = sqlite_hub.engine()
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("update person set last_name = :n where person_key = :k"), {"n": "X" * 501, "k": key})
    engine.dispose()
    out = tmp_path / "out"
    result = export(sqlite_hub, out, expect=1)
    assert f"person {key}" in result.output and "GARPersonNom is 501 characters, the schema allows 500" in result.output
    assert not list(out.glob("*"))  # nothing left behind to send by hand


@pytest.mark.parametrize("degree", ["2D", "1D"])
def test_a_file_the_xsd_refuses_is_named_with_its_element_and_person(degree):
    """The XSD check behind the writer's own checks: a GAREleve without its GARPersonEtab."""
    leaves, owner = Leaves(schema(degree)), "person ine:X"
    profile = (
        f"<men:GARPersonProfils>{leaves.leaf('GARStructureUAI', '0150001A', owner)}"
        f"{leaves.leaf('GARPersonProfil', 'National_elv', owner)}</men:GARPersonProfils>"
    )
    names = [
        leaves.leaf(name, value, owner)
        for name, value in (("GARPersonNom", "Nom"), ("GARPersonPrenom", "Prénom"), ("GARPersonAutresPrenoms", "P"))
    ]
    record = (
        f"<men:GAREleve>{leaves.leaf('GARPersonIdentifiant', 'abc', owner)}{profile}{''.join(names)}</men:GAREleve>"
    )
    (content,) = documents(schema(degree), "GAR-ENT-Eleve", [record], version="1.0", max_nodes=10)
    with pytest.raises(InvalidRecord, match=r"f_0001.xml .*record of ine:0123.*GARPersonEtab"):
        validate("f_0001.xml", content, schema(degree), {"abc": "ine:0123"})
    with pytest.raises(InvalidRecord, match="person ine:Y: GARPersonPrenom is empty"):
        leaves.leaf("GARPersonPrenom", "", "person ine:Y")


def test_names_xml_must_escape_are_sent_as_they_are_and_those_it_cannot_carry_stop_the_export(sqlite_hub, tmp_path):
    configure(sqlite_hub)
    sqlite_hub.run("demo", "--persons", "300", "generate")
    sqlite_hub.run("sync", "aaf")
    first_key, second_key = [
        k for (k,) in sqlite_hub.rows("select person_key from person where kind = 'eleve' order by person_key limit 2")
    ]
    odd = 'O\'Hara & <Fils> "Jr"'
    set_name = "update person set last_name = :n where person_key = :k"
    execute(sqlite_hub, set_name, n=odd, k=first_key)
    export(sqlite_hub, tmp_path / "escaped")
    names = [
        text
        for path in (tmp_path / "escaped").glob("*_Eleve_*.xml")
        for text in texts(etree.parse(str(path)).getroot(), "GARPersonNom")
    ]
    assert names.count(odd) == 1  # the parser gives back exactly the stored name

    execute(sqlite_hub, set_name, n="Bell\x07", k=second_key)
    result = export(sqlite_hub, tmp_path / "refused", expect=1)
    assert f"person {second_key}: GARPersonNom holds a character XML cannot carry" in result.output
    assert not list((tmp_path / "refused").glob("*"))


def test_files_do_not_depend_on_batches_or_processes(gar_env, tmp_path, monkeypatch):
    """The store is read a batch of establishments at a time, batches built by several processes: the files
    and the archive's order do not depend on either; an invalid record found by a process stops the export."""
    configure(gar_env, processes=1)
    export(gar_env, tmp_path / "whole")
    monkeypatch.setattr(roster, "BATCH", 2)
    configure(gar_env, processes=3)
    export(gar_env, tmp_path / "batched", "--archive-only")

    def files(folder: Path) -> dict[str, bytes]:
        return {path.name.split("_", 5)[-1]: path.read_bytes() for path in folder.glob("*.xml")}

    def archived(folder: Path) -> list[tuple[str, bytes]]:
        with tarfile.open(next(folder.glob("*.tar.gz"))) as tar:
            return [(member.name.split("_", 5)[-1], tar.extractfile(member).read()) for member in tar]

    whole = files(tmp_path / "whole")
    assert len({name.split("_")[0] for name in whole}) > 6  # batches for each of the 3 processes
    assert not files(tmp_path / "batched")  # --archive-only
    assert archived(tmp_path / "batched") == archived(tmp_path / "whole")
    assert dict(archived(tmp_path / "batched")) == whole

    last = gar_env.scalar("select max(uai) from person where kind = 'eleve' and status = 'active'")
    key = gar_env.scalar("select min(person_key) from person where kind = 'eleve' and uai = :u", u=last)
    execute(gar_env, "update person set first_name = :n where person_key = :k", n="Zo\x0be", k=key)
    result = export(gar_env, tmp_path / "refused", expect=1)
    assert f"person {key}: GARPersonPrenom holds a character XML cannot carry" in result.output
    assert not list((tmp_path / "refused").glob("*"))


def test_resp_aff_named_in_settings_join_those_of_the_function(gar_env, tmp_path):
    college = first(gar_env, "college")
    teacher, mail = gar_env.rows(
        "select p.person_key, p.email from person p join person_function f "
        "on f.person_id = p.id where f.uai = :u and f.code = 'ENS' "
        "order by p.person_key limit 1",
        u=college,
    )[0]
    configure(gar_env, extra=f'resp_aff = {{ "{college}" = ["{teacher}", "jnt:nobody"] }}\n')
    output = export(gar_env, tmp_path, "--uai", college).output
    assert "jnt:nobody: named RespAff of" in output
    resp_aff = children(tmp_path, college, "RespAff")
    assert len(resp_aff) == 2 and mail in texts(resp_aff, "GARPersonMail")
    assert set(texts(resp_aff, "GARRespAffEtab")) == {college}
    teachers = {e.findtext("{*}GARPersonIdentifiant") for e in children(tmp_path, college, "Enseignant")}
    assert set(texts(resp_aff, "GARPersonIdentifiant")) <= teachers  # the same opaque id in both files


def test_staff_without_a_gar_profile_are_left_out_and_said(gar_env, tmp_path):
    college = first(gar_env, "college")
    key = gar_env.scalar(
        "select p.person_key from person p join person_function f on f.person_id = p.id "
        "where f.uai = :u and f.code = 'DIR'",
        u=college,
    )
    engine = gar_env.engine()
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("update person_function set code = 'XYZ' where uai = :u and code = 'DIR'"), {"u": college})
    engine.dispose()
    output = export(gar_env, tmp_path, "--uai", college).output
    assert f"note: {key}: no GAR profile for their functions in {college} (XYZ): left out" in output
    assert "National_dir" not in texts(children(tmp_path, college, "Enseignant"), "GARPersonProfil")
    assert children(tmp_path, college, "RespAff") == []  # the RespAff file is there, empty, and valid
    assert official("2D").validate(etree.parse(str(files(tmp_path, college, "RespAff")[0])))
