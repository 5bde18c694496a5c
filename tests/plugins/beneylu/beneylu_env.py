"""Pointing a test hub at the test SFTP server (see conftest.py)."""

from __future__ import annotations

from sftp_server import SftpServer

REMOTE_DIR = "/beneylu"


def configure(env, server: SftpServer, extra: str = "", backoff: float = 1, **settings) -> None:
    """Enable aaf and beneylu, pointed at ``server``; ``settings`` override [plugins.beneylu] keys."""
    values = {"host": "127.0.0.1", "port": server.port, "username": server.user, "remote_dir": REMOTE_DIR,
              "host_key_fingerprint": server.fingerprint, "timeout_seconds": 15, **settings}
    lines = "\n".join(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
                      for key, value in values.items())
    env.write_config(f"""
[plugins.beneylu]
{lines}
[delivery]
max_attempts = 4
backoff_seconds = {backoff}
backoff_max_seconds = {backoff * 2}
""" + extra, enabled=("aaf", "beneylu"))


def landed(server: SftpServer, uai: str = "") -> dict[str, bytes]:
    """The files under the Beneylu folder on the server (one école's when ``uai`` is given)."""
    return server.files(f"{REMOTE_DIR.strip('/')}/{uai}".rstrip("/"))
