"""The console served on 127.0.0.1 over a hub holding a synced demo académie, with one user per role."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from consoletest import CHROMIUM, Console, add_users, configure, serve
from hubtest import HubEnv, synced_demo


@pytest.fixture(scope="session")
def synced_template(tmp_path_factory) -> Path:
    """A hub (SQLite) with a 300-person demo académie synced and the three users, built once and copied per test."""
    root = tmp_path_factory.mktemp("console-template")
    env = synced_demo(root)
    add_users(env)
    return root


@pytest.fixture
def console_env(synced_template, tmp_path, monkeypatch) -> HubEnv:
    shutil.copytree(synced_template / "aaf", tmp_path / "aaf")
    for database in synced_template.glob("hub.db*"):
        shutil.copy(database, tmp_path / database.name)
    env = HubEnv(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    configure(env, monkeypatch)
    return env


@pytest.fixture
def console(console_env):
    server = serve(console_env)
    yield Console(f"http://127.0.0.1:{server.server_port}", console_env)
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture
def console_any_db(hub_env, monkeypatch):
    """The console over a freshly synced demo académie on SQLite and on PostgreSQL, with a viewer and an admin."""
    configure(hub_env, monkeypatch)
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    add_users(hub_env, {"vic": "viewer", "ada": "admin"})
    server = serve(hub_env)
    yield Console(f"http://127.0.0.1:{server.server_port}", hub_env)
    server.shutdown()
