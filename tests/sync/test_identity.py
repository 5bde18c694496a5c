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
