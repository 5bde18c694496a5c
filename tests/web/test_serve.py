"""`hub serve`: the web app under gunicorn, as production runs it."""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from consoletest import login
from ports import free_port


@pytest.mark.slow
def test_hub_serve_runs_the_console_under_gunicorn(console_env):
    port = free_port()
    process = console_env.spawn("serve", "--bind", f"127.0.0.1:{port}", "--workers", "2")
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=url) as client:
            assert login(client, "ada").status_code == 302
            dashboard = client.get("/admin/")  # maybe another worker: the session is in the signed cookie
            assert dashboard.status_code == 200 and "Dashboard" in dashboard.text
            assert client.get("/api/runs").json()[0]["action"] == "sync"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert f"console on http://127.0.0.1:{port}/admin/" in output and "Booting worker" in output
