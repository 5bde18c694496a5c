"""Continuity end to end through `hub`: two ENTs scoped to écoles (probe) and collèges (probe2), the year
rollover, CM2 → 6e, leaving, transfers, parents, staff in several places, inclusion, and cycle-3 networks read
from the département's sectorisation file."""

import json
import re
import textwrap
from collections import Counter

import pytest
from aaf_files import drop, rewrite, set_attr
from hubtest import as_datetime

from hub.demo import generate_academie
from hub.sdet import HUB_SECTEUR


def _log(env, name="probe") -> list[dict]:
    path = env.root / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _config(env, extra: str = "", school_year: int = 2026, grace_days: int = 30) -> None:
    env.config.write_text(textwrap.dedent(f"""\
        [plugins]
        enabled = ["aaf", "probe", "probe2"]
        [plugins.aaf]
        path = "{env.aaf_dir}"
        school_year = {school_year}
        [plugins.probe]
        log = "{env.root / 'probe.jsonl'}"
        establishment_kinds = ["ecole"]
        batch_size = 50
        [plugins.probe2]
        log = "{env.root / 'probe2.jsonl'}"
        establishment_kinds = ["college"]
        batch_size = 50
        [sync]
        grace_days = {grace_days}
        """) + textwrap.dedent(extra))


@pytest.fixture
def two_ents(hub_env):
    """The 300-person demo académie synced and delivered to an école ENT and a collège ENT."""
    _config(hub_env)
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    hub_env.run("deliver")
    return hub_env


def _outbox(env, key, target):
    return {row.op: row for row in env.rows("select op, next_attempt_at, created_at, uai, old_uai from outbox where "
                                             "target = :t and key = :k and run_id = (select max(id) from run "
                                             "where action = 'sync')", t=target, k=key)}


def _pupils(env, where: str) -> list:
    return env.rows("select p.person_key, p.jointure, p.uai, e.niveau from person p join enrollment e on "
                    f"e.person_id = p.id where p.kind = 'eleve' and {where} order by p.person_key")


def _only_child_parents(env, key):
    """The parents of pupil KEY who have no other child."""
    return [k for (k,) in env.rows(
        "select par.person_key from guardianship g join person c on c.id = g.pupil_id join person par on "
        "par.id = g.parent_id where c.person_key = :k and (select count(*) from guardianship o "
        "where o.parent_id = par.id) = 1", k=key)]


def _move(env, jointure, uai, division, niveau=None):
    def change(id_, attrs, request):
        if id_ == jointure:
            set_attr(request, "ENTPersonStructRattach", uai)
            set_attr(request, "ENTEleveClasses", f"{uai}${division}")
            set_attr(request, "ENTEleveGroupes")
            if niveau:
                set_attr(request, "ENTEleveNivFormation", niveau)

    rewrite(env.aaf_dir, "Eleve", change)


def test_cm2_to_6e_leaves_the_ecole_ent_and_joins_the_college_ent_with_the_parents(two_ents):
    env = two_ents
    cm2 = next(row for row in _pupils(env, "e.niveau = 'CM2'") if _only_child_parents(env, row.person_key))
    parents = _only_child_parents(env, cm2.person_key)
    college = env.scalar("select secteur_college from establishment where uai = :u", u=cm2.uai)
    _move(env, cm2.jointure, college, "6A", "6EME")
    env.run("sync", "aaf")
    assert env.counts()["person.move"] == 1 and "person.delete" not in env.counts()
    assert env.scalar("select uai from person where person_key = :k", k=cm2.person_key) == college

    ecole_side, college_side = _outbox(env, cm2.person_key, "probe"), _outbox(env, cm2.person_key, "probe2")
    assert set(ecole_side) == {"leave", "archive"} and set(college_side) == {"join"}
    archive = ecole_side["archive"]
    assert (as_datetime(archive.next_attempt_at) - as_datetime(archive.created_at)).days == 30
    assert college_side["join"].old_uai == cm2.uai and college_side["join"].uai == college
    for parent in parents:  # the parent's account carries over: same person, leaves one ENT, joins the other
        assert set(_outbox(env, parent, "probe")) == {"leave", "archive"}
        assert set(_outbox(env, parent, "probe2")) == {"join"}
        assert env.scalar("select status from person where person_key = :k", k=parent) == "active"
    env.run("deliver")
    joined = [line for line in _log(env, "probe2") if line["key"] in (cm2.person_key, *parents)]
    assert [line["op"] for line in joined] == ["join"] * (1 + len(parents))
    assert joined[0]["memberships"] == sorted([f"{college}/6A", f"{college}/CYCLE3-6EME"])
    left = [line["op"] for line in _log(env) if line["key"] == cm2.person_key]
    assert left[0] == "create" and left[-1] == "leave"  # same key, same remote object: never delete + create


