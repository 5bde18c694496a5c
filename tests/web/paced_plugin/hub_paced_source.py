"""A source that yields the demo académie slowly, one record at a time: the console's live progress has a
run to follow (the console tests enable it, from a `hub sync paced` process of their own)."""

from __future__ import annotations

import time

from hub.demo import generate_academie
from hub.hookspecs import Feed, hookimpl
from hub.settings import Strict


class Settings(Strict):
    persons: int = 200
    seconds_per_record: float = 0.02


@hookimpl
def hub_read_directory(settings: Settings, since, uai):
    academie = generate_academie(settings.persons, seed=1, school_year=2026)

    def items():
        yield from academie.establishments
        for person in academie.persons():
            time.sleep(settings.seconds_per_record)
            yield person

    return Feed(items(), complete=True, description=f"{settings.persons} people, paced")
