"""A hub holding the 300-person demo académie with the GAR plugin, and the Beneylu tests' real SFTP server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "beneylu"))
from sftp_server import SftpServer, sftp_server  # noqa: E402, F401  (the Beneylu tests' server and fixture)

REMOTE_DIR = "/gar/depot"


def configure(env, server: SftpServer | None = None, extra: str = "", **settings) -> None:
    """Enable aaf and gar (pointed at ``server`` when given); ``settings`` override [plugins.gar] keys."""
    values = {"id_ent": "ENTTEST", **settings}
    if server is not None:
        values = {"host": "127.0.0.1", "port": server.port, "username": server.user, "remote_dir": REMOTE_DIR,
                  "host_key_fingerprint": server.fingerprint, "timeout_seconds": 5, "retry_seconds": 0.2, **values}
    lines = "\n".join(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
                      for key, value in values.items())
    env.write_config(f"[plugins.gar]\n{lines}\n{extra}", enabled=("aaf", "gar"))


@pytest.fixture
def gar_env(hub_env):
    """A hub (SQLite and PostgreSQL) whose store holds the 300-person demo académie, GAR enabled, no server."""
    configure(hub_env)
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    return hub_env


@pytest.fixture
def delivering(gar_env, sftp_server, monkeypatch):  # noqa: F811 (the imported fixture)
    """The same hub pointed at the SFTP server (password from the environment)."""
    monkeypatch.setenv("HUB_PLUGINS__GAR__PASSWORD", sftp_server.password)
    configure(gar_env, sftp_server)
    return gar_env