def test_leaving_the_schools_keeps_the_account_through_the_grace_period_then_archive_then_purge(two_ents):
    env = two_ents
    third = _pupils(env, "e.niveau = '3EME'")[0]
    drop(env.aaf_dir, "Eleve", {third.jointure})
    env.run("sync", "aaf")
    assert env.scalar("select status from person where person_key = :k", k=third.person_key) == "pending_deletion"
    ops = _outbox(env, third.person_key, "probe2")
    assert set(ops) == {"delete", "archive"}
    assert (as_datetime(ops["archive"].next_attempt_at) - as_datetime(ops["archive"].created_at)).days == 30
    assert _outbox(env, third.person_key, "probe") == {}  # the école ENT never had them
    assert "purged 0 people" in env.run("purge").output  # nothing is erased during the grace period
    assert env.scalar("select count(*) from person where person_key = :k", k=third.person_key) == 1

    _config(env, grace_days=0)
    assert "purged 1 people" in env.run("purge").output
    assert env.scalar("select count(*) from person where person_key = :k", k=third.person_key) == 0
    assert env.scalar("select count(*) from outbox where key = :k and op = 'purge' and target = 'probe2'",
                      k=third.person_key) == 1


@pytest.mark.slow
def test_a_pupil_back_within_the_grace_period_is_restored_and_never_archived(two_ents):
    env = two_ents
    third = _pupils(env, "e.niveau = '3EME'")[0]
    files = {path: path.read_bytes() for path in env.aaf_dir.glob("*Eleve*")}
    drop(env.aaf_dir, "Eleve", {third.jointure})
    env.run("sync", "aaf")
    for path, content in files.items():
        path.write_bytes(content)
    env.run("sync", "aaf")
    assert set(_outbox(env, third.person_key, "probe2")) == {"restore"}
    assert env.scalar("select count(*) from outbox where key = :k and op = 'archive'", k=third.person_key) == 0


def test_a_mid_year_transfer_is_a_move_with_the_same_identity(two_ents):
    env = two_ents
    ecoles = [u for (u,) in env.rows("select uai from establishment where kind = 'ecole' order by uai")]
    pupil = _pupils(env, f"p.uai = '{ecoles[0]}'")[0]
    division = env.scalar("select code from study_group where uai = :u and kind = 'division'", u=ecoles[1])
    remote = env.scalar("select remote_id from target_link where target = 'probe' and key = :k", k=pupil.person_key)
    _move(env, pupil.jointure, ecoles[1], division)
    env.run("sync", "aaf")
    counts = env.counts()
    assert counts["person.move"] == 1 and "person.create" not in counts and "person.delete" not in counts
    assert set(_outbox(env, pupil.person_key, "probe")) == {"move"}
    assert _outbox(env, pupil.person_key, "probe2") == {}
    env.run("deliver")
    last = [line for line in _log(env) if line["key"] == pupil.person_key][-1]
    assert (last["op"], last["old_uai"], last["uai"], last["remote"]) == ("move", ecoles[0], ecoles[1], remote)


