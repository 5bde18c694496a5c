"""The console in a real browser (Debian's Chromium through Playwright) against the app served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from consoletest import PASSWORD, add_logins, hold_a_run

ARTIFACTS = Path(__file__).parents[1] / "artifacts"


@pytest.fixture
def page(browser, console):
    context = browser.new_context(base_url=console.url)
    yield context.new_page()
    context.close()


def log_in(page, user: str, password: str = PASSWORD) -> None:
    page.goto("/admin/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_login_refuses_a_wrong_password_then_lets_the_user_in(page, console):
    log_in(page, "otto", "not-the-password")
    assert page.get_by_role("status").inner_text() == "unknown user, wrong password or wrong code"
    log_in(page, "otto")
    assert page.url.endswith("/admin/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert "otto (operator)" in page.locator("header").inner_text()
    page.get_by_role("button", name="Log out").click()
    page.goto("/admin/runs")
    assert "/admin/login" in page.url
    audit = console.env.rows("select actor, action, outcome, remote_addr from audit_event where action = 'login' "
                             "order by id")
    assert [(a.actor, a.outcome, a.remote_addr) for a in audit] == [("otto", "refused", "127.0.0.1"),
                                                                     ("otto", "ok", "127.0.0.1")]


def test_a_post_without_its_csrf_token_is_refused(page, console):
    console.env.run("deliver")  # no target: nothing happens, but the retry form must still refuse
    log_in(page, "otto")
    response = page.request.post("/admin/deadletters/retry", form={"all": "1"})
    assert response.status == 400 and "CSRF token is missing" in response.text()
    forged = page.request.post("/admin/deadletters/retry", form={"all": "1", "csrf_token": "forged"})
    assert forged.status == 400
    refused = console.env.rows("select actor, outcome from audit_event where action = 'csrf'")
    assert refused == [("otto", "refused"), ("otto", "refused")]


def test_a_viewer_sees_a_held_run_but_cannot_approve_it(page, console):
    run_id = hold_a_run(console.env)
    log_in(page, "vic")
    page.get_by_role("link", name=str(run_id)).first.click()
    assert page.locator("#run-status").inner_text() == "held"
    assert page.get_by_text("Approving needs the operator role.").is_visible()
    assert page.get_by_role("button", name="Approve and apply").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")  # the logout form's
    response = page.request.post(f"/admin/runs/{run_id}/approve", form={"reason": "mine", "csrf_token": token})
    assert response.status == 403
    assert console.env.scalar("select status from run where id = :r", r=run_id) == "held"
    assert console.env.scalar("select max(id) from run") == run_id
    assert console.env.rows("select actor, action, outcome from audit_event where outcome = 'refused'") == [
        ("vic", "console.approve", "refused")]


@pytest.mark.slow  # two syncs and a browser: about 6 s
def test_an_operator_approves_a_held_run_and_it_is_applied(page, console):
    env = console.env
    run_id = hold_a_run(env)
    deleted = env.counts(run_id)["person.delete"]
    log_in(page, "otto")
    page.get_by_role("link", name=str(run_id)).first.click()
    assert page.get_by_role("heading", name="Plan").is_visible()
    page.get_by_label("Kind of change").select_option("delete")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("table").last.locator("tbody tr").count() == deleted
    page.get_by_label("Reason").fill("the collège moved a third of its pupils to the new annex")
    page.get_by_role("button", name="Approve and apply").click()
    assert page.locator("#run-status").inner_text() == "applied"
    applied = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert applied > run_id and env.counts(applied)["person.delete"] == deleted
    assert env.scalar("select forced from run where id = :r", r=applied) in (1, True)
    assert env.scalar("select count(*) from person where status <> 'active'") == deleted
    reason = env.rows("select e.reason from run_event e join run r on r.id = e.run_id where r.action = 'approve'")
    assert reason == [("approved by otto: the collège moved a third of its pupils to the new annex",)]
    assert env.rows("select action, outcome from audit_event where actor = 'otto' and action <> 'login'") == [
        ("approve-held-run", "ok")]


def test_the_indicators_page_draws_its_charts_and_exports_them(page, console):
    add_logins(console.env, 0.5)
    log_in(page, "vic")
    page.get_by_role("link", name="Indicators").click()
    charts = page.locator("figure svg")
    assert charts.count() == 4
    assert page.locator("figure svg rect.bar").count() >= 3
    assert page.locator("figure svg polyline.line").count() >= 2  # all profiles, and pupils
    first = page.locator("#rates tbody tr.total").first.inner_text()
    assert "all" in first and "%" in first
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "indicators.png"), full_page=True)
    assert (ARTIFACTS / "indicators.png").stat().st_size > 10_000
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("scope;name;profile;accounts;activated;active_users;connection_rate")
    assert len(lines) > 2


def test_a_search_finds_a_pupil_by_ine(page, console):
    key, ine, last_name = console.env.rows(
        "select person_key, ine, last_name from person where kind = 'eleve' and ine is not null "
        "order by person_key limit 1")[0]
    log_in(page, "vic")
    page.get_by_role("link", name="Directory").click()
    page.get_by_label("INE, UAI, key, jointure or name").fill(ine.lower())
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#people tbody tr")
    assert rows.count() == 1 and ine in rows.inner_text() and last_name in rows.inner_text()
    rows.get_by_role("link", name=key).click()
    assert ine in page.locator("#identity").inner_text()
    assert page.get_by_role("heading", name="History across establishments").is_visible()
