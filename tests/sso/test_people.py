"""The store's person loader, which the broker runs at every login (one query whatever the count), gives each
person with every relation, on SQLite and PostgreSQL, and nothing for a person no longer active."""

from __future__ import annotations

from sqlalchemy import text

from hub.sso.people import PeopleLookup
from hub.store import records


def test_the_loader_gives_every_relation_and_only_active_people_to_the_broker(synced, monkeypatch):
    engine = synced.engine()
    lookup = PeopleLookup(engine)
    with engine.connect() as conn:
        keys = [k for (k,) in conn.execute(text("select person_key from person where status = 'active'"))]
        people = records.load_people(conn, keys)
        counts = {
            table: conn.execute(text(f"select count(*) from {table} r join person p on p.id = r.{column} "
                                     "where p.status = 'active'")).scalar()
            for table, column in (("group_membership", "person_id"), ("guardianship", "pupil_id"),
                                  ("teaching_assignment", "person_id"), ("person_function", "person_id"))
        }
        pupils = conn.execute(text("select count(distinct person_id) from enrollment")).scalar()
    assert len(people) == len(keys) > 250
    assert sum(len(p.memberships) for p in people.values()) == counts["group_membership"] > 0
    assert sum(len(p.guardians) for p in people.values()) == counts["guardianship"] > 0
    assert sum(len(p.assignments) for p in people.values()) == counts["teaching_assignment"] > 0
    assert sum(len(p.functions) for p in people.values()) == counts["person_function"] > 0
    assert sum(1 for p in people.values() if p.enrollment) == pupils > 0
    assert any(p.birth_date for p in people.values()) and any(a.principal for p in people.values()
                                                               for a in p.assignments)
    assert lookup.person(keys[0]) == people[keys[0]]
    monkeypatch.setattr(records, "LOAD_BATCH", 7)  # keys read a few at a time give the same people
    with engine.connect() as conn:
        assert records.load_people(conn, keys) == people
    with engine.begin() as conn:
        conn.execute(text("update person set status = 'suspended' where person_key = :k"), {"k": keys[0]})
    assert lookup.person(keys[0]) is None and lookup.person("nobody") is None
    with engine.connect() as conn:
        assert keys[0] in records.load_people(conn, keys[:1])  # the store's own callers still see them
    engine.dispose()
