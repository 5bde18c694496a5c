"""Approving a held run replays the options it was held with (--uai, --no-*), from the console and from
`hub approve`: what is applied is what was reviewed, never the whole source."""

from __future__ import annotations

import json

import pytest
from aaf_files import drop, records
from consoletest import csrf_token
from hubtest import HubEnv


def thin_two_schools(env: HubEnv) -> tuple[str, str, int]:
    """Drop a third of the pupils of the biggest collège and of another school from the AAF files: (the collège's
    UAI, the other's, pupils dropped from the collège)."""
    structures = {id_: attrs["ENTStructureUAI"][0] for id_, attrs in records(env.aaf_dir, "EtabEducNat")}
    colleges = {row.uai for row in env.rows("select uai from establishment where kind = 'college'")}
    by_uai: dict[str, list[str]] = {}
    for id_, attrs in records(env.aaf_dir, "Eleve"):
        by_uai.setdefault(structures.get(attrs["ENTPersonStructRattach"][0]), []).append(id_)
    first = max(colleges & set(by_uai), key=lambda uai: len(by_uai[uai]))
    second = max(set(by_uai) - {first}, key=lambda uai: len(by_uai[uai]))
    dropped = by_uai[first][: len(by_uai[first]) // 3]
    drop(env.aaf_dir, "Eleve", set(dropped) | set(by_uai[second][: len(by_uai[second]) // 3]))
    return first, second, len(dropped)


def run_uai(console, run_id: int) -> str:
    return json.loads(console.env.scalar("select options from run where id = :r", r=run_id))["uai"]


def approve_in_console(console, run_id: int) -> None:
    client = console.client("otto")
    page = client.get(f"/admin/runs/{run_id}").text
    assert (
        f"--uai {run_uai(console, run_id)} --force" in page
    )  # the command the approval amounts to, shown before approving
    response = client.post(
        f"/admin/runs/{run_id}/approve", data={"reason": "the annex opened", "csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302


def approve_on_the_command_line(console, run_id: int) -> None:
    result = console.env.run("approve", str(run_id), "--reason", "the annex opened")
    assert f"run {run_id} approved; applied as run" in result.output


@pytest.mark.parametrize("approve", [approve_in_console, approve_on_the_command_line])
def test_a_run_held_for_one_establishment_is_applied_to_that_establishment_only(console, approve):
    env = console.env
    college, other, dropped = thin_two_schools(env)
    env.run("sync", "aaf", "--uai", college, expect=3)
    held = env.scalar("select max(id) from run")
    assert env.scalar("select status from run where id = :r", r=held) == "held"
    approve(console, held)
    applied = env.scalar("select max(id) from run where action = 'sync'")
    assert applied > held and env.scalar("select status from run where id = :r", r=applied) == "applied"
    assert env.counts(applied)["person.delete"] == dropped
    gone = env.rows("select distinct uai from person where status <> 'active'")
    assert gone == [(college,)]  # the other school's pupils, also missing from the files, are all still there
    assert env.scalar("select count(*) from person where uai = :u and status = 'active'", u=other) > 0
    assert json.loads(env.scalar("select options from run where id = :r", r=applied))["uai"] == college


def test_a_run_held_before_its_options_were_journaled_is_not_approved_blindly(console):
    env = console.env
    college, _, _ = thin_two_schools(env)
    env.run("sync", "aaf", "--uai", college, expect=3)
    held = env.scalar("select max(id) from run")
    engine = env.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("update run set options = null where id = ?", (held,))
    engine.dispose()
    result = env.run("approve", str(held), "--reason", "trust me", expect=1)
    assert "was held before the journal kept a run's options" in result.output
    assert "hub sync aaf --force" in result.output
    assert env.scalar("select max(id) from run where action = 'sync'") == held
