"""A small académie written as AAF files, shared by the AAF plugin tests."""

from pathlib import Path

import pytest

from hub.demo import generate_academie
from plugins.aaf.hookimpl import Settings, hub_write_demo


@pytest.fixture(scope="module")
def small_academie():
    return generate_academie(persons=300, seed=7, school_year=2026)


@pytest.fixture(scope="module")
def small_aaf(small_academie, tmp_path_factory) -> Path:
    """The 300-person académie written as an AAF Complet set (read-only for the tests)."""
    directory = tmp_path_factory.mktemp("aaf-complet")
    hub_write_demo(settings=Settings(path=directory), academie=small_academie, directory=directory)
    return directory
