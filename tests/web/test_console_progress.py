"""Live progress: the run page of a running sync follows its records read in the browser, without reloading,
then shows the finished run. The sync is a real `hub sync` process reading a slow source (paced_plugin)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from consoletest import PASSWORD, Console, add_users, configure, serve
from hubtest import HubEnv
from playwright.sync_api import expect

PACED = str(Path(__file__).parent / "paced_plugin")  # its dist-info registers the plugin `paced`
PERSONS = 300  # 300 people and 7 establishments, 20 ms apart: a run of about 6 s


@pytest.fixture
def paced_console(hub_env: HubEnv, monkeypatch):
    monkeypatch.syspath_prepend(PACED)
    configure(
        hub_env,
        monkeypatch,
        f"[plugins.paced]\npersons = {PERSONS}\nseconds_per_record = 0.02\n[sync]\nbatch_size = 10\n",
        enabled=("paced",),
    )
    add_users(hub_env, {"vic": "viewer"})
    server = serve(hub_env)
    yield Console(f"http://127.0.0.1:{server.server_port}", hub_env)
    server.shutdown()


def records_read(page) -> int:
    return int(page.locator("#records-read").inner_text().replace(",", ""))


def wait_until(page, condition, seconds: float = 15) -> None:
    """Poll from Python: the console's CSP (no eval) refuses Playwright's wait_for_function."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


def wait_for_running_run(env: HubEnv, process, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if run_id := env.scalar("select max(id) from run where status = 'running'"):
            return run_id
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.1)
    raise AssertionError("the sync did not start")


@pytest.mark.slow  # a paced sync of about 6 s, watched in the browser
def test_the_run_page_follows_a_running_sync_then_shows_it_finished(browser, paced_console):
    env = paced_console.env
    context = browser.new_context(base_url=paced_console.url)
    page = context.new_page()
    page.goto("/admin/login")
    page.get_by_label("User name").fill("vic")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    process = env.spawn("sync", "paced", env={"PYTHONPATH": PACED})
    try:
        run_id = wait_for_running_run(env, process)
        page.goto(f"/admin/runs/{run_id}")
        assert page.locator("#run-status").inner_text() == "running"
        page.evaluate("window.sameDocument = true")  # gone if the page reloads
        wait_until(page, lambda: records_read(page) > 0)
        first = records_read(page)
        wait_until(page, lambda: records_read(page) > first)
        assert page.evaluate("window.sameDocument") is True
        assert page.locator("#run-phase").inner_text() == "reading paced"
        assert process.wait(60) == 0, process.stdout.read()
        expect(page.locator("#run-status")).to_have_text("applied", timeout=15_000)
        assert records_read(page) == env.scalar("select records_read from run where id = :r", r=run_id) > PERSONS
        assert page.locator("#progress").count() == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        context.close()
    assert env.scalar("select count(*) from person") >= PERSONS


def test_the_progress_of_a_finished_run_is_its_journaled_count(console_any_db):
    client = console_any_db.client("vic")
    run_id = console_any_db.env.scalar("select max(id) from run")
    progress = client.get(f"/api/runs/{run_id}/progress").json()
    read = console_any_db.env.scalar("select records_read from run where id = :r", r=run_id)
    assert (
        progress
        == {"id": run_id, "status": "applied", "running": False, "records_read": read, "phase": progress["phase"]}
        and read > 300
    )
    assert client.get("/api/runs/999999/progress").status_code == 404
    assert client.get("/api/runs/x1/progress").status_code == 400
    assert console_any_db.client().get(f"/api/runs/{run_id}/progress").status_code == 401
