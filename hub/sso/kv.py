"""Short-lived SSO state shared by every worker: sessions, pending AuthnRequests, codes, tickets, replay cache.

Redis when ``sso.redis_url`` is set, else the ``sso_entry`` table. Both give the
two atomic operations the protocols need: ``add`` (set only if absent: a replayed
assertion ID is refused) and ``pop`` (read and delete: a code or ticket is used once).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.clock import now
from hub.store.tables import sso_entry


class RedisEntries:
    def __init__(self, url: str, prefix: str):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def put(self, key: str, value: Any, ttl: int) -> None:
        self.redis.set(self.prefix + key, json.dumps(value), ex=max(1, int(ttl)))

    def put_many(self, items: list[tuple[str, Any, int]], delete: tuple[str, ...] = ()) -> None:
        """Several writes (and deletions) in one round trip: a login step costs one, not three."""
        pipe = self.redis.pipeline(transaction=False)
        for key in delete:
            pipe.delete(self.prefix + key)
        for key, value, ttl in items:
            pipe.set(self.prefix + key, json.dumps(value), ex=max(1, int(ttl)))
        pipe.execute()

    def add(self, key: str, value: Any, ttl: int) -> bool:
        return bool(self.redis.set(self.prefix + key, json.dumps(value), ex=max(1, int(ttl)), nx=True))

    def get(self, key: str) -> Any:
        raw = self.redis.get(self.prefix + key)
        return json.loads(raw) if raw is not None else None

    def pop(self, key: str) -> Any:
        raw = self.redis.getdel(self.prefix + key)
        return json.loads(raw) if raw is not None else None

    def delete(self, key: str) -> None:
        self.redis.delete(self.prefix + key)


class StoreEntries:
    PURGE_EVERY = 60  # seconds: expired rows are deleted by the next write after that

    def __init__(self, engine: Engine):
        self.engine = engine
        self._purged_at = 0.0

    def put(self, key: str, value: Any, ttl: int) -> None:
        if time.monotonic() - self._purged_at > self.PURGE_EVERY:
            self._purged_at = time.monotonic()
            self.purge_expired()
        with self.engine.begin() as conn:
            values = dict(value=json.dumps(value), expires_at=now() + timedelta(seconds=ttl))
            if not conn.execute(update(sso_entry).where(sso_entry.c.key == key).values(**values)).rowcount:
                conn.execute(insert(sso_entry).values(key=key, **values))

    def put_many(self, items: list[tuple[str, Any, int]], delete: tuple[str, ...] = ()) -> None:
        for key in delete:
            self.delete(key)
        for key, value, ttl in items:
            self.put(key, value, ttl)

    def add(self, key: str, value: Any, ttl: int) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(sso_entry).where(sso_entry.c.key == key, sso_entry.c.expires_at <= now()))
                conn.execute(
                    insert(sso_entry).values(
                        key=key, value=json.dumps(value), expires_at=now() + timedelta(seconds=ttl)
                    )
                )
            return True
        except IntegrityError:
            return False

    def get(self, key: str) -> Any:
        with self.engine.connect() as conn:
            raw = conn.execute(
                select(sso_entry.c.value).where(sso_entry.c.key == key, sso_entry.c.expires_at > now())
            ).scalar()
        return json.loads(raw) if raw is not None else None

    def pop(self, key: str) -> Any:
        with self.engine.begin() as conn:
            row = conn.execute(
                delete(sso_entry).where(sso_entry.c.key == key).returning(sso_entry.c.value, sso_entry.c.expires_at)
            ).first()
        return json.loads(row.value) if row is not None and row.expires_at > now() else None

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sso_entry).where(sso_entry.c.key == key))

    def purge_expired(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(sso_entry).where(sso_entry.c.expires_at <= now())).rowcount


def make_entries(settings, engine: Engine) -> RedisEntries | StoreEntries:
    return RedisEntries(settings.redis_url, settings.redis_prefix) if settings.redis_url else StoreEntries(engine)
