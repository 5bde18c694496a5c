"""`hub ent_kosmos export`: the collèges as AAF files (Complet, then Deltas), read back by a second hub."""

from aaf_files import records
from hubtest import HubEnv

from plugins.aaf import writer

PEOPLE = "select person_key, kind, last_name, first_name, uai, status from person where status = 'active' " \
         "and (uai = :u or kind = 'parent') order by person_key"


def _importer(tmp_path) -> HubEnv:
    """An ENT that imports académie files: a hub of its own, fed only by the export."""
    env = HubEnv(tmp_path / "importer", f"sqlite:///{tmp_path}/importer.db")
    env.root.mkdir()
    env.write_config()
    env.run("db", "upgrade")
    return env


def _served_people(env, college) -> list:
    """The collège's people and the parents of its pupils, as one hub stores them."""
    parents = {k for (k,) in env.rows(
        "select distinct pa.person_key from guardianship g join person c on c.id = g.pupil_id "
        "join person pa on pa.id = g.parent_id where c.uai = :u and c.status = 'active'", u=college)}
    return [row for row in env.rows(PEOPLE, u=college) if row[1] != "parent" or row[0] in parents]


def test_export_writes_the_colleges_as_an_aaf_complet(kosmos_env):
    out = kosmos_env.root / "export"
    output = kosmos_env.run("ent_kosmos", "export", "--out", str(out)).output
    assert "Complet: 1 establishments" in output
    names = sorted(p.name for p in out.glob("*.xml"))
    assert all(n.startswith("ENT_KOSMOS_Complet_") for n in names) and len(names) == 6
    college = kosmos_env.scalar("select uai from establishment where kind = 'college'")
    assert [attrs["ENTStructureUAI"][0] for _, attrs in records(out, "EtabEducNat")] == [college]
    pupils = {j for (j,) in kosmos_env.rows("select jointure from person where kind = 'eleve' and uai = :u", u=college)}
    assert {id_ for id_, _ in records(out, "Eleve")} == pupils


def test_a_complet_then_deltas_keep_an_importing_ent_equal_to_the_hub(kosmos_env, tmp_path):
    importer = _importer(tmp_path)
    college = kosmos_env.scalar("select uai from establishment where kind = 'college'")
    kosmos_env.run("ent_kosmos", "export", "--out", str(importer.aaf_dir), "--mode", "complet")
    importer.run("sync", "aaf")
    assert _served_people(importer, college) == _served_people(kosmos_env, college)

    pupils = [p for p in records(kosmos_env.aaf_dir, "Eleve")
              if p[1]["ENTPersonStructRattach"][0] == writer.structure_id(college)]
    (renamed, _), (removed, _) = pupils[0], pupils[1]
    for path in kosmos_env.aaf_dir.glob("*Complet*"):
        path.unlink()
    writer.write_delta(kosmos_env.aaf_dir, [("modify", "Eleve", renamed, {"sn": "NOUVEAU-NOM", "mail": []}),
                                            ("delete", "Eleve", removed, None)], stamp="20260915")
    kosmos_env.run("sync", "aaf")
    kosmos_env.run("ent_kosmos", "export", "--out", str(importer.aaf_dir), "--mode", "delta")
    delta = sorted(importer.aaf_dir.glob("ENT_KOSMOS_Delta_*.xml"))
    kinds = [p.name.split("_")[4] for p in delta]  # parents appear when the removed pupil was their last child
    assert kinds[0] == "Eleve" and set(kinds) <= {"Eleve", "PersRelEleve"}
    text = delta[0].read_text(encoding="ISO-8859-15")
    assert text.count("<modifyRequest>") == 1 and "NOUVEAU-NOM" in text
    assert text.count("<deleteRequest>") == 1 and f"<id>{removed}</id>" in text
    assert "<addRequest>" not in text

    importer.run("sync", "aaf")
    assert _served_people(importer, college) == _served_people(kosmos_env, college)
    assert importer.scalar("select last_name from person where jointure = :j", j=renamed) == "NOUVEAU-NOM"

    again = kosmos_env.run("ent_kosmos", "export", "--out", str(tmp_path / "again"), "--mode", "delta").output
    assert "0 requests" in again and not (tmp_path / "again").exists()


def test_a_delta_needs_a_complet_first(kosmos_env):
    result = kosmos_env.run("ent_kosmos", "export", "--out", str(kosmos_env.root / "x"), "--mode", "delta", expect=1)
    assert "run --mode complet first" in result.output
