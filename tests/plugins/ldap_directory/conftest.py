"""A private slapd loaded with the demo académie, and hubs reading it through the `ldap` source.

slapd is required in CI (env CI set): the tests fail there without it, and are skipped elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ldaptest import (  # first: quiets ldap3
    CLIENTS,
    ESCO_SCHEMAS,
    ESCO_SOURCE,
    ESCO_SUFFIX,
    PERSONS,
    SCHOOL_YEAR,
    SEED,
    LdapHub,
    make_ldap_hub,
    require_client,
    require_slapd,
)
from slapd import Slapd

from hub.demo import generate_academie
from plugins.ldap_directory.hookimpl import Settings, hub_write_demo


@pytest.fixture(scope="module")
def academie():
    return generate_academie(persons=PERSONS, seed=SEED, school_year=SCHOOL_YEAR)


@pytest.fixture(scope="module")
def demo_ldif(academie, tmp_path_factory) -> Path:
    """The académie as LDIF, written by the plugin's own hub_write_demo."""
    [path] = hub_write_demo(settings=None, academie=academie, directory=tmp_path_factory.mktemp("ldap-demo"))
    return path


@pytest.fixture(scope="module")
def slapd(demo_ldif):
    """One slapd per module, loaded (slapadd) with the demo académie. Do not change its data: see
    `changing_slapd`."""
    require_slapd()
    with Slapd(seed=[demo_ldif]) as server:
        yield server


@pytest.fixture
def changing_slapd(slapd):
    """The module's slapd for a test that changes it (data, limits, running state): reset afterwards."""
    seed = list(slapd.seed)
    yield slapd
    slapd.size_limit = slapd.time_limit = "unlimited"
    slapd.reset(seed)


@pytest.fixture(params=CLIENTS)
def client(request) -> str:
    """The reader (``[plugins.ldap] client``): a test taking this runs with each, for the same outcome."""
    require_client(request.param)
    return request.param


@pytest.fixture
def ldap_hub(tmp_path, sqlite_url, slapd, client) -> LdapHub:
    return make_ldap_hub(tmp_path, sqlite_url, slapd, client=client)


@pytest.fixture(scope="module")
def esco_ldif(academie, tmp_path_factory) -> Path:
    """The académie as an ESCO directory holds it (hub_write_demo with the esco preset)."""
    settings = Settings(url="ldap://localhost", base_dn=ESCO_SUFFIX, preset="esco", jointure_sources=[ESCO_SOURCE])
    [path] = hub_write_demo(settings=settings, academie=academie, directory=tmp_path_factory.mktemp("esco-demo"))
    return path


@pytest.fixture(scope="module")
def esco_slapd(esco_ldif):
    """A slapd with GIP-RECIA's ESCO schema (esco_schema/, 11-esco-const first) loaded with the académie.
    Do not change its data: see `changing_esco_slapd`."""
    require_slapd()
    with Slapd(ESCO_SUFFIX, seed=[esco_ldif], schemas=ESCO_SCHEMAS) as server:
        yield server


@pytest.fixture
def changing_esco_slapd(esco_slapd):
    seed = list(esco_slapd.seed)
    yield esco_slapd
    esco_slapd.reset(seed)
