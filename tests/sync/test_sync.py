"""The sync pipeline end to end through `hub sync`, on SQLite and PostgreSQL, fed real AAF files."""

import re
from collections import Counter

from aaf_files import drop, records, rewrite, set_attr
from hubtest import as_datetime

from hub.demo import generate_academie

PERSONS = 300


def pupils_by_uai(env) -> dict[str, list[str]]:
    """AAF ids of pupils, by the UAI of their establishment."""
    structures = {id_: attrs["ENTStructureUAI"][0] for id_, attrs in records(env.aaf_dir, "EtabEducNat")}
    by_uai: dict[str, list[str]] = {}
    for id_, attrs in records(env.aaf_dir, "Eleve"):
        key = attrs["ENTPersonStructRattach"][0]
        by_uai.setdefault(structures.get(key, key), []).append(id_)
    return by_uai


def biggest_college(env) -> tuple[str, list[str]]:
    colleges = {row.uai for row in env.rows("select uai from establishment where kind = 'college'")}
    return max(((uai, ids) for uai, ids in pupils_by_uai(env).items() if uai in colleges), key=lambda x: len(x[1]))


def test_demo_academie_lands_whole(synced):
    academie = generate_academie(persons=PERSONS, seed=1, school_year=2026)
    expected = Counter({str(kind): n for kind, n in academie.counts().items()})
    stored = Counter(dict(synced.rows("select kind, count(*) from person where status = 'active' group by kind")))
    assert stored == expected
    assert synced.scalar("select count(*) from establishment") == len(academie.establishments)
    assert synced.scalar("select count(*) from enrollment") == expected["eleve"]
    assert synced.scalar("select count(*) from guardianship") >= expected["eleve"]
    assert synced.scalar("select count(*) from teaching_assignment") > 0
    divisions = synced.scalar("select count(*) from study_group where kind = 'division'")
    assert divisions >= len(academie.establishments)
    run = synced.rows("select status, records_read, complete from run where action = 'sync'")[0]
    assert run.status == "applied" and run.complete and run.records_read >= PERSONS


def test_same_input_twice_gives_an_empty_plan(synced):
    before = synced.stored_state()
    output = synced.run("sync", "aaf").output
    assert synced.stored_state() == before
    counts = synced.counts()
    assert not any(key.startswith(("person.", "establishment.")) for key in counts), counts
    assert "people" in output and "applied" in output


def test_dry_run_prints_the_plan_and_changes_nothing(hub_env):
    hub_env.run("demo", "--persons", str(PERSONS), "generate")
    output = hub_env.run("sync", "aaf", "--dry-run").output
    assert "planned changes" in output and "create" in output
    assert hub_env.scalar("select count(*) from person") == 0
    assert hub_env.scalar("select status from run") == "dry-run"


def test_bad_records_are_journaled_and_skipped(synced):
    uai, pupils = biggest_college(synced)
    eleves = records(synced.aaf_dir, "Eleve")
    victim, twin = pupils[0], pupils[1]
    victim_ine = dict(eleves)[victim]["ENTEleveINE"][0]

    def spoil(id_, attrs, request):
        if id_ == twin:  # a second pupil with the first one's INE
            set_attr(request, "ENTEleveINE", victim_ine)
        if id_ == pupils[2]:
            set_attr(request, "ENTEleveINE", "12345678901")  # not a letter at the end
        if id_ == pupils[3]:
            set_attr(request, "ENTPersonStructRattach", "0150999Z")  # nobody knows this establishment

    other = next(u for u in pupils_by_uai(synced) if u != uai)
    rewrite(synced.aaf_dir, "Eleve", spoil)
    bad_uai = other[:7] + ("A" if other[7] != "A" else "B")
    rewrite(synced.aaf_dir, "EtabEducNat", lambda id_, attrs, request: set_attr(
        request, "ENTStructureUAI", bad_uai) if attrs["ENTStructureUAI"] == [other] else None)

    # a structure whose code fails the check letter is kept as a pseudo-structure: its people moving there are
    # over the move limit, so the real run would be held
    dry = synced.run("sync", "aaf", "--dry-run", expect=3).output
    assert "the real run would be held" in dry and f"1 establishment(s) ({other})" in dry
    run_id = synced.scalar("select max(id) from run")
    output = synced.run("journal", "show", str(run_id)).output
    assert f"structure {bad_uai} fails the UAI check" in output and "kept as a pseudo-structure" in output
    assert f"(expected {other})" in output
    assert f"duplicate INE {victim_ine} in this feed" in output
    assert "INE '12345678901' is not 10 letters or digits and a letter" in output
    assert "0150999Z" in output
    events = synced.rows("select record, reason from run_event")
    assert any(f"Eleve {twin}" in record for record, _ in events), events
    assert all(":" in record for record, _ in events)  # file:line
    counts = synced.counts(run_id)
    assert "person.delete" not in counts, "a rejected record must not delete the stored person"


