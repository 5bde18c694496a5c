"""Several Delta files read in one run (a hub that catches up on a week): their requests apply in order,
a later one on top of what an earlier one did to the same person."""

import pytest
from aaf_files import records

from hub.model import check_letter
from hub.sync import stage
from plugins.aaf import writer


@pytest.fixture(params=[1, stage.PATCH_BATCH], ids=["batch-1", "batch-default"])
def delta_env(request, hub_env, monkeypatch):
    """A synced académie whose Complet files are gone; the requests looked up one at a time (by the helper
    process, a batch being full at once), or 2,000 at a time (a small Delta: by the core)."""
    monkeypatch.setattr(stage, "PATCH_BATCH", request.param)
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    hub_env.pupils = records(hub_env.aaf_dir, "Eleve")
    for path in hub_env.aaf_dir.glob("*Complet*"):
        path.unlink()
    return hub_env


def _division(env, jointure: str) -> str:
    return env.scalar("select g.code from study_group g join group_membership m on m.group_id = g.id join person p "
                      "on p.id = m.person_id where p.jointure = :j and g.kind = 'division'", j=jointure)


def _other_division(env, jointure: str) -> str:
    return env.scalar("select code from study_group where kind = 'division' and uai = (select uai from person "
                      "where jointure = :j) and code <> :d", j=jointure, d=_division(env, jointure))


def _reasons(env) -> list[str]:
    return [r.reason for r in env.rows("select reason from run_event where level = 'error'")]


def test_two_days_of_modifications_of_one_pupil_both_apply(delta_env):
    (pupil, attrs), *_ = delta_env.pupils
    uai = delta_env.scalar("select uai from person where jointure = :j", j=pupil)
    division = _other_division(delta_env, pupil)
    writer.write_delta(delta_env.aaf_dir, [("modify", "Eleve", pupil, {"sn": "LUNDI"})], stamp="20260914")
    writer.write_delta(delta_env.aaf_dir, [("modify", "Eleve", pupil, {"ENTEleveClasses": [f"{uai}${division}"]})],
                       stamp="20260915")
    writer.write_delta(delta_env.aaf_dir, [("modify", "Eleve", pupil, {"givenName": "Mercredi"})], stamp="20260916")
    delta_env.run("sync", "aaf")
    assert _reasons(delta_env) == []
    assert delta_env.counts()["person.update"] == 1
    assert delta_env.rows("select last_name, first_name from person where jointure = :j", j=pupil)[0] == \
        ("LUNDI", "Mercredi")
    assert _division(delta_env, pupil) == division


def test_a_pupil_added_then_moved_then_a_pupil_added_and_deleted(delta_env):
    (pupil, attrs), *_ = delta_env.pupils
    uai = delta_env.scalar("select uai from person where jointure = :j", j=pupil)
    division = _other_division(delta_env, pupil)
    ine = "0999999999"
    ine += check_letter(ine)
    arrival = {"sn": "ARRIVÉE", "givenName": "Nouvelle", "ENTEleveINE": ine, "ENTPersonStructRattach": uai,
               "ENTPersonDateNaissance": "01/02/2014", "ENTEleveClasses": [f"{uai}${_division(delta_env, pupil)}"],
               "ENTElevePersRelEleve": [], "ENTEleveMEF": attrs["ENTEleveMEF"][0]}
    writer.write_delta(delta_env.aaf_dir, [("add", "Eleve", "99999999", arrival),
                                           ("add", "Eleve", "99999998", {**arrival, "ENTEleveINE": []})],
                       stamp="20260914")
    writer.write_delta(delta_env.aaf_dir, [("modify", "Eleve", "99999999", {"ENTEleveClasses": [f"{uai}${division}"]}),
                                           ("delete", "Eleve", "99999998", None)], stamp="20260915")
    delta_env.run("sync", "aaf")
    assert _reasons(delta_env) == []
    assert delta_env.counts()["person.create"] == 1
    assert delta_env.scalar("select person_key from person where jointure = '99999999'") == f"ine:{ine}"
    assert _division(delta_env, "99999999") == division
    assert delta_env.scalar("select count(*) from person where jointure = '99999998'") == 0


def test_a_pupil_modified_then_deleted_is_deleted_and_a_deleted_one_is_not_modified(delta_env):
    (renamed, _), (removed, _), *_ = delta_env.pupils
    writer.write_delta(delta_env.aaf_dir, [("modify", "Eleve", renamed, {"sn": "AVANT"}),
                                           ("delete", "Eleve", removed, None)], stamp="20260914")
    writer.write_delta(delta_env.aaf_dir, [("delete", "Eleve", renamed, None),
                                           ("modify", "Eleve", removed, {"sn": "APRÈS"}),
                                           ("delete", "Eleve", removed, None)], stamp="20260915")
    delta_env.run("sync", "aaf")
    counts = delta_env.counts()
    assert (counts["person.delete"], counts.get("person.update", 0)) == (2, 0), counts
    assert delta_env.scalar("select count(*) from person where status = 'pending_deletion' and jointure in "
                            "(:a, :b)", a=renamed, b=removed) == 2
    assert delta_env.scalar("select last_name from person where jointure = :j", j=removed) != "APRÈS"
    assert _reasons(delta_env) == [f"modification of jnt:{removed}, deleted by an earlier request",
                                   f"deletion of jnt:{removed}, deleted by an earlier request"]
