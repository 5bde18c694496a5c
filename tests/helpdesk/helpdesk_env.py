"""A hub configured with the routing of seed 001 (seed001.toml) and the GLPI plugin, for the helpdesk tests."""

from __future__ import annotations

from pathlib import Path

SEED001 = Path(__file__).with_name("seed001.toml")
DESTINATIONS = ("departement", "pass", "region", "omere")


def helpdesk_config(url: str = "http://127.0.0.1:9/apirest.php", timeout: float = 2.0, extra: str = "") -> str:
    return SEED001.read_text().format(url=url, timeout=timeout) + extra


def token_env(user_token: str = "user-secret", app_token: str = "app-secret") -> dict[str, str]:
    """The destinations' secrets, as the environment gives them."""
    env = {}
    for name in DESTINATIONS:
        env[f"HUB_HELPDESK__DESTINATIONS__{name.upper()}__USER_TOKEN"] = user_token
        env[f"HUB_HELPDESK__DESTINATIONS__{name.upper()}__APP_TOKEN"] = app_token
    return env


def configure(env, url: str = "http://127.0.0.1:9/apirest.php", timeout: float = 2.0, extra: str = "",
              enabled: tuple[str, ...] = ("aaf", "glpi")) -> None:
    """Write the hub's settings: the AAF source, the GLPI plugin, seed 001's routing."""
    env.write_config(helpdesk_config(url, timeout, extra), enabled=enabled)