@pytest.mark.slow
def test_a_parent_left_out_of_a_complet_is_kept_while_a_child_is_schooled(two_ents):
    env = two_ents
    pupil, parent = next((p, parents[0]) for p in _pupils(env, "e.niveau = '5EME'")
                         if (parents := _only_child_parents(env, p.person_key)))
    drop(env.aaf_dir, "PersRelEleve", {parent[4:]})
    output = env.run("sync", "aaf").output
    assert "1 parent(s) the feed left out are kept: a child of theirs is still schooled" in output
    assert env.scalar("select status from person where person_key = :k", k=parent) == "active"
    assert env.scalar("select count(*) from outbox where key = :k and run_id = (select max(id) from run)",
                      k=parent) == 0

    drop(env.aaf_dir, "Eleve", {pupil.jointure})  # the child leaves: now the parent goes too
    env.run("sync", "aaf")
    assert env.scalar("select status from person where person_key = :k", k=parent) == "pending_deletion"
    assert set(_outbox(env, parent, "probe2")) == {"delete", "archive"}


@pytest.mark.slow
def test_a_sibling_still_at_the_ecole_keeps_the_parent_in_the_ecole_ent(two_ents):
    env = two_ents
    ecole = env.scalar("select uai from establishment where kind = 'ecole' order by uai")
    older, younger = _pupils(env, f"p.uai = '{ecole}'")[:2]
    parent = env.scalar("select par.person_key from guardianship g join person par on par.id = g.parent_id "
                        "join person c on c.id = g.pupil_id where c.person_key = :k", k=older.person_key)
    rewrite(env.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(  # the younger one is their sibling
        request, "ENTElevePersRelEleve", f"{parent[4:]}$1$1$1$0$0") if id_ == younger.jointure else None)
    env.run("sync", "aaf")
    jointure, uai = older.jointure, ecole
    college = env.scalar("select secteur_college from establishment where uai = :u", u=uai)
    _move(env, jointure, college, "6A", "6EME")
    env.run("sync", "aaf")
    assert "leave" not in _outbox(env, parent, "probe")  # a younger child is still at an école
    assert set(_outbox(env, parent, "probe2")) == {"join"}


def test_staff_in_several_establishments_are_one_account_with_each_attachment(two_ents):
    env = two_ents
    ecole = env.scalar("select uai from establishment where kind = 'ecole' order by uai")
    college = env.scalar("select secteur_college from establishment where uai = :u", u=ecole)
    teacher = env.scalar("select jointure from person where kind = 'enseignant' and uai = :u order by jointure",
                         u=college)

    def two_places(id_, attrs, request):
        if id_ == teacher:
            set_attr(request, "ENTPersonFonctions", f"{college}$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES",
                     f"{ecole}$ENS$ENSEIGNEMENT$$")

    rewrite(env.aaf_dir, "PersEducNat", two_places)
    env.run("sync", "aaf")
    key = f"jnt:{teacher}"
    assert env.scalar("select count(*) from person where person_key = :k", k=key) == 1
    assert {u for (u,) in env.rows("select f.uai from person_function f join person p on p.id = f.person_id "
                                   "where p.person_key = :k", k=key)} == {college, ecole}
    env.run("deliver")
    update = [line for line in _log(env, "probe2") if line["key"] == key][-1]
    assert update["op"] == "update" and update["functions"] == sorted([college, ecole])
    # the école's ENT now serves them too, through their function there: one account, no leave or join
    school = [line for line in _log(env, "probe") if line["key"] == key]
    assert [line["op"] for line in school] == ["update"] and school[0]["uai"] == college


def test_inclusion_pupils_are_in_their_division_and_the_scheme_group(two_ents):
    env = two_ents
    ulis = env.rows("select p.person_key, p.uai from person p join group_membership m on m.person_id = p.id "
                    "join study_group g on g.id = m.group_id where g.code = 'ULIS' and g.kind = 'groupe'")
    assert ulis
    key, uai = ulis[0]
    kinds = Counter(kind for (kind,) in env.rows(
        "select g.kind from group_membership m join study_group g on g.id = m.group_id join person p on "
        "p.id = m.person_id where p.person_key = :k and g.uai = :u", k=key, u=uai))
    assert kinds["division"] == 1 and kinds["groupe"] >= 1
    created = [line for line in _log(env, "probe2") if line["key"] == key][0]
    assert f"{uai}/ULIS" in created["memberships"] and len(created["memberships"]) >= 2
    added = {line["key"] for line in _log(env, "probe2") if line["entity"] == "membership"}
    assert f"{key}|{uai}/ULIS" in added


