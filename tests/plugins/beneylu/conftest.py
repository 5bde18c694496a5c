"""A real SFTP server (asyncssh, its own process) and a hub delivering a demo académie's écoles to it."""

from __future__ import annotations

import pytest
from beneylu_env import configure
from sftp_server import sftp_server  # noqa: F401  (the fixture, shared with the GAR tests)


@pytest.fixture
def beneylu_hub(hub_env, sftp_server, monkeypatch):  # noqa: F811 (the imported fixture)
    """A hub whose store holds the 300-person demo académie, with the Beneylu target's changes pending."""
    monkeypatch.setenv("HUB_PLUGINS__BENEYLU__PASSWORD", sftp_server.password)
    configure(hub_env, sftp_server)
    hub_env.run("demo", "--persons", "300", "generate")
    hub_env.run("sync", "aaf")
    return hub_env
