"""Identity resolution: keys merge, names never do; ambiguities are journaled and listed by `hub doctor`."""

from aaf_files import records, rewrite, set_attr
from test_sync import biggest_college

from hub.model import check_letter


def test_an_ine_back_with_another_birth_date_is_held_and_listed(synced):
    uai, pupils = biggest_college(synced)
    pupil = pupils[0]
    stored_birth = synced.scalar("select birth_date from person where jointure = :j", j=pupil)
    def another_child(id_, attrs, request):
        if id_ == pupil:
            set_attr(request, "ENTPersonDateNaissance", "29/02/2012")
            set_attr(request, "givenName", "Autre")

    rewrite(synced.aaf_dir, "Eleve", another_child)
    synced.run("sync", "aaf")
    counts = synced.counts()
    assert "person.update" not in counts and "person.delete" not in counts, counts
    assert synced.scalar("select birth_date from person where jointure = :j", j=pupil) == stored_birth
    assert synced.scalar("select status from person where jointure = :j", j=pupil) == "active"
    output = synced.run("doctor", "duplicates").output
    assert "is stored for" in output and "born 2012-02-29" in output and "not merged" in output
    assert "1 recent conflict(s)" in output


def test_a_homonym_under_another_ine_is_created_and_flagged(synced):
    uai, pupils = biggest_college(synced)
    twin_of = dict(records(synced.aaf_dir, "Eleve"))[pupils[0]]
    ine = "0888888888"
    ine += check_letter(ine)

    def add_namesake(id_, attrs, request):
        if id_ == pupils[1]:  # this record becomes a newcomer bearing the same names and birth date
            request.find("identifier/id").text = "88888888"
            for name in ("sn", "givenName", "ENTPersonDateNaissance"):
                set_attr(request, name, *twin_of[name])
            set_attr(request, "ENTEleveINE", ine)

    rewrite(synced.aaf_dir, "Eleve", add_namesake)
    synced.run("sync", "aaf", "--force")
    assert synced.scalar("select count(*) from person where person_key = :k", k=f"ine:{ine}") == 1
    output = synced.run("doctor", "duplicates").output
    assert f"ine:{ine}" in output and f"ine:{twin_of['ENTEleveINE'][0]}" in output
    assert "1 group(s) of possible duplicates" in output
    events = synced.rows("select level, reason from run_event where level = 'conflict'")
    assert len(events) == 1 and "has the names and birth date of" in events[0].reason


def _drop_attr(request, name: str) -> None:
    for attr in request.find("attributes").findall("attr"):
        if attr.get("name") == name:
            attr.getparent().remove(attr)


def test_a_pupil_stored_without_ine_carries_on_when_the_ine_arrives(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    eleves = dict(records(hub_env.aaf_dir, "Eleve"))
    pupil = next(iter(eleves))
    ine = eleves[pupil]["ENTEleveINE"][0]
    rewrite(hub_env.aaf_dir, "Eleve", lambda id_, attrs, request: _drop_attr(request, "ENTEleveINE")
            if id_ == pupil else None)
    hub_env.run("sync", "aaf")
    before = hub_env.rows("select id, ine from person where person_key = :k", k=f"jnt:{pupil}")
    assert len(before) == 1 and before[0].ine is None

    rewrite(hub_env.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "ENTEleveINE", ine)
            if id_ == pupil else None)
    hub_env.run("sync", "aaf")
    after = hub_env.rows("select id, person_key, ine from person where jointure = :j", j=pupil)
    assert [(row.id, row.person_key, row.ine) for row in after] == [(before[0].id, f"ine:{ine}", ine)]
    assert hub_env.counts()["person.update"] == 1 and "person.create" not in hub_env.counts()
    assert hub_env.scalar("select count(*) from outbox where key = :k", k=f"jnt:{pupil}") == 0

    # the same record without the INE again: the same pupil, and the INE is kept
    rewrite(hub_env.aaf_dir, "Eleve", lambda id_, attrs, request: _drop_attr(request, "ENTEleveINE")
            if id_ == pupil else None)
    hub_env.run("sync", "aaf")
    again = hub_env.rows("select id, person_key, ine from person where jointure = :j", j=pupil)
    assert [(row.id, row.person_key, row.ine) for row in again] == [(before[0].id, f"ine:{ine}", ine)]
    hub_env.run("sync", "aaf")
    assert not any(k.startswith("person.") for k in hub_env.counts())  # converged: an empty plan


