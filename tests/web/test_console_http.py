"""The console over HTTP on 127.0.0.1: login rules, roles, headers and cookies, and each operator action
going through the hub's own functions, journaled and audited."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from consoletest import PASSWORD, SECRET, add_logins, add_users, configure, csrf_token, hold_a_run, login, serve
from hubtest import HubEnv


def post(client, path: str, data: dict, page: str = "/admin/"):
    """A form post as the browser sends it: with the CSRF token of a page the user has open."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client.get(page).text)})


def flash(client, page: str) -> str:
    return re.search(r'class="flash [^"]*" role="status">([^<]*)<', client.get(page).text)[1]


def test_pages_carry_security_headers_and_the_session_cookie_its_flags(console):
    client = console.client()
    response = client.get("/admin/login")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = login(client, "vic").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain HTTP in this test


def test_by_default_the_cookie_is_secure_and_https_is_required_again(console_env):
    console_env.write_config()  # no [console] section: the defaults
    server = serve(console_env)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
            page = client.get("/admin/login")
            assert "; Secure" in page.headers["Set-Cookie"]
            assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert login(client, "vic").status_code == 400  # over plain HTTP the cookie (and its CSRF token) stays away
    finally:
        server.shutdown()


def test_without_a_secret_key_the_console_says_what_to_set(console_env, monkeypatch):
    monkeypatch.delenv("HUB_CONSOLE__SECRET_KEY")
    server = serve(console_env)
    try:
        import httpx

        response = httpx.get(f"http://127.0.0.1:{server.server_port}/admin/login")
        assert response.status_code == 503 and "set HUB_CONSOLE__SECRET_KEY" in response.text
    finally:
        server.shutdown()
    result = console_env.run("serve", expect=1)
    assert "the console needs a secret key: set HUB_CONSOLE__SECRET_KEY" in result.output


def test_the_secret_key_is_refused_in_the_settings_file(console_env):
    console_env.write_config('[console]\nsecret_key = "in-the-file"\n')
    result = console_env.run("serve", expect=1)
    assert "setting console.secret_key in" in result.output and "HUB_CONSOLE__SECRET_KEY" in result.output


def test_failed_logins_lock_the_account_for_a_while(console_env, monkeypatch):
    configure(console_env, monkeypatch, "max_failed_logins = 2\n")
    server = serve(console_env)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
            assert login(client, "vic", "wrong-password-1").status_code == 401
            assert login(client, "vic", "wrong-password-2").status_code == 401
            refused = login(client, "vic")
        assert refused.status_code == 401 and "too many failed logins" in refused.text
    finally:
        server.shutdown()
    assert console_env.scalar("select count(*) from audit_event where actor = 'vic' and outcome = 'refused'") == 3
    console_env.run("admin", "set-password", "vic", env={"HUB_ADMIN_PASSWORD": PASSWORD})  # unlocks


def test_an_account_with_totp_needs_the_code(console):
    output = console.env.run("admin", "add-user", "tess", "--role", "viewer", "--totp",
                             env={"HUB_ADMIN_PASSWORD": PASSWORD}).output
    secret = re.search(r"secret=([A-Z2-7]+)", output)[1]
    client = console.client()
    assert login(client, "tess").status_code == 401
    assert login(client, "tess", code="000000").status_code == 401
    code = pyotp.TOTP(secret).now()
    assert login(client, "tess", code=code).status_code == 302
    assert client.get("/admin/").status_code == 200
    replayed = login(console.client(), "tess", code=code)  # the code seen over a shoulder, a second later
    assert replayed.status_code == 401


def test_a_disabled_account_or_a_new_password_ends_open_sessions(console):
    vic, otto = console.client("vic"), console.client("otto")
    console.env.run("admin", "disable", "vic")
    assert vic.get("/admin/").status_code == 302
    assert login(vic, "vic").status_code == 401
    console.env.run("admin", "set-password", "otto", env={"HUB_ADMIN_PASSWORD": "another-long-password"})
    assert otto.get("/admin/").status_code == 302
    assert "vic" in console.env.run("admin", "users").output


def test_admin_commands_refuse_bad_input(sqlite_hub):
    add_users(sqlite_hub, {"ada": "admin"})
    short = sqlite_hub.run("admin", "add-user", "bob", env={"HUB_ADMIN_PASSWORD": "short"}, expect=1)
    assert "the password needs at least 12 characters" in short.output
    again = sqlite_hub.run("admin", "add-user", "ada", env={"HUB_ADMIN_PASSWORD": PASSWORD}, expect=1)
    assert "user ada exists already" in again.output
    assert "no console user named zed" in sqlite_hub.run("admin", "set-role", "zed", "admin", expect=1).output
    assert sqlite_hub.scalar("select count(*) from admin_user") == 1
    assert sqlite_hub.rows("select actor, action, target from audit_event")[0][1:] == ("add-user", "ada")


