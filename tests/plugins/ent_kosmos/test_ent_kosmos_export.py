"""`hub ent_kosmos export`: the collèges as an AAF Complet set, written by the AAF plugin's writer."""

from aaf_files import records


def test_export_writes_the_colleges_as_an_aaf_complet(kosmos_env):
    out = kosmos_env.root / "export"
    output = kosmos_env.run("ent_kosmos", "export", "--out", str(out)).output
    assert "1 establishments" in output
    names = sorted(p.name for p in out.glob("*.xml"))
    assert all(n.startswith("ENT_KOSMOS_Complet_") for n in names) and len(names) == 6
    college = kosmos_env.scalar("select uai from establishment where kind = 'college'")
    assert [attrs["ENTStructureUAI"][0] for _, attrs in records(out, "EtabEducNat")] == [college]
    pupils = {j for (j,) in kosmos_env.rows("select jointure from person where kind = 'eleve' and uai = :u", u=college)}
    assert {id_ for id_, _ in records(out, "Eleve")} == pupils
    parents = {id_ for id_, _ in records(out, "PersRelEleve")}
    assert parents and all(p.removeprefix("jnt:") in parents for (p,) in kosmos_env.rows(
        "select distinct pa.person_key from guardianship g join person c on c.id = g.pupil_id "
        "join person pa on pa.id = g.parent_id where c.uai = :u", u=college))
