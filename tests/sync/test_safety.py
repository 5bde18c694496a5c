"""Safety limits cover everyone: parents count in their children's establishments, every kind is checked overall,
small changes pass under an absolute floor, and a dry run says whether the real run would be stopped."""

import re

from aaf_files import drop, records, rewrite, set_attr
from test_sync import biggest_college

from plugins.aaf import writer


def test_a_delta_deleting_every_parent_is_held(synced):
    parents = [id_ for id_, _ in records(synced.aaf_dir, "PersRelEleve")]
    for path in synced.aaf_dir.glob("*Complet*"):
        path.unlink()
    writer.write_delta(synced.aaf_dir, [("delete", "PersRelEleve", id_, None) for id_ in parents], stamp="20260915")
    before = synced.stored_state()
    output = synced.run("sync", "aaf", expect=3).output
    assert "held before applying: over the safety limits in" in output
    assert "the whole directory for parent" in output
    assert re.search(rf"\(all\)\s*│\s*parent\s*│\s*delete\s*│\s*{len(parents)}\s*│", output)
    assert synced.stored_state() == before


def test_a_complet_missing_many_parents_is_held_and_names_a_few_establishments(sqlite_hub):
    sqlite_hub.run("demo", "--persons", "2000", "generate")  # a dozen establishments
    sqlite_hub.run("sync", "aaf")
    parents = [id_ for id_, _ in records(sqlite_hub.aaf_dir, "PersRelEleve")]
    gone = set(parents[: len(parents) * 4 // 10])
    drop(sqlite_hub.aaf_dir, "PersRelEleve", gone)

    def unlink(id_, attrs, request):  # the children no longer name them either (else they are kept: continuity)
        links = [v for v in attrs.get("ENTElevePersRelEleve", []) if v.split("$")[0] not in gone]
        if links != attrs.get("ENTElevePersRelEleve", []):
            set_attr(request, "ENTElevePersRelEleve", *links)
            set_attr(request, "ENTEleveAutoriteParentale", *[i for i in attrs.get("ENTEleveAutoriteParentale", [])
                                                              if i not in gone])

    rewrite(sqlite_hub.aaf_dir, "Eleve", unlink)
    output = sqlite_hub.run("sync", "aaf", expect=3).output
    held = re.search(r"held before applying: over the safety limits in (\d+) establishment\(s\) \(([^)]*)\)", output)
    assert held, output
    count, named = int(held[1]), held[2]
    assert count > 5 and len(named.split(", ")) == 5 and "(all in `hub journal show" in output
    trips = sqlite_hub.counts()["trips"]
    assert len({t.split()[0] for t in trips if " parent: delete" in t and not t.startswith("all ")}) == count
    assert "all parent: delete" in " ".join(trips)


def test_a_few_deletions_pass_under_the_floor(synced):
    uai, pupils = biggest_college(synced)
    drop(synced.aaf_dir, "Eleve", set(pupils[:3]))  # 3 of a class-sized college: over 10 %, under the floor of 5
    synced.run("sync", "aaf")
    assert synced.counts()["person.delete"] == 3


def test_a_dry_run_says_the_real_run_would_be_held_or_refused(synced):
    uai, pupils = biggest_college(synced)
    drop(synced.aaf_dir, "Eleve", set(pupils[: len(pupils) // 3]))
    output = synced.run("sync", "aaf", "--dry-run", expect=3).output
    assert "dry run, nothing applied; the real run would be held before applying" in output
    drop(synced.aaf_dir, "Eleve", set(pupils))
    output = synced.run("sync", "aaf", "--dry-run", expect=3).output
    assert "the real run would be refused: source aaf yielded no pupil for 1 establishment(s)" in output
    assert synced.scalar("select count(*) from person where status <> 'active'") == 0
