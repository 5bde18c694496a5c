"""Helpers for the ldap source's tests: a hub configured for it, and the slapd and client requirements."""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from hubtest import HubEnv
from slapd import Slapd, slapd_missing

with warnings.catch_warnings():  # ldap3 2.9.1 imports names pyasn1 0.6 deprecates (tagMap, typeMap)
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3  # noqa: F401

PERSONS, SEED, SCHOOL_YEAR = 300, 7, 2026
# The ESCO directory of the tests: GIP-RECIA's suffix, the académie's jointures under source AC-DEMO
ESCO_SUFFIX, ESCO_SOURCE = "dc=esco-centre,dc=fr", "AC-DEMO"
ESCO_SCHEMAS = ("core", "cosine", "inetorgperson", *sorted((Path(__file__).parent / "esco_schema").glob("*.schema")))
ESCO_SETTINGS = f"""
        preset = "esco"
        jointure_sources = ["{ESCO_SOURCE}", "MENESR"]
        """


# The two readers (``[plugins.ldap] client``): the behaviour tests run with each
CLIENTS = ("ldap3", "python-ldap")


def require_client(client: str) -> None:
    """python-ldap is an extra (``ldap-c``, in the test extra): required in CI, skipped elsewhere without it."""
    if client == "python-ldap" and importlib.util.find_spec("ldap") is None:
        message = "python-ldap is not installed (pip install -e '.[ldap-c]'; Debian: libldap-dev libsasl2-dev gcc)"
        if os.environ.get("CI"):
            pytest.fail(f"python-ldap is required in CI: {message}")
        pytest.skip(message)


def require_slapd() -> None:
    missing = slapd_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"slapd is required in CI: {missing}")
        pytest.skip(missing)


@dataclass
class LdapHub(HubEnv):
    """A hub whose source is the `ldap` plugin; the bind password travels in the environment only."""

    password: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "HUB_PLUGINS__LDAP__BIND_PASSWORD": self.password}


def make_ldap_hub(
    root: Path,
    db_url: str,
    server: Slapd,
    *,
    password: str | None = None,
    bind_dn: str | None = None,
    extra: str = "",
    enabled: tuple[str, ...] = ("ldap",),
    client: str = "ldap3",
) -> LdapHub:
    """A configured hub with an upgraded, empty database, bound as the server's reader account."""
    env = LdapHub(root, db_url, password=server.reader_password if password is None else password)
    env.write_config(
        enabled=enabled,
        extra=f"""
        [plugins.ldap]
        url = "{server.url}"
        bind_dn = "{bind_dn or server.reader_dn}"
        base_dn = "{server.suffix}"
        school_year = {SCHOOL_YEAR}
        page_size = 100
        timeout_seconds = 10
        client = "{client}"
        """
        + extra,
    )
    env.run("db", "upgrade")
    return env
