"""Database locks: one holder per job name across processes and machines sharing the database.

A lock row names its holder (host:pid) and expires; a lock whose holder died on
this host, or whose time ran out, can be taken over.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.clock import now, process_alive
from hub.errors import LockedError
from hub.store.tables import job_lock


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def hold(engine: Engine, name: str, ttl_seconds: int):
    """Hold lock ``name`` for the block, or raise LockedError naming the holder."""
    me = holder_id()
    acquire(engine, name, me, ttl_seconds)
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(delete(job_lock).where(job_lock.c.name == name, job_lock.c.holder == me))


def acquire(engine: Engine, name: str, me: str, ttl_seconds: int) -> None:
    moment = now()
    expires = moment + timedelta(seconds=ttl_seconds)
    with engine.begin() as conn:
        row = conn.execute(select(job_lock).where(job_lock.c.name == name)).first()
        if row is not None:
            if not _stale(row, moment):
                raise LockedError(f"{name} is already running (held by {row.holder} since "
                                  f"{row.acquired_at:%Y-%m-%d %H:%M:%S} UTC)")
            taken = conn.execute(update(job_lock).where(job_lock.c.name == name, job_lock.c.holder == row.holder)
                                 .values(holder=me, acquired_at=moment, expires_at=expires)).rowcount
            if taken:
                return
            raise LockedError(f"{name} was just taken by another process")
    try:
        with engine.begin() as conn:
            conn.execute(insert(job_lock).values(name=name, holder=me, acquired_at=moment, expires_at=expires))
    except IntegrityError:
        raise LockedError(f"{name} was just taken by another process") from None


def _stale(row, moment) -> bool:
    return row.expires_at <= moment or holder_alive(row.holder) is False


def held_locks(engine: Engine) -> list:
    """Every lock row, with whether its holder still runs (None: on another host, cannot tell)."""
    with engine.connect() as conn:
        rows = conn.execute(select(job_lock).order_by(job_lock.c.name)).all()
    return [(row, holder_alive(row.holder)) for row in rows]


def holder_alive(holder: str) -> bool | None:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return process_alive(int(pid))


def release_journaled(engine: Engine, name: str, *, by: str, trigger: str, force: bool = False) -> str:
    """Free a lock whose holder died (``force``: even a live one), journaled; `hub locks release` and the
    console both come here. Returns the holder it had."""
    from hub.errors import HubError
    from hub.sync.journal import Journal

    alive = next((alive for row, alive in held_locks(engine) if row.name == name), None)
    if alive and not force:
        raise HubError(f"the holder of {name} is still running: stop it first, or release it by force (--force)")
    holder = release(engine, name)
    journal = Journal(engine)
    run_id = journal.start("unlock", source=name, trigger=trigger)
    journal.event(run_id, "info", name, f"lock held by {holder} released by {by}")
    journal.finish(run_id, "applied", counts={"lock.release": 1})
    return holder


def release(engine: Engine, name: str) -> str:
    """Free lock ``name`` whoever holds it; returns the holder it had. LockedError if there is no such lock."""
    with engine.begin() as conn:
        row = conn.execute(select(job_lock).where(job_lock.c.name == name)).first()
        if row is None:
            raise LockedError(f"no lock named {name}")
        conn.execute(delete(job_lock).where(job_lock.c.name == name, job_lock.c.holder == row.holder))
    return row.holder
