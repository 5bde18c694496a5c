"""TOTP secrets are encrypted at rest with a key from the environment (or a file), never stored in clear."""

from __future__ import annotations

import re

import pyotp
import pytest
from consoletest import PASSWORD, login, serve
from hubtest import HubEnv

from hub.errors import HubError


def add_totp_user(env: HubEnv, name: str = "tess") -> str:
    output = env.run(
        "admin", "add-user", name, "--role", "viewer", "--totp", env={"HUB_ADMIN_PASSWORD": PASSWORD}
    ).output
    return re.search(r"secret=([A-Z2-7]+)", output)[1]


def stored_secret(env: HubEnv, name: str = "tess") -> str:
    return env.scalar("select totp_secret from admin_user where username = :u", u=name)


def test_the_stored_secret_is_not_the_secret_and_the_code_still_logs_in(console_env):
    secret = add_totp_user(console_env)
    stored = stored_secret(console_env)
    assert secret not in stored and stored.startswith("fernet:")
    server = serve(console_env)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
            assert login(client, "tess", code="000000").status_code == 401
            assert login(client, "tess", code=pyotp.TOTP(secret).now()).status_code == 302
    finally:
        server.shutdown()


def test_without_the_key_a_hub_with_totp_accounts_does_not_start(console_env, monkeypatch):
    add_totp_user(console_env)
    monkeypatch.delenv("HUB_CONSOLE__TOTP_KEY")
    with pytest.raises(
        HubError,
        match=r"1 console account\(s\) \(tess\) log in with a TOTP code, whose secrets are "
        "encrypted at rest: set HUB_CONSOLE__TOTP_KEY",
    ):
        serve(console_env)
    result = console_env.run("serve", expect=1)
    assert "set HUB_CONSOLE__TOTP_KEY (or HUB_CONSOLE__TOTP_KEY_FILE)" in result.output
    refused = console_env.run("admin", "add-user", "tom", "--totp", env={"HUB_ADMIN_PASSWORD": PASSWORD}, expect=1)
    assert "TOTP secrets are encrypted at rest: set HUB_CONSOLE__TOTP_KEY" in refused.output
    assert console_env.scalar("select count(*) from admin_user where username = 'tom'") == 0


def test_a_key_from_a_file_works_and_a_wrong_key_is_named(console_env, monkeypatch, tmp_path):
    key = console_env.run("admin", "totp-key").output.strip()
    (tmp_path / "totp.key").write_text(key + "\n")
    monkeypatch.delenv("HUB_CONSOLE__TOTP_KEY")
    monkeypatch.setenv("HUB_CONSOLE__TOTP_KEY_FILE", str(tmp_path / "totp.key"))
    secret = add_totp_user(console_env)
    server = serve(console_env)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
            assert login(client, "tess", code=pyotp.TOTP(secret).now()).status_code == 302
    finally:
        server.shutdown()
    (tmp_path / "totp.key").write_text(console_env.run("admin", "totp-key").output)
    with pytest.raises(HubError, match="user tess: HUB_CONSOLE__TOTP_KEY does not open the stored TOTP secret"):
        serve(console_env)


def test_secrets_stored_in_clear_are_refused_until_encrypted(console_env):
    secret = add_totp_user(console_env)
    engine = console_env.engine()
    with engine.begin() as conn:  # as a hub from before encryption at rest left it
        conn.exec_driver_sql("update admin_user set totp_secret = ? where username = 'tess'", (secret,))
    engine.dispose()
    with pytest.raises(
        HubError, match=r"user tess: the TOTP secret is stored in clear .* run `hub admin encrypt-totp`"
    ):
        serve(console_env)
    assert "1 TOTP secret(s) encrypted: tess" in console_env.run("admin", "encrypt-totp").output
    assert stored_secret(console_env).startswith("fernet:") and secret not in stored_secret(console_env)
    assert "0 TOTP secret(s) encrypted" in console_env.run("admin", "encrypt-totp").output
    server = serve(console_env)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
            assert login(client, "tess", code=pyotp.TOTP(secret).now()).status_code == 302
    finally:
        server.shutdown()
