"""ent_kosmos faults: what the SCIM server refuses or fails to answer is retried or dead-lettered with its
words, never lost; an ENT that lost its data is reported, and `hub ent_kosmos resync` provisions it again.

The faults come from a WSGI middleware in front of the real server (scim_server.Faults)."""

from __future__ import annotations

import httpx
import pytest
from kosmos_checks import HUB_USER, by_external_id, search
from kosmos_env import prepare
from scim_server import TOKEN, Fault
from sqlalchemy import text


def _rows(env, status):
    return env.rows("select key, op, attempts, last_error from outbox where target = 'ent_kosmos' and status = :s "
                    "order by id", s=status)


@pytest.mark.slow
def test_5xx_and_timeouts_are_retried_later(hub_env, scim):
    env = prepare(hub_env, scim)
    scim.faults.faults.append(Fault("POST", "/Bulk$", 503))
    env.run("deliver")
    pending = _rows(env, "pending")
    assert pending and not _rows(env, "dead")
    college_people = {k for (k,) in env.rows("select person_key from person where uai in "
                                             "(select uai from establishment where kind = 'college')")}
    assert all(r.op == "add" and r.key.partition("|")[0] not in college_people  # only what the ENT never holds:
               for r in _rows(env, "delivered"))  # école teachers in the collège's cycle-3 groups
    assert all(r.attempts == 1 for r in pending)
    assert all("answered 503 (injected fault)" in r.last_error for r in pending if "|" not in r.key)
    assert all("not at the ENT yet" in r.last_error or "503" in r.last_error  # links wait for their ends
               for r in pending if "|" in r.key)
    scim.faults.faults[:] = [Fault("POST", "/Bulk$", sleep=3)]  # longer than timeout_seconds = 2
    engine = env.engine()
    with engine.begin() as conn:
        conn.execute(text("update outbox set next_attempt_at = created_at"))  # due now
    engine.dispose()
    env.run("deliver")
    pending = [r for r in _rows(env, "pending") if "|" not in r.key]
    assert pending and all(r.attempts == 2 and "ReadTimeout" in r.last_error for r in pending)
    # the server did create what it answered too late: the next delivery finds it (409 on POST) and links it
    scim.faults.faults.clear()
    scim.faults.wait_idle()
    engine = env.engine()
    with engine.begin() as conn:
        conn.execute(text("update outbox set next_attempt_at = created_at"))
    engine.dispose()
    env.run("deliver")
    assert not _rows(env, "pending") and not _rows(env, "dead")
    users = search(scim, "Users")
    assert len(users) == len({u["userName"] for u in users}) == len({u["externalId"] for u in users})


@pytest.mark.slow
def test_a_refused_record_is_dead_lettered_with_the_servers_words(hub_env, scim_one_by_one):
    scim = scim_one_by_one
    env = prepare(hub_env, scim)
    taken = env.rows("select person_key, jointure from person where kind = 'eleve' and uai in "
                     "(select uai from establishment where kind = 'college') order by person_key limit 3")
    # one userName already at the ENT (the link was lost): found and linked, not duplicated
    httpx.post(f"{scim.url}/Users", headers={"Authorization": f"Bearer {TOKEN}"},
               json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": taken[2].jointure})
    scim.faults.faults += [
        Fault("POST", "/Users$", 400, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400",
                                       "scimType": "invalidValue", "detail": "givenName is too long"}, times=1),
        Fault("POST", "/Users$", 409, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "409",
                                       "scimType": "uniqueness", "detail": "mail already used"}, times=1),
    ]
    env.run("deliver")
    dead = _rows(env, "dead")
    assert [r.key for r in dead] == [taken[0].person_key, taken[1].person_key]  # the first two POSTs
    assert "400" in dead[0].last_error and "invalidValue; givenName is too long" in dead[0].last_error
    assert "409" in dead[1].last_error and "uniqueness; mail already used" in dead[1].last_error
    adopted = search(scim, "Users", f'userName eq "{taken[2].jointure}"')
    assert len(adopted) == 1 and adopted[0]["externalId"] == taken[2].person_key
    assert env.scalar("select remote_id from target_link where key = :k", k=taken[2].person_key) == adopted[0]["id"]
    refused = {taken[0].person_key, taken[1].person_key}
    waiting = _rows(env, "pending")  # only the refused pupils' classes and parents wait for them; the rest went
    assert waiting and all(r.key.split("|")[0] in refused and "not at the ENT yet" in r.last_error for r in waiting)
    assert "givenName is too long" in env.run("deadletters", "list").output


@pytest.mark.slow
def test_an_ent_that_lost_its_data_is_reported_and_resynced(hub_env, scim):
    env = prepare(hub_env, scim)
    env.run("deliver")
    college = env.scalar("select uai from establishment where kind = 'college'")
    before = {u["externalId"] for u in search(scim, "Users")}
    scim.forget()
    env.run("sync", "aaf")  # nothing changed: nothing to send
    pupils = env.rows("select person_key, jointure from person where kind = 'eleve' and uai = :u "
                      "order by person_key limit 2", u=college)
    from aaf_files import rewrite, set_attr

    def rename(id_, attrs, request):
        if id_ in {p.jointure for p in pupils}:
            set_attr(request, "givenName", "Renamed")
    rewrite(env.aaf_dir, "Eleve", rename)
    env.run("sync", "aaf")
    env.run("deliver")
    dead = _rows(env, "dead")
    assert {r.key for r in dead} == {p.person_key for p in pupils}
    assert all("the ENT lost User" in r.last_error and f"resync --uai {college}" in r.last_error for r in dead)

    output = env.run("ent_kosmos", "resync", "--uai", college).output
    assert f"{college}:" in output and "lost by the ENT and created again" in output
    env.run("deadletters", "retry", "--all")
    env.run("deliver")
    assert not _rows(env, "dead") and not _rows(env, "pending")
    users = search(scim, "Users", f'{HUB_USER}:uai eq "{college}"')
    assert {u["externalId"] for u in users} <= before and len(users) > 0
    renamed = by_external_id(scim, "Users", pupils[0].person_key)
    assert renamed["name"]["givenName"] == "Renamed"
    links = dict(env.rows("select key, remote_id from target_link where target = 'ent_kosmos'"))
    assert links[pupils[0].person_key] == renamed["id"]  # re-linked to the new resource
    divisions = [g for g in search(scim, "Groups", f'externalId sw "{college}/"')
                 if g["externalId"].split("/")[1][:1].isdigit()]  # 6A, 5B…
    assert divisions and all(g.get("members") for g in divisions)  # the classes' members again
    assert env.run("ent_kosmos", "resync", "--uai", "0000000V", expect=1).output.count("not an establishment")
