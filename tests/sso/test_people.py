"""The broker's one-query person loader (`PeopleLookup.person`, run at every login) gives what the store's own
loader gives, on SQLite and PostgreSQL, and nothing for a person no longer active."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from hub.sso.people import PeopleLookup
from hub.store import records


def _comparable(person) -> dict:
    """Relations compared as sets: neither loader promises an order."""
    return {
        field.name: sorted(map(repr, value)) if isinstance(value, tuple) else value
        for field, value in ((f, getattr(person, f.name)) for f in dataclasses.fields(person))
    }


def test_the_one_query_loader_matches_the_store_for_every_person(synced):
    engine = synced.engine()
    lookup = PeopleLookup(engine)
    with engine.connect() as conn:
        keys = [k for (k,) in conn.execute(text("select person_key from person where status = 'active'"))]
        expected = records.load_people(conn, keys)
    assert len(keys) > 250 and any(p.assignments for p in expected.values())
    assert any(p.guardians for p in expected.values()) and any(p.enrollment for p in expected.values())
    for key in keys:
        assert _comparable(lookup.person(key)) == _comparable(expected[key]), key
    with engine.begin() as conn:
        conn.execute(text("update person set status = 'suspended' where person_key = :k"), {"k": keys[0]})
    assert lookup.person(keys[0]) is None and lookup.person("nobody") is None
    engine.dispose()