def _rename_classes(aaf_dir, suffix: str) -> None:
    """Every division of the académie gets a new code, as a new school year's classes would."""
    def rename(value: str) -> str:
        tokens = value.split("$")
        tokens[1] += suffix
        return "$".join(tokens)

    def structures(id_, attrs, request):
        if attrs.get("ENTStructureClasses"):
            set_attr(request, "ENTStructureClasses", *(f"{v.split('$')[0]}{suffix}${v.split('$', 1)[1]}"
                                                       for v in attrs["ENTStructureClasses"]))

    def people(id_, attrs, request):
        for name, values in attrs.items():
            if "Classes" in name and values:
                set_attr(request, name, *(rename(v) for v in values))

    rewrite(aaf_dir, "EtabEducNat", structures)
    for category in ("Eleve", "PersEducNat"):
        rewrite(aaf_dir, category, people)


def test_the_rollover_archives_last_years_classes_once_and_a_future_year_is_held(hub_env):
    env = hub_env
    _config(env, school_year=2025, extra='[continuity]\nrollover = "08-25"\n')
    env.run("demo", "--persons", "300", "generate")
    env.run("sync", "aaf")
    divisions = {(u, c) for u, c in env.rows("select uai, code from study_group where kind = 'division'")}
    assert env.scalar("select count(distinct school_year) from establishment where kind <> 'autre'") == 1

    _config(env, school_year=2026, extra='[continuity]\nrollover = "08-25"\n')
    _rename_classes(env.aaf_dir, "-26")
    output = env.run("sync", "aaf", "--dry-run", expect=None).output
    assert re.search(r"\d+ establishment\(s\) roll over to a new school year; (\d+) class\(es\)", output)
    env.run("sync", "aaf", "--force")  # every pupil changes class: over the update limit
    counts = env.counts()
    assert counts["group.archive"] == len(divisions)
    archived = {(u, c) for u, c in env.rows("select uai, code from study_group where archived_at is not null")}
    assert archived == divisions  # last year's classes are archived, not deleted
    assert env.scalar("select count(*) from study_group where archived_at is null and kind = 'division'") \
        == len(divisions)  # this year's
    assert {y for (y,) in env.rows("select distinct school_year from enrollment")} == {2026}
    assert {y for (y,) in env.rows("select distinct school_year from establishment")} == {2026}
    archives = env.rows("select target, uai from outbox where entity = 'group' and op = 'archive'")
    assert Counter(t for t, _ in archives) == {
        "probe": sum(1 for u, _ in divisions if env.scalar("select kind from establishment where uai = :u", u=u)
                     == "ecole"),
        "probe2": sum(1 for u, _ in divisions if env.scalar("select kind from establishment where uai = :u", u=u)
                      == "college")}

    outbox = env.scalar("select count(*) from outbox")
    env.run("sync", "aaf")  # the rollover run twice: nothing to do
    assert not any(k.startswith(("group.", "person.")) for k in env.counts())
    assert env.scalar("select count(*) from outbox") == outbox

    _config(env, school_year=2027, extra='[continuity]\nrollover = "08-25"\n')
    output = env.run("sync", "aaf", expect=3).output
    assert "brings school year 2027-2028" in output and "starts on 2027-08-25" in output
    assert {y for (y,) in env.rows("select distinct school_year from enrollment")} == {2026}


def _strip_sectors(aaf_dir) -> None:
    def strip(id_, attrs, request):
        for attr in request.find("attributes").findall("attr"):
            if attr.get("name") == HUB_SECTEUR:
                attr.getparent().remove(attr)

    rewrite(aaf_dir, "EtabEducNat", strip)