def test_roles_decide_what_each_user_may_open(console):
    vic, ada = console.client("vic"), console.client("ada")
    for path in ("/admin/", "/admin/runs", "/admin/operations", "/admin/jobs", "/admin/indicators",
                 "/admin/directory?q=0150", "/admin/runs/1", "/admin/establishments/0150001A"):
        assert vic.get(path).status_code in (200, 404), path
    assert vic.get("/admin/audit").status_code == 403
    assert vic.get("/admin/settings").status_code == 403
    settings = ada.get("/admin/settings").text
    assert "**********" in settings and SECRET not in settings
    audit = ada.get("/admin/audit").text
    assert "console.audit" in audit and "refused" in audit and "127.0.0.1" in audit


def test_an_operator_retries_a_dead_letter_and_runs_a_job_now(console, tmp_path, monkeypatch):
    env = console.env
    pupil = env.rows("select person_key from person where kind = 'eleve' order by person_key limit 1")[0][0]
    configure(env, monkeypatch, f'[plugins.probe]\nlog = "{tmp_path / "probe.jsonl"}"\nrefuse = ["{pupil}"]\n'
              '[[jobs]]\nname = "deliver-now"\ncron = "0 3 * * *"\naction = "deliver"\n', enabled=("aaf", "probe"))
    server = serve(env)  # with the probe target and the job
    try:
        import httpx

        client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}")
        login(client, "otto")
        dead = _make_dead_letter(env, pupil)
        person = client.get(f"/admin/people/{pupil}").text  # what the targets were told, and what they refused
        assert "<td>update</td>" in person and "probe: update dead — probe refuses" in person
        response = post(client, "/admin/deadletters/retry", {"id": str(dead)}, "/admin/operations")
        assert response.status_code == 302
        assert flash(client, "/admin/operations").startswith("1 change(s) queued again")
        assert env.scalar("select status from outbox where id = :i", i=dead) == "pending"
        post(client, "/admin/jobs/deliver-now/run", {}, "/admin/jobs")
        assert flash(client, "/admin/jobs").startswith("deliver: 0 delivered, 1 dead")
        run = env.rows("select action, trigger from run order by id desc limit 1")[0]
        assert run == ("deliver", "console:otto")
        assert env.rows("select action, target, outcome from audit_event where actor = 'otto' and action <> 'login' "
                        "order by id") == [("retry-dead-letters", str(dead), "ok"), ("run-job", "deliver-now", "ok")]
    finally:
        server.shutdown()


def _make_dead_letter(env: HubEnv, pupil: str) -> int:
    """The probe refuses the pupil for good: change the pupil (a new first name in the feed), deliver."""
    from aaf_files import rewrite, set_attr

    ine = env.scalar("select ine from person where person_key = :k", k=pupil)
    rewrite(env.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "givenName", "Renamed")
            if attrs.get("ENTEleveINE") == [ine] else None)
    env.run("sync", "aaf", "--full")
    env.run("deliver")
    return env.scalar("select id from outbox where status = 'dead' and key = :k", k=pupil)


def test_an_operator_releases_a_dead_lock_and_links_two_records(console):
    env, otto = console.env, console.client("otto")
    with env.lock_held_elsewhere("sync:aaf"):
        post(otto, "/admin/locks/release", {"name": "sync:aaf"}, "/admin/operations")
        assert "is still running" in flash(otto, "/admin/operations")
    # the holder was killed without releasing it: a dead lock
    assert "no (dead)" in otto.get("/admin/operations").text
    post(otto, "/admin/locks/release", {"name": "sync:aaf"}, "/admin/operations")
    assert flash(otto, "/admin/operations").startswith("released sync:aaf (was held by")
    assert env.scalar("select count(*) from job_lock") == 0
    assert "released by otto" in env.scalar("select e.reason from run_event e join run r on r.id = e.run_id "
                                            "where r.action = 'unlock'")
    keep, other = (r[0] for r in env.rows("select person_key from person where kind = 'parent' "
                                           "order by person_key limit 2"))
    post(otto, "/admin/duplicates/link", {"keep": keep, "other": other, "reason": ""}, "/admin/operations")
    assert "say why" in flash(otto, "/admin/operations")
    post(otto, "/admin/duplicates/link", {"keep": keep, "other": other, "reason": "same parent, two feeds"},
         "/admin/operations")
    assert flash(otto, "/admin/operations").startswith(f"{other} is now {keep}")
    assert env.scalar("select person_key from person_alias where alias_key = :o", o=other) == keep
    assert env.rows("select action, outcome from audit_event where actor = 'otto' and action <> 'login' "
                    "order by id") == [("release-lock", "failed"), ("release-lock", "ok"), ("link-people", "failed"),
                                       ("link-people", "ok")]