def test_doctor_link_makes_two_records_one_person(synced):
    synced.write_config('''
        [plugins.webhook]
        url = "http://127.0.0.1:9/hub"
        ''', enabled=("aaf", "webhook"))  # a target, so the link's changes are queued for it
    uai, pupils = biggest_college(synced)
    eleves = dict(records(synced.aaf_dir, "Eleve"))
    kept, other = pupils[0], "88888888"
    kept_ine = eleves[kept]["ENTEleveINE"][0]

    def namesake_without_ine(id_, attrs, request):  # a newcomer without INE, with the names of another
        if id_ == pupils[1]:
            request.find("identifier/id").text = other
            for name in ("sn", "givenName", "ENTPersonDateNaissance"):
                set_attr(request, name, *eleves[kept][name])
            _drop_attr(request, "ENTEleveINE")

    rewrite(synced.aaf_dir, "Eleve", namesake_without_ine)
    synced.run("sync", "aaf", "--force")
    output = synced.run("doctor", "duplicates").output
    assert f"ine:{kept_ine}" in output and f"jnt:{other}" in output and "same names and birth date" in output

    missing = synced.run("doctor", "link", f"ine:{kept_ine}", "jnt:nobody", expect=1).output
    assert "no stored person has the key jnt:nobody" in missing
    wrong_way = synced.run("doctor", "link", f"jnt:{other}", f"ine:{kept_ine}", expect=1).output
    assert "keep the one with the INE" in wrong_way

    synced.run("doctor", "link", f"ine:{kept_ine}", f"jnt:{other}", "--reason", "same child, checked with the school")
    assert synced.scalar("select status from person where person_key = :k", k=f"jnt:{other}") == "pending_deletion"
    assert synced.scalar("select person_key from person_alias where alias_key = :k", k=f"jnt:{other}") \
        == f"ine:{kept_ine}"
    assert "0 group(s) of possible duplicates" in synced.run("doctor", "duplicates").output
    events = synced.rows("select reason from run_event where key = :k", k=f"ine:{kept_ine}")
    assert any("same child, checked with the school" in e.reason for e in events)
    outbox = synced.rows("select target, key, op from outbox where run_id = (select max(id) from run "
                         "where action = 'link')")
    assert sorted(outbox) == [("webhook", f"ine:{kept_ine}", "update"), ("webhook", f"jnt:{other}", "delete")]

    # the académie now sends the child once, under the record that had no INE: it updates the kept person
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: id_ == kept)
    kept_id = synced.scalar("select id from person where person_key = :k", k=f"ine:{kept_ine}")
    synced.run("sync", "aaf", "--force")
    assert synced.scalar("select count(*) from person where status = 'active' and jointure in (:a, :b)",
                         a=kept, b=other) == 1
    assert synced.scalar("select jointure from person where id = :i", i=kept_id) == other
    assert synced.scalar("select status from person where id = :i", i=kept_id) == "active"


def test_staff_and_parents_sharing_an_email_are_listed(synced):
    parents = records(synced.aaf_dir, "PersRelEleve")
    first, second = parents[0][0], parents[1][0]
    email = parents[0][1]["mail"][0]
    rewrite(synced.aaf_dir, "PersRelEleve", lambda id_, attrs, request: set_attr(request, "mail", email.upper())
            if id_ == second else None)
    synced.run("sync", "aaf", "--force")
    output = synced.run("doctor", "duplicates").output
    assert "same e-mail" in output and f"jnt:{first}" in output and f"jnt:{second}" in output


def test_every_unknown_guardian_is_counted(hub_env):
    hub_env.run("demo", "--persons", "300", "generate")
    links = sum(len(attrs.get("ENTElevePersRelEleve", [])) for _, attrs in records(hub_env.aaf_dir, "Eleve"))
    assert links > 100
    for path in hub_env.aaf_dir.glob("*_PersRelEleve_*.xml"):
        path.unlink()
    hub_env.run("sync", "aaf")
    assert hub_env.counts()["missing_guardians"] == links
    reasons = [r for (r,) in hub_env.rows("select reason from run_event where level = 'warning'")]
    assert f"{links} guardian link(s) name a parent who is not known and were left out (the first 100 are listed)" \
        in reasons


def test_a_college_whose_pupils_all_vanish_is_refused(synced):
    uai, pupils = biggest_college(synced)
    state = synced.stored_state()
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: id_ in set(pupils))
    output = synced.run("sync", "aaf", expect=3).output
    assert "yielded no pupil for 1 establishment(s)" in output and uai in output
    assert synced.stored_state() == state
    synced.run("sync", "aaf", "--force")
    assert synced.scalar("select count(*) from person where uai = :u and kind = 'eleve' and status = 'active'",
                         u=uai) == 0
