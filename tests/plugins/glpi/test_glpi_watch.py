"""The hub's own incidents as tickets: dead letters and held sync runs, one ticket per cause, a followup when
it recurs, a closing comment when it resolves; through `hub tickets watch` and the `helpdesk.watch` job."""

from __future__ import annotations

import json
import re

import pytest
from aaf_files import drop, records, rewrite, set_attr
from helpdesk_env import configure


def _followups(glpi, ticket_id: int) -> list[str]:
    return [re.sub("<[^>]+>", " ", f["content"]) for f in glpi.followups if f["items_id"] == ticket_id]


def _drop_pupils(env) -> None:
    """A quarter of the pupils gone from the AAF files: over the safety limits, the next sync is held."""
    pupils = [id_ for id_, _ in records(env.aaf_dir, "Eleve")]
    drop(env.aaf_dir, "Eleve", set(pupils[: len(pupils) // 4]))


JOB = '\n[[jobs]]\nname = "helpdesk"\ncron = "*/10 * * * *"\naction = "helpdesk.watch"\n'


@pytest.fixture
def watched(desk, glpi):
    """The desk hub with the probe target enabled (its changes not yet delivered) and a ``helpdesk.watch`` job;
    ``watched.refuse(keys)`` makes the probe refuse those keys for good."""

    def refuse(keys: list[str]) -> None:
        probe = f'\n[plugins.probe]\nlog = "{desk.root / "probe.jsonl"}"\nentities = ["person"]\n' \
                f'refuse = {json.dumps(keys)}\n'
        # no watch test makes GLPI slow: a timeout that a loaded CI machine cannot hit by accident
        configure(desk, glpi.url, timeout=5, enabled=("aaf", "glpi", "probe"), extra=probe + JOB)

    refuse([])
    desk.refuse = refuse
    return desk


def _rename(env, ids: list[str]) -> None:
    rewrite(env.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "sn", "RENOMME") if id_ in ids
            else None)


def test_dead_letters_open_one_ticket_followed_up_when_more_come_closed_once_delivered(watched, glpi):
    ids = [id_ for id_, _ in records(watched.aaf_dir, "Eleve")][:4]
    _rename(watched, ids[:2])
    keys = [k for (k,) in watched.rows(f"select person_key from person where jointure in {tuple(ids)}")]
    watched.refuse(keys)
    watched.run("sync", "aaf")  # two pupils renamed: two updates the probe refuses
    watched.run("deliver")
    assert watched.scalar("select count(*) from outbox where status = 'dead'") == 2
    out = watched.run("tickets", "watch").output
    assert "opened HUB-" in out and "deadletters:probe → departement (rule 'incidents du hub: département')" in out
    (ticket,) = glpi.tickets.values()
    assert "probe: 2 change(s) not delivered" in ticket["name"] and ticket["itilcategories_id"] == 14
    assert "2 person update" in ticket["content"] and "schema error" in ticket["content"]
    assert not any(key.split(":")[-1] in ticket["content"] for key in keys)  # no pupil is named in the ticket
    watched.run("tickets", "watch")
    assert len(glpi.tickets) == 1 and glpi.followups == []  # nothing new: nothing said
    _rename(watched, ids[2:])
    watched.run("sync", "aaf")
    watched.run("deliver")  # two other pupils refused: two more dead letters, the same cause
    assert "1 followed up" in watched.run("tickets", "watch").output
    assert len(glpi.tickets) == 1 and "Again: probe: 4 change(s) not delivered" in _followups(glpi, 1)[0]
    watched.refuse([])
    watched.run("deadletters", "retry", "--all")
    watched.run("deliver")
    out = watched.run("tickets", "watch").output
    assert "resolved HUB-" in out
    assert "Resolved: probe has no undelivered change left" in _followups(glpi, 1)[-1]
    assert watched.scalar("select state from ticket") == "resolved"
    watched.run("tickets", "watch")
    assert len(glpi.followups) == 2  # the closing comment, once


@pytest.mark.slow  # three syncs
def test_a_held_sync_opens_a_ticket_a_new_hold_follows_it_up_an_applied_run_closes_it(watched, glpi):
    watched.run("deliver")
    _drop_pupils(watched)
    watched.run("sync", "aaf", expect=3)
    first = watched.scalar("select max(id) from run where action = 'sync'")
    out = watched.run("jobs", "run", "helpdesk").output
    assert "1 opened" in out and "sent 1" in out
    (ticket,) = glpi.tickets.values()
    assert f"sync aaf held by the safety checks (run {first})" in ticket["name"]
    assert f"hub journal show {first}" in ticket["content"]
    watched.run("sync", "aaf", expect=3)  # held again: the same cause comes back
    watched.run("jobs", "run", "helpdesk")
    assert len(glpi.tickets) == 1 and len(_followups(glpi, 1)) == 1
    assert "Again: sync aaf held" in _followups(glpi, 1)[0]
    assert watched.scalar("select occurrences from ticket") == 2
    watched.run("jobs", "run", "helpdesk")
    assert len(glpi.followups) == 1  # the same hold, seen again: no new followup
    watched.run("sync", "aaf", "--force")
    out = watched.run("jobs", "run", "helpdesk").output
    assert "1 resolved" in out
    assert "Resolved: the latest sync of aaf was applied" in _followups(glpi, 1)[-1]
    assert len(glpi.tickets) == 1
    runs = watched.rows("select trigger, status, counts from run where action = 'helpdesk' order by id")
    assert [r.trigger for r in runs] == ["job:helpdesk"] * 4 and {r.status for r in runs} == {"applied"}
    assert "1 resolved" in watched.run("journal").output


def test_a_ticket_watch_with_glpi_down_keeps_everything_and_catches_up(watched, glpi):
    watched.run("deliver")
    _drop_pupils(watched)
    watched.run("sync", "aaf", expect=3)
    glpi.down = True
    assert "kept 1 for retry" in watched.run("jobs", "run", "helpdesk").output
    watched.run("sync", "aaf", "--force")  # resolved while GLPI is still down
    watched.run("jobs", "run", "helpdesk")
    assert glpi.tickets == {}
    glpi.down = False
    watched.run("tickets", "send", "--now")
    assert len(glpi.tickets) == 1  # opened, then its closing comment, in order
    assert "Resolved" in _followups(glpi, 1)[0]