@pytest.mark.slow
def test_cycle_3_networks_from_the_sectorisation_file_reach_both_ents(hub_env):
    env = hub_env
    _config(env)
    env.run("demo", "--persons", "300", "generate")
    _strip_sectors(env.aaf_dir)  # a real AAF has no secteur: the département's file gives it
    env.run("sync", "aaf")
    assert env.scalar("select count(*) from study_group where kind = 'inter'") == 0
    academie = generate_academie(persons=300, seed=1)
    pairs = [(e.uai, e.secteur_college) for e in academie.establishments if e.kind == "ecole"]
    colleges = sorted({c for _, c in pairs})

    bad = env.root / "secteurs-bad.csv"
    wrong = pairs[1][0][:7] + ("A" if pairs[1][0][7] != "A" else "B")  # a bad check letter
    bad.write_bytes((f"UAI école;UAI collège\n{pairs[0][0]};{pairs[0][1]}\n{wrong};{colleges[0]}\n"
                     f"0159999M;{colleges[0]}\n").encode("cp1252"))
    output = env.run("establishments", "import-sectors", str(bad), expect=1).output
    assert "nothing applied" in output and "line 3: UAI" in output and "line 4: 0159999M is not a known" in output
    assert env.scalar("select count(*) from establishment where secteur_college is not null") == 0

    good = env.root / "secteurs.csv"
    good.write_bytes(("UAI école;UAI collège\r\n" + "".join(f"{e};{c}\r\n" for e, c in pairs)).encode("cp1252"))
    output = env.run("establishments", "import-sectors", str(good)).output
    assert f"changed the secteur of {len(pairs)} école(s)" in output
    assert dict(env.rows("select uai, secteur_college from establishment where kind = 'ecole'")) == dict(pairs)
    updates = env.rows("select target, key from outbox where entity = 'establishment' and op = 'update'")
    assert {t for t, _ in updates} == {"probe"} and {k for _, k in updates} == {e for e, _ in pairs}
    listing = env.run("establishments", "--kind", "ecole").output
    assert pairs[0][0] in listing and pairs[0][1] in listing and colleges[0] not in listing.split(pairs[0][1])[0]
    assert "changed the secteur of 0 école(s)" in env.run("establishments", "import-sectors", str(good)).output

    env.run("sync", "aaf")
    groups = {(u, c) for u, c in env.rows("select uai, code from study_group where kind = 'inter'")}
    assert groups == {(c, f"CYCLE3-{n}") for c in colleges for n in ("CM1", "CM2", "6EME")}
    members = Counter(row for row in env.rows(
        "select g.code, e.niveau from group_membership m join study_group g on g.id = m.group_id "
        "join person p on p.id = m.person_id join enrollment e on e.person_id = p.id where g.kind = 'inter'"))
    expected = Counter(row for row in env.rows("select 'CYCLE3-' || niveau, niveau from enrollment "
                                               "where niveau in ('CM1', 'CM2', '6EME')"))
    assert members == expected and sum(expected.values()) > 0
    teachers = set(env.rows(
        "select p.person_key, g.code from group_membership m join study_group g on g.id = m.group_id "
        "join person p on p.id = m.person_id where g.kind = 'inter' and p.kind = 'enseignant'"))
    teaching = set(env.rows(  # the teachers of a class naming a cycle-3 niveau, in a network's école or collège
        "select distinct p.person_key, case when e.kind = 'college' then 'CYCLE3-6EME' when a.group_code like "
        "'%CM1%' then 'CYCLE3-CM1' else 'CYCLE3-CM2' end from teaching_assignment a join person p "
        "on p.id = a.person_id join establishment e on e.uai = a.uai where (e.kind = 'college' and a.group_code "
        "like '6%' and e.uai in (select secteur_college from establishment)) or (e.secteur_college is not null "
        "and (a.group_code like '%CM1%' or a.group_code like '%CM2%'))"))
    teaching |= set(env.rows(
        "select distinct p.person_key, 'CYCLE3-CM2' from teaching_assignment a join person p on p.id = a.person_id "
        "join establishment e on e.uai = a.uai where e.secteur_college is not null and a.group_code like '%CM2%'"))
    assert teachers == teaching and teachers  # the networks' teachers, école and collège
    env.run("deliver")
    for target in ("probe", "probe2"):  # both ENTs get the groups and every member, école and collège pupils
        log = _log(env, target)
        assert {line["key"] for line in log if line["entity"] == "group" and "/CYCLE3-" in line["key"]} \
            == {f"{u}/{c}" for u, c in groups}, target
        added = [line["key"] for line in log if line["entity"] == "membership" and "/CYCLE3-" in line["key"]]
        assert len(added) == sum(expected.values()) + len(teachers), target