def test_malformed_file_aborts_and_applies_nothing(synced):
    before = synced.stored_state()
    drop(synced.aaf_dir, "PersRelEleve", {records(synced.aaf_dir, "PersRelEleve")[0][0]})
    broken = sorted(synced.aaf_dir.glob("*_Eleve_*.xml"))[0]
    text = broken.read_text(encoding="iso-8859-15")
    broken.write_text(text[: len(text) // 2], encoding="iso-8859-15")
    result = synced.run("sync", "aaf", expect=1)
    assert broken.name in result.output and "malformed XML" in result.output
    assert "nothing was applied" in result.output
    assert synced.stored_state() == before
    assert synced.scalar("select status from run order by id desc limit 1") == "failed"


def test_big_deletion_is_held_until_forced(synced):
    uai, pupils = biggest_college(synced)
    gone = set(pupils[: len(pupils) // 4])
    drop(synced.aaf_dir, "Eleve", gone)
    before = synced.stored_state()
    result = synced.run("sync", "aaf", expect=3)
    assert f"held before applying: over the safety limits in 1 establishment(s) ({uai})" in result.output
    assert re.search(rf"{uai}\s*│\s*eleve\s*│\s*delete\s*│\s*{len(gone)}\s*│", result.output)  # the trips table
    assert synced.stored_state() == before
    synced.run("sync", "aaf", "--force")
    rows = synced.rows("select status, delete_after, status_since from person where person_key like 'ine:%' "
                       "and status <> 'active'")
    assert len(rows) == len(gone)
    assert all(r.status == "pending_deletion" for r in rows)
    assert all((as_datetime(r.delete_after) - as_datetime(r.status_since)).days == 30 for r in rows)


def test_a_shrunken_or_empty_source_is_refused(synced):
    before = synced.stored_state()
    for category in ("Eleve", "PersRelEleve"):  # the staff alone remain
        drop(synced.aaf_dir, category, {id_ for id_, _ in records(synced.aaf_dir, category)})
    result = synced.run("sync", "aaf", expect=3)
    assert "fewer than 50% of the" in result.output
    for category in ("PersEducNat", "EtabEducNat"):
        drop(synced.aaf_dir, category, {id_ for id_, _ in records(synced.aaf_dir, category)})
    result = synced.run("sync", "aaf", "--force", expect=3)
    assert "yielded no records" in result.output
    assert synced.stored_state() == before


def test_switches_limit_what_a_run_may_do(synced):
    uai, pupils = biggest_college(synced)
    drop(synced.aaf_dir, "Eleve", {pupils[0]})
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "sn", "RENOMMÉ")
            if id_ == pupils[1] else None)
    output = synced.run("sync", "aaf", "--no-delete", "--no-update").output
    assert "left out by switches: update 1, delete 1" in output
    assert synced.scalar("select count(*) from person where status <> 'active'") == 0
    assert synced.scalar("select count(*) from person where last_name = 'RENOMMÉ'") == 0
    synced.run("sync", "aaf")
    assert synced.scalar("select count(*) from person where status = 'pending_deletion'") == 1
    assert synced.scalar("select count(*) from person where last_name = 'RENOMMÉ'") == 1


def test_soft_delete_restore_and_purge(synced):
    uai, pupils = biggest_college(synced)
    eleves = dict(records(synced.aaf_dir, "Eleve"))
    saved = {id_: eleves[id_] for id_ in pupils[:2]}
    ine_back, ine_gone = (f"ine:{saved[i]['ENTEleveINE'][0]}" for i in pupils[:2])
    snapshot = {p: p.read_bytes() for p in synced.aaf_dir.glob("*_Eleve_*.xml")}
    drop(synced.aaf_dir, "Eleve", set(pupils[:2]))
    synced.run("sync", "aaf")
    assert synced.scalar("select count(*) from person where status = 'pending_deletion'") == 2
    for path, content in snapshot.items():  # both come back …
        path.write_bytes(content)
    drop(synced.aaf_dir, "Eleve", {pupils[1]})  # … but only one stays
    deleted_at = synced.scalar("select status_since from person where person_key = :k", k=ine_back)
    synced.run("sync", "aaf")
    back = synced.rows("select status, status_since, delete_after from person where person_key = :k", k=ine_back)[0]
    assert back.status == "active" and back.status_since != deleted_at and back.delete_after is None
    assert synced.counts()["person.restore"] == 1
    synced.write_config("[sync]\ngrace_days = 0\n")
    synced.run("sync", "aaf")  # nothing new; the pending deletion keeps its date
    assert "purged 1 people" in synced.run("purge").output
    assert synced.scalar("select count(*) from person where person_key = :k", k=ine_gone) == 0
    assert synced.scalar("select count(*) from person where person_key = :k", k=ine_back) == 1


def test_a_move_between_establishments_is_planned_as_a_move(synced):
    by_uai = pupils_by_uai(synced)
    colleges = [r.uai for r in synced.rows("select uai from establishment where kind = 'college' order by uai")]
    source_uai = next(u for u in by_uai if u in colleges)
    target_uai = next(u for u in by_uai if u != source_uai)
    mover = by_uai[source_uai][0]
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(
        request, "ENTPersonStructRattach", target_uai) if id_ == mover else None)
    output = synced.run("sync", "aaf").output
    counts = synced.counts()
    assert counts.get("person.move") == 1, output
    assert synced.scalar("select uai from person where jointure = :j", j=mover) == target_uai


def test_one_establishment_only(synced):
    uai, pupils = biggest_college(synced)
    other_uai, other_pupils = next((u, p) for u, p in pupils_by_uai(synced).items() if u != uai)
    drop(synced.aaf_dir, "Eleve", {pupils[0], other_pupils[0]})
    synced.run("sync", "aaf", "--uai", uai)
    assert synced.scalar("select uai from person where status = 'pending_deletion'") == uai
    assert synced.scalar("select count(*) from person where status = 'pending_deletion'") == 1
    assert "check letter" in synced.run("sync", "aaf", "--uai", uai[:7] + "Z", expect=1).output


def test_one_run_changing_different_indexed_columns_stores_each_change(synced):
    """SQLite updates the rows that change the same indexed columns together: a rename, a move, a new e-mail
    and a first name in one run each land, and nothing else of those people changes."""
    by_uai = pupils_by_uai(synced)
    source_uai, target_uai = list(by_uai)[:2]
    renamed, moved, mailed, untouched = by_uai[source_uai][:4]
    before = {j: synced.rows("select * from person where jointure = :j", j=j)[0]._asdict()
              for j in (renamed, moved, mailed, untouched)}
    changes = {renamed: ("sn", "RENOMMÉ"), moved: ("ENTPersonStructRattach", target_uai),
               mailed: ("mail", "nouvelle@example.org")}
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, *changes[id_])
            if id_ in changes else None)
    synced.run("sync", "aaf")
    counts = synced.counts()
    assert (counts.get("person.update"), counts.get("person.move")) == (2, 1), counts
    after = {j: synced.rows("select * from person where jointure = :j", j=j)[0]._asdict() for j in before}
    differ = {j: sorted(c for c in before[j] if before[j][c] != after[j][c]) for j in before}
    assert differ == {renamed: ["digest", "last_name", "match_key", "updated_at"],
                      moved: ["digest", "relations_digest", "uai", "updated_at"],
                      mailed: ["digest", "email", "updated_at"], untouched: []}, differ
    assert (after[renamed]["last_name"], after[moved]["uai"], after[mailed]["email"]) == \
        ("RENOMMÉ", target_uai, "nouvelle@example.org")
