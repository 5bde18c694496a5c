"""The target contract end to end, through a probe target plugin (tests/probe): scopes, the order of changes,
memberships and family links as entities, leave/join/archive across scopes, batches, partial refusals, target
links, the read-only store view, and the registration hooks."""

import inspect
import json
import re
from pathlib import Path

import pytest
from aaf_files import records, rewrite, set_attr
from test_sync import pupils_by_uai

from hub import hookspecs
from hub.app import create_app
from hub.settings import load_settings

ORDER = ["establishment", "group", "person", "membership", "guardianship"]


def _log(env) -> list[dict]:
    path = env.root / "probe.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def probe_hub(hub_env):
    hub_env.write_config(f"""
        [plugins.probe]
        log = "{hub_env.root / 'probe.jsonl'}"
        establishment_kinds = ["college"]
        [sync]
        grace_days = 30
        """, enabled=("aaf", "probe"))
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    return hub_env


def test_a_target_gets_its_scope_in_order_in_batches_with_its_links(probe_hub):
    probe_hub.run("deliver")
    log = _log(probe_hub)
    colleges = {u for (u,) in probe_hub.rows("select uai from establishment where kind = 'college'")}
    assert log and {line["uai"] for line in log if line["entity"] != "person" or line["uai"]} <= colleges
    order = [line["entity"] for line in log]
    assert order == sorted(order, key=ORDER.index)  # classes before pupils, pupils before their links
    assert {line["entity"] for line in log} == set(ORDER)
    assert max(line["batch"] for line in log) == 3 and all(line["has_record"] for line in log)
    pupils = probe_hub.scalar("select count(*) from person where kind = 'eleve' and uai in "
                              f"({','.join(repr(u) for u in colleges)})")
    assert sum(1 for line in log if line["entity"] == "person" and line["key"].startswith("ine:")) == pupils
    parents = [line for line in log if line["entity"] == "person" and line["uai"] is None]
    served_parents = probe_hub.scalar(
        "select count(distinct g.parent_id) from guardianship g join person c on c.id = g.pupil_id "
        f"where c.uai in ({','.join(repr(u) for u in colleges)})")
    assert len(parents) == served_parents > 0  # parents reach the target through their children
    links = probe_hub.scalar("select count(*) from target_link where target = 'probe'")
    assert links == len({(line["entity"], line["key"]) for line in log})
    assert probe_hub.scalar("select count(*) from outbox where status <> 'delivered'") == 0


def test_leaving_the_scope_is_leave_then_archive_and_coming_back_is_join(probe_hub):
    probe_hub.run("deliver")
    by_uai = pupils_by_uai(probe_hub)
    colleges = [u for (u,) in probe_hub.rows("select uai from establishment where kind = 'college'")]
    lycee = probe_hub.scalar("select uai from establishment where kind = 'lycee'")
    pupil = by_uai[colleges[0]][0]
    key = probe_hub.scalar("select person_key from person where jointure = :j", j=pupil)
    division = probe_hub.scalar("select code from study_group where uai = :u and kind = 'division'", u=lycee)

    def move_to(uai, code):
        def change(id_, attrs, request):
            if id_ == pupil:
                set_attr(request, "ENTPersonStructRattach", uai)
                set_attr(request, "ENTEleveClasses", f"{uai}${code}")
        rewrite(probe_hub.aaf_dir, "Eleve", change)

    old_division = dict(records(probe_hub.aaf_dir, "Eleve"))[pupil]["ENTEleveClasses"][0].split("$")[1]
    move_to(lycee, division)
    probe_hub.run("sync", "aaf")
    rows = probe_hub.rows("select op, status, next_attempt_at, created_at from outbox "
                          "where target = 'probe' and key = :k and run_id = (select max(id) from run)", k=key)
    ops = {row.op: row for row in rows}
    assert set(ops) == {"leave", "archive"}
    from hubtest import as_datetime
    assert (as_datetime(ops["archive"].next_attempt_at) - as_datetime(ops["archive"].created_at)).days == 30
    probe_hub.run("deliver")
    assert [line["op"] for line in _log(probe_hub) if line["key"] == key][-1] == "leave"

    move_to(colleges[0], old_division)
    probe_hub.run("sync", "aaf")
    assert probe_hub.scalar("select count(*) from outbox where key = :k and op = 'archive'", k=key) == 0
    probe_hub.run("deliver")
    last = [line for line in _log(probe_hub) if line["key"] == key][-1]
    assert last["op"] == "join" and last["uai"] == colleges[0] and last["old_uai"] == lycee
    assert last["remote"]  # the same remote object as before: the link was kept


def test_a_refused_change_is_dead_lettered_and_blocks_nobody_else(probe_hub):
    first = probe_hub.scalar("select key from outbox where target = 'probe' and entity = 'person' order by id")
    probe_hub.write_config(f"""
        [plugins.probe]
        log = "{probe_hub.root / 'probe.jsonl'}"
        establishment_kinds = ["college"]
        refuse = ["{first}"]
        """, enabled=("aaf", "probe"))
    probe_hub.run("deliver")
    dead = probe_hub.rows("select key, last_error from outbox where status = 'dead'")
    assert [row.key for row in dead] == [first] and "probe refuses" in dead[0].last_error
    assert probe_hub.scalar("select count(*) from outbox where status = 'pending'") == 0
    assert "probe refuses" in probe_hub.run("deadletters", "list").output


def test_registration_hooks_add_commands_jobs_and_pages(probe_hub):
    college = probe_hub.scalar("select uai from establishment where kind = 'college' order by uai")
    output = probe_hub.run("probe", "roster", college).output
    assert re.search(r"Collège .*: \d+ people, \d+ parents, \d+ groups", output)
    assert "probe" in probe_hub.run("--help").output
    probe_hub.config.write_text(probe_hub.config.read_text() + """
[[jobs]]
name = "ping"
cron = "0 3 * * *"
action = "probe.ping"

[[jobs]]
name = "typo"
cron = "0 3 * * *"
action = "probe.pong"
""")
    assert "no action 'probe.pong'" in probe_hub.run("jobs", "run", "ping", expect=1).output
    probe_hub.config.write_text(probe_hub.config.read_text().split('[[jobs]]\nname = "typo"')[0])
    assert "pong from ping" in probe_hub.run("jobs", "run", "ping").output
    app = create_app(load_settings(probe_hub.config))
    assert app.test_client().get("/probe").get_json() == {"probe": "ok"}


def test_every_hook_is_documented_and_tested():
    hooks = [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("hub_")]
    tests = "".join(p.read_text() for p in Path(__file__).parents[1].rglob("*.py"))
    for name in hooks:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 40, f"hook {name} has no documentation in hub/hookspecs.py"
        assert re.search(rf"\b{name}\b\s*\(|\"{name}\"", tests), f"hook {name} is implemented or called by no test"
