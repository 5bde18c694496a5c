"""AAF Delta files through `hub sync`: modifications, deletions and additions on top of a Complet."""

from aaf_files import records, rewrite, set_attr

from hub.model import check_letter
from plugins.aaf import writer


def test_a_delta_patches_deletes_and_adds_then_is_not_replayed(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    eleves = records(hub_env.aaf_dir, "Eleve")
    (renamed, attrs), (removed, _) = eleves[0], eleves[1]
    uai = hub_env.scalar("select uai from person where jointure = :j", j=renamed)
    before = hub_env.rows("select match_key, status_since, updated_at from person where jointure = :j", j=renamed)[0]
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
    after = hub_env.rows("select match_key, status_since, updated_at from person where jointure = :j", j=renamed)[0]
    assert after.match_key.startswith("NOUVEAU NOM|") and after.match_key != before.match_key  # an indexed column
    assert after.status_since == before.status_since and after.updated_at != before.updated_at  # active since then
    assert hub_env.scalar("select status from person where jointure = :j", j=removed) == "pending_deletion"
    assert hub_env.scalar("select person_key from person where jointure = '99999999'") == f"ine:{ine}"
    assert hub_env.scalar("select count(*) from person where status = 'pending_deletion'") == 1
    events = hub_env.rows("select reason from run_event")
    assert any("modification of jnt:123, which is not stored" in e.reason for e in events)

    hub_env.run("sync", "aaf")  # the cursor says this delta was read
    assert not any(k.startswith("person.") for k in hub_env.counts())


def _relations(env, jointure: str) -> tuple:
    """A pupil's stored relations, with the enrollment's row id: a rewrite gives it a new one."""
    pid = env.scalar("select id from person where jointure = :j", j=jointure)
    return (
        env.scalar("select id from enrollment where person_id = :p", p=pid),
        sorted(r.code for r in env.rows("select g.code from study_group g join group_membership m on "
                                        "m.group_id = g.id where m.person_id = :p", p=pid)),
        sorted(r.person_key for r in env.rows("select p.person_key from guardianship g join person p on "
                                              "p.id = g.parent_id where g.pupil_id = :p", p=pid)),
    )


def test_a_name_change_keeps_the_stored_relations_a_class_change_rewrites_them(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    eleves = [(j, attrs) for j, attrs in records(hub_env.aaf_dir, "Eleve") if attrs.get("ENTElevePersRelEleve")]
    (renamed, _), (moved, _) = eleves[0], eleves[1]
    uai = hub_env.scalar("select uai from person where jointure = :j", j=moved)
    enrollment_id, groups, parents = _relations(hub_env, moved)
    other_division = hub_env.scalar(
        "select min(code) from study_group where uai = :u and kind = 'division' and code <> "
        "(select division from enrollment where id = :e)", u=uai, e=enrollment_id)
    before = _relations(hub_env, renamed)
    assert before[0] is not None and before[2]
    for path in hub_env.aaf_dir.glob("*Complet*"):
        path.unlink()
    writer.write_delta(hub_env.aaf_dir, [
        ("modify", "Eleve", renamed, {"sn": "NOUVEAU-NOM"}),
        ("modify", "Eleve", moved, {"sn": "AUTRE-NOM", "ENTEleveClasses": [f"{uai}${other_division}"]}),
    ], stamp="20260915")
    hub_env.run("sync", "aaf")
    assert hub_env.counts()["person.update"] == 2
    assert _relations(hub_env, renamed) == before  # the same rows: the enrollment kept its id
    after = _relations(hub_env, moved)
    assert after[0] != enrollment_id and other_division in after[1] and after[2] == parents


def test_links_left_out_or_purged_are_written_when_the_child_next_changes(hub_env):
    """A child's guardian links that could not be stored (parent unknown) or went with a purged parent are
    written by the child's next update, though the child's relations read the same as when stored."""
    hub_env.run("demo", "--persons", "300", "generate")
    child, attrs = next((j, a) for j, a in records(hub_env.aaf_dir, "Eleve")
                        if len(a.get("ENTElevePersRelEleve", [])) > 1)
    parents = {path: path.read_bytes() for path in hub_env.aaf_dir.glob("*_PersRelEleve_*.xml")}
    for path in parents:
        path.unlink()
    hub_env.run("sync", "aaf")
    assert hub_env.counts()["missing_guardians"] > 0
    assert _relations(hub_env, child)[2] == []

    for path, content in parents.items():
        path.write_bytes(content)
    _rename(hub_env, child, "RENOMMÉ")
    hub_env.run("sync", "aaf")
    linked = _relations(hub_env, child)[2]
    assert len(linked) == len(attrs["ENTElevePersRelEleve"])

    engine = hub_env.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("update person set status = 'pending_deletion', delete_after = '2000-01-01 00:00:00' "
                             "where kind = 'parent'")
    engine.dispose()
    hub_env.run("purge")
    assert _relations(hub_env, child)[2] == []
    _rename(hub_env, child, "ENCORE")
    hub_env.run("sync", "aaf", "--force")  # every parent comes back, created again
    assert _relations(hub_env, child)[2] == linked


def _rename(env, jointure: str, last_name: str) -> None:
    rewrite(env.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "sn", last_name)
            if id_ == jointure else None)
