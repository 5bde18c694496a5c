"""A hub configured for the ent_kosmos target, for the tests (a module of its own: test modules import it)."""

from __future__ import annotations


def configure(env, server, extra: str = "") -> None:
    """``extra``: more keys of the [plugins.ent_kosmos] section."""
    env.write_config(f"""
        [sync]
        grace_days = 0
        [plugins.ent_kosmos]
        scim_url = "{server.url}"
        timeout_seconds = 2
        """ + extra, enabled=("aaf", "ent_kosmos"))


def prepare(env, server, extra: str = ""):
    """The hub synced from the 300-person demo académie, the ENT configured, nothing delivered yet."""
    configure(env, server, extra)
    env.run("demo", "--persons", "300", "generate")
    env.run("sync", "aaf")
    return env
