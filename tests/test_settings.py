"""Settings: file + HUB_* environment, secrets only from the environment, errors that name key, file and reason."""

import textwrap

from hub.settings import load_settings


def write(tmp_path, body: str):
    path = tmp_path / "hub.toml"
    path.write_text(textwrap.dedent(body))
    return path


def test_file_values_and_environment_overrides(tmp_path, monkeypatch):
    path = write(tmp_path, """
        [sync]
        grace_days = 12
        [sync.thresholds]
        delete_ratio = 0.2
        """)
    monkeypatch.setenv("HUB_SYNC__GRACE_DAYS", "40")
    settings = load_settings(path)
    assert settings.sync.grace_days == 40
    assert settings.sync.thresholds.delete_ratio == 0.2
    assert settings.config_file == path


def test_unknown_key_names_key_and_file(hub_cli_env, tmp_path):
    path = write(tmp_path, """
        [sync]
        grace_dayz = 3
        """)
    result = hub_cli_env(path, "plugins", expect=1)
    assert "setting sync.grace_dayz" in result.output
    assert str(path) in result.output
    assert "unknown setting" in result.output


def test_invalid_value_from_environment_names_the_variable(hub_cli_env, tmp_path):
    path = write(tmp_path, "")
    result = hub_cli_env(path, "plugins", expect=1, env={"HUB_SYNC__THRESHOLDS__DELETE_RATIO": "3"})
    assert "sync.thresholds.delete_ratio" in result.output
    assert "HUB_SYNC__THRESHOLDS__DELETE_RATIO" in result.output
    assert "less than or equal to 1" in result.output


def test_malformed_toml_names_file_and_line(hub_cli_env, tmp_path):
    path = write(tmp_path, """
        [sync]
        grace_days = = 3
        """)
    result = hub_cli_env(path, "plugins", expect=1)
    assert str(path) in result.output
    assert "line 3" in result.output


def test_missing_explicit_file_is_an_error(hub_cli_env, tmp_path):
    result = hub_cli_env(tmp_path / "nope.toml", "plugins", expect=1)
    assert "does not exist" in result.output


def test_secret_in_file_is_refused(hub_cli_env, tmp_path):
    path = write(tmp_path, """
        [plugins]
        enabled = ["webhook"]
        [plugins.webhook]
        url = "http://127.0.0.1:9/hook"
        token = "s3cret"
        """)
    result = hub_cli_env(path, "plugins", expect=1)
    assert "plugins.webhook.token" in result.output
    assert "HUB_PLUGINS__WEBHOOK__TOKEN" in result.output
    assert "s3cret" not in result.output


def test_database_password_in_file_is_refused(hub_cli_env, tmp_path):
    path = write(tmp_path, 'database_url = "postgresql://hub:pw@db/hub"\n')
    result = hub_cli_env(path, "plugins", expect=1)
    assert "HUB_DATABASE_URL" in result.output


def test_secret_from_file_variable(tmp_path, monkeypatch):
    path = write(tmp_path, """
        [plugins]
        enabled = ["webhook"]
        [plugins.webhook]
        url = "http://127.0.0.1:9/hook"
        """)
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("HUB_PLUGINS__WEBHOOK__TOKEN_FILE", str(secret))
    from hub.plugins import Plugins

    plugins = Plugins(load_settings(path))
    assert plugins.settings["webhook"].token.get_secret_value() == "from-a-file"


def test_unknown_plugin_lists_available_ones(hub_cli_env, tmp_path):
    path = write(tmp_path, """
        [plugins]
        enabled = ["aaf", "kosmoss"]
        """)
    result = hub_cli_env(path, "plugins", expect=1)
    assert "unknown plugin(s) in plugins.enabled: kosmoss" in result.output
    assert "aaf" in result.output and "webhook" in result.output


def test_plugin_section_is_validated_by_the_plugin(hub_cli_env, tmp_path):
    path = write(tmp_path, """
        [plugins]
        enabled = ["aaf"]
        [plugins.aaf]
        mode = "sometimes"
        """)
    result = hub_cli_env(path, "plugins", expect=1)
    assert "plugins.aaf.path" in result.output and "Field required" in result.output
    assert "plugins.aaf.mode" in result.output


def test_plugins_command_lists_available_and_enabled(hub_cli_env, tmp_path):
    path = write(tmp_path, f"""
        [plugins]
        enabled = ["aaf"]
        [plugins.aaf]
        path = "{tmp_path}"
        """)
    output = hub_cli_env(path, "plugins", expect=0).output
    lines = {line.split("│")[1].strip(): line for line in output.splitlines() if line.count("│") > 3}
    assert "yes" in lines["aaf"] and "hub_read_directory" in lines["aaf"]
    assert "no" in lines["webhook"] and "hub_deliver" in lines["webhook"]