def test_a_held_run_that_is_no_longer_the_latest_cannot_be_approved(console):
    run_id = hold_a_run(console.env)
    console.env.run("sync", "aaf", "--dry-run", expect=3)  # a newer run of the source replaces its plan
    otto = console.client("otto")
    post(otto, f"/admin/runs/{run_id}/approve", {"reason": "checked"}, f"/admin/runs/{run_id}")
    assert "is no longer the latest run of aaf" in flash(otto, "/admin/")
    post(otto, f"/admin/runs/{run_id + 1}/approve", {"reason": ""}, f"/admin/runs/{run_id}")
    assert "say why" in flash(otto, "/admin/")
    assert console.env.scalar("select count(*) from person where status <> 'active'") == 0


def test_the_plan_preview_filters_by_establishment_and_change(console):
    run_id = hold_a_run(console.env)
    deleted = console.env.rows("select p.uai from plan_change c join person p on p.id = c.person_id "
                               "where c.run_id = :r and c.op = 'delete'", r=run_id)
    uai = deleted[0].uai
    page = console.client("vic").get(f"/admin/runs/{run_id}", params={"uai": uai, "op": "delete"}).text
    rows = re.findall(rf"<tr><td>person</td><td>delete</td><td>[^<]*</td><td>eleve</td>\s*<td>{uai}</td>", page)
    assert len(rows) == len(deleted) > 0
    other = console.env.scalar("select uai from establishment where uai <> :u limit 1", u=uai)
    page = console.client("vic").get(f"/admin/runs/{run_id}", params={"uai": other, "op": "delete"}).text
    assert "<td>delete</td>" not in page
    assert "Approve and apply" not in page  # a viewer


@pytest.mark.parametrize("user", [None, "vic"])
def test_the_api_needs_a_login_and_answers_json(console, user):
    client = console.client(user)
    response = client.get("/api/runs")
    if user is None:
        assert response.status_code == 401 and response.json() == {"error": "log in to the console first"}
        return
    runs = response.json()
    assert runs[0]["action"] == "sync" and runs[0]["status"] == "applied"
    assert client.get(f"/api/runs/{runs[0]['id']}").json()["counts"]["person.create"] > 0
    assert client.get("/api/runs/999999").status_code == 404
    assert client.get("/api/runs", params={"limit": 0}).status_code == 400
    ine = console.env.scalar("select ine from person where ine is not null order by person_key limit 1")
    found = client.get("/api/search", params={"q": ine}).json()
    assert [p["ine"] for p in found["people"]] == [ine]
    document = client.get("/api/openapi.json").json()
    assert document["openapi"] == "3.1.0" and "/indicators/weekly" in document["paths"]


def test_the_plugins_page_shows_each_plugins_health_check(console, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "health_plugin"))  # its dist-info registers it
    folder = tmp_path / "watched"
    folder.mkdir()
    configure(console.env, monkeypatch, f'[plugins.health_probe]\nfolder = "{folder}"\n',
              enabled=("aaf", "health_probe"))
    server = serve(console.env)
    try:
        import httpx

        client = httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}")
        login(client, "vic")
        page = client.get("/admin/jobs").text
        assert f"ok: {folder} is there" in page and "no check" in page  # aaf has none
        folder.rmdir()
        plugins = {p["name"]: p for p in client.get("/api/plugins").json()}
        assert plugins["health_probe"]["healthy"] is False
        assert plugins["health_probe"]["detail"] == f"OSError: {folder} is not a folder"
        assert plugins["aaf"]["healthy"] is None and "hub_read_directory" in plugins["aaf"]["hooks"]
    finally:
        server.shutdown()


def test_every_page_answers_on_both_databases(console_any_db):
    env = console_any_db.env
    run_id = hold_a_run(env)
    add_logins(env, 0.3)
    pupil, ine, uai = env.rows("select person_key, ine, uai from person where kind = 'eleve' order by id limit 1")[0]
    ada = console_any_db.client("ada")
    for path in ("/admin/", "/admin/runs?action=sync", f"/admin/runs/{run_id}?uai={uai.lower()}&op=delete",
                 "/admin/operations", f"/admin/directory?q={ine}", f"/admin/people/{pupil}",
                 f"/admin/establishments/{uai}", "/admin/indicators?by=establishment", "/admin/jobs",
                 "/admin/settings", "/admin/audit", "/admin/indicators.csv", f"/api/runs/{run_id}", "/api/held",
                 "/api/deadletters", "/api/locks", "/api/jobs", "/api/plugins", "/api/indicators/weekly"):
        assert ada.get(path).status_code == 200, path
    assert [r["id"] for r in ada.get("/api/held").json()] == [run_id]
    assert pupil in ada.get("/admin/directory", params={"q": ine}).text
