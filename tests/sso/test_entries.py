"""The shared short-lived entries, on each backend the broker may use: Redis, SQLite, PostgreSQL."""

from __future__ import annotations

import time
import uuid

import pytest
from sso_env import REDIS_URL, _require_redis

from hub.sso.kv import RedisEntries, StoreEntries


@pytest.fixture(params=["redis", "store"])
def entries(request, hub_env):
    if request.param == "redis":
        _require_redis()
        yield RedisEntries(REDIS_URL, f"test:{uuid.uuid4().hex}:")
        return
    engine = hub_env.engine()
    yield StoreEntries(engine)
    engine.dispose()


def test_add_refuses_a_key_already_there_and_pop_gives_once(entries):
    assert entries.add("assertion:1", "first", 60) is True
    assert entries.add("assertion:1", "again", 60) is False  # a replay
    entries.put("code:1", {"client": "ent"}, 60)
    assert entries.get("code:1") == {"client": "ent"}
    assert entries.pop("code:1") == {"client": "ent"} and entries.pop("code:1") is None


@pytest.mark.slow
def test_entries_expire(entries):
    entries.put("ticket:1", 1, 1)
    entries.put("session:1", 1, 1)
    assert entries.add("assertion:2", 1, 1) is True
    time.sleep(2.1)
    assert entries.get("ticket:1") is None and entries.pop("ticket:1") is None
    assert entries.add("assertion:2", 1, 1) is True  # an expired key may be used again
    if isinstance(entries, StoreEntries):
        assert entries.purge_expired() == 1  # session:1 (ticket:1 was popped, assertion:2 added again)
