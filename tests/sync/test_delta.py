"""AAF Delta files through `hub sync`: modifications, deletions and additions on top of a Complet."""

from aaf_files import records

from hub.model import check_letter
from plugins.aaf import writer


def test_a_delta_patches_deletes_and_adds_then_is_not_replayed(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    eleves = records(hub_env.aaf_dir, "Eleve")
    (renamed, attrs), (removed, _) = eleves[0], eleves[1]
    uai = hub_env.scalar("select uai from person where jointure = :j", j=renamed)
    other_division = hub_env.scalar(
        "select code from study_group where uai = :u and kind = 'division' and code <> "
        "(select division from enrollment e join person p on p.id = e.person_id where p.jointure = :j)",
        u=uai, j=renamed)
    for path in hub_env.aaf_dir.glob("*Complet*"):
        path.unlink()
    ine = "0999999999"
    ine += check_letter(ine)
    writer.write_delta(hub_env.aaf_dir, [
        ("modify", "Eleve", renamed, {"sn": "NOUVEAU-NOM", "ENTEleveClasses": [f"{uai}${other_division}"]}),
        ("delete", "Eleve", removed, None),
        ("add", "Eleve", "99999999", {
            "sn": "ARRIVÉE", "givenName": "Nouvelle", "ENTEleveINE": ine, "ENTPersonStructRattach": uai,
            "ENTPersonDateNaissance": "01/02/2014", "ENTEleveClasses": [f"{uai}${other_division}"],
            "ENTElevePersRelEleve": [], "ENTEleveMEF": attrs["ENTEleveMEF"][0]}),
        ("modify", "Eleve", "123", {"sn": "FANTÔME"}),
    ], stamp="20260915")
    output = hub_env.run("sync", "aaf").output
    assert "Delta" in output
    counts = hub_env.counts()
    assert (counts["person.update"], counts["person.delete"], counts["person.create"]) == (1, 1, 1), counts
    assert hub_env.scalar("select last_name from person where jointure = :j", j=renamed) == "NOUVEAU-NOM"
    assert hub_env.scalar(
        "select g.code from study_group g join group_membership m on m.group_id = g.id "
        "join person p on p.id = m.person_id where p.jointure = :j and g.kind = 'division'", j=renamed) \
        == other_division
    assert hub_env.scalar("select first_name from person where jointure = :j", j=renamed) == attrs["givenName"][0]
    assert hub_env.scalar("select status from person where jointure = :j", j=removed) == "pending_deletion"
    assert hub_env.scalar("select person_key from person where jointure = '99999999'") == f"ine:{ine}"
    assert hub_env.scalar("select count(*) from person where status = 'pending_deletion'") == 1
    events = hub_env.rows("select reason from run_event")
    assert any("modification of jnt:123, which is not stored" in e.reason for e in events)

    hub_env.run("sync", "aaf")  # the cursor says this delta was read
    assert not any(k.startswith("person.") for k in hub_env.counts())
