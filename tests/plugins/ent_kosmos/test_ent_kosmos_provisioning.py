"""ent_kosmos end to end: `hub sync aaf` then `hub deliver` to a real SCIM server, and what it then holds."""

from __future__ import annotations

import pytest
from aaf_files import records, rewrite, set_attr
from kosmos_checks import HUB_USER, by_external_id, content, search
from kosmos_env import prepare


def _colleges(env) -> set[str]:
    return {u for (u,) in env.rows("select uai from establishment where kind = 'college'")}


def test_first_delivery_provisions_the_colleges_pupils_classes_and_parents(kosmos_env, scim):
    kosmos_env.run("deliver")
    assert kosmos_env.scalar("select count(*) from outbox where target = 'ent_kosmos' and status <> 'delivered'") == 0
    colleges = _colleges(kosmos_env)
    pupils = search(scim, "Users", f'{HUB_USER}:profile eq "National_ELV"')
    stored = {k for (k,) in kosmos_env.rows(
        "select person_key from person where kind = 'eleve' and status = 'active' and uai in "
        f"({','.join(repr(u) for u in colleges)})")}
    assert {u["externalId"] for u in pupils} == stored and len(pupils) == len(stored) > 0  # collèges only, once
    assert all(u[HUB_USER]["uai"] in colleges and u["active"] for u in pupils)
    assert not any("birthDate" in u[HUB_USER] or "emails" in u for u in pupils)  # minors: only what they need

    uai, code = kosmos_env.rows("select uai, code from study_group where kind = 'division' and uai in "
                                f"({','.join(repr(u) for u in colleges)}) order by uai, code")[0]
    group = by_external_id(scim, "Groups", f"{uai}/{code}")
    in_class = {k for (k,) in kosmos_env.rows(
        "select p.person_key from person p join group_membership m on m.person_id = p.id join study_group g "
        "on g.id = m.group_id where g.uai = :u and g.code = :c", u=uai, c=code)}
    ids = {u["externalId"]: u["id"] for u in search(scim, "Users")}
    assert in_class and {m["value"] for m in group["members"]} == {ids[k] for k in in_class}

    with_parents = [u for u in pupils if u[HUB_USER].get("parents")]
    assert with_parents
    for pupil in with_parents[:20]:
        for parent in pupil[HUB_USER]["parents"]:
            assert parent["value"] == ids[parent["key"]]  # the parent's own account at the ENT
    parents = search(scim, "Users", f'{HUB_USER}:profile eq "National_TUT"')
    assert {p["externalId"] for p in parents} == {p["key"] for u in pupils for p in u[HUB_USER].get("parents", [])}
    teachers = search(scim, "Users", f'{HUB_USER}:profile eq "National_ENS"')
    assert teachers and all(t["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["organization"]
                            in colleges for t in teachers)
    links = kosmos_env.scalar("select count(*) from target_link where target = 'ent_kosmos'")
    assert links == len(search(scim, "Users")) + len(search(scim, "Groups"))


@pytest.mark.slow
def test_the_same_changes_twice_change_nothing(kosmos_env, scim):
    kosmos_env.run("deliver")
    before, requests = content(scim), scim.timing.requests
    kosmos_env.run("deliver")
    assert scim.timing.requests == requests  # nothing pending: not even a request
    engine = kosmos_env.engine()
    with engine.begin() as conn:
        from sqlalchemy import text
        conn.execute(text("update outbox set status = 'pending', attempts = 0 where target = 'ent_kosmos'"))
    engine.dispose()
    kosmos_env.run("deliver")  # every change again, as after a crash
    assert scim.timing.requests > requests
    assert content(scim) == before


@pytest.mark.slow
def test_a_move_then_a_leave_and_archive(hub_env, scim):
    """One collège in the 300-person académie: the ENT serves lycées too here, so collège → lycée is a move
    within its scope, and collège → école takes a pupil out of it (leave, then archive)."""
    kosmos_env = prepare(hub_env, scim, 'establishment_kinds = ["college", "lycee"]')
    kosmos_env.run("deliver")
    college = sorted(_colleges(kosmos_env))[0]
    structures = {attrs["ENTStructureUAI"][0]: id_ for id_, attrs in records(kosmos_env.aaf_dir, "EtabEducNat")}
    pupils = [(id_, attrs) for id_, attrs in records(kosmos_env.aaf_dir, "Eleve")
              if attrs["ENTPersonStructRattach"][0] == structures[college]]
    mover, leaver = pupils[0][0], pupils[1][0]
    lycee = kosmos_env.scalar("select uai from establishment where kind = 'lycee'")
    ecole = kosmos_env.scalar("select uai from establishment where kind = 'ecole'")
    lycee_class, ecole_class = (kosmos_env.scalar("select min(code) from study_group where uai = :u and "
                                                  "kind = 'division'", u=u) for u in (lycee, ecole))
    old_class = pupils[0][1]["ENTEleveClasses"][0].split("$")[1]

    def move(id_, attrs, request):
        for who, uai, code in ((mover, lycee, lycee_class), (leaver, ecole, ecole_class)):
            if id_ == who:
                set_attr(request, "ENTPersonStructRattach", structures[uai])
                set_attr(request, "ENTEleveClasses", f"{structures[uai]}${code}")
                set_attr(request, "ENTEleveGroupes")
    rewrite(kosmos_env.aaf_dir, "Eleve", move)
    kosmos_env.run("sync", "aaf", "--force")
    kosmos_env.run("deliver")

    key = kosmos_env.scalar("select person_key from person where jointure = :j", j=mover)
    user = by_external_id(scim, "Users", key)
    assert user["active"] and user[HUB_USER]["uai"] == lycee
    assert user[HUB_USER]["classes"] == [{"value": f"{lycee}/{lycee_class}", "type": "division"}]
    assert user["id"] in {m["value"] for m in by_external_id(scim, "Groups", f"{lycee}/{lycee_class}")["members"]}
    old_group = by_external_id(scim, "Groups", f"{college}/{old_class}")
    assert user["id"] not in {m["value"] for m in old_group.get("members", [])}

    gone = kosmos_env.scalar("select person_key from person where jointure = :j", j=leaver)
    ops = [op for (op,) in kosmos_env.rows("select op from outbox where target = 'ent_kosmos' and key = :k "
                                           "order by id", k=gone)]
    assert ops[-2:] == ["leave", "archive"]  # grace_days = 0: archive due at once
    account = by_external_id(scim, "Users", gone)
    assert account is not None and not account["active"]  # kept, inactive: nothing deleted before the purge
    assert account[HUB_USER]["status"] == "archived" and account[HUB_USER]["uai"] == college
    assert kosmos_env.scalar("select count(*) from outbox where target = 'ent_kosmos' and status <> 'delivered'") == 0
