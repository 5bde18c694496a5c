"""The outbox's one writer: rows for the targets, in the caller's transaction, delivered by `hub.sync.deliver`.

Every change a target must hear of becomes one row per target with an
idempotency key that stays the same across retries: a sync's planned changes
(`write_outbox`), and changes made outside a sync, such as a purge or two
people linked by an admin (`enqueue`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Select, insert, literal, select

from hub.store.tables import UTCDateTime, outbox, plan_change

DELIVERED_ENTITIES = ("person", "establishment")  # what targets receive (nomenclatures are read from the store)
COLUMNS = ["target", "run_id", "entity", "op", "key", "idempotency_key", "status", "attempts", "next_attempt_at",
           "created_at"]


def write_outbox(conn: Connection, run_id: int, targets: list[str], now: datetime) -> None:
    """One outbox row per planned change and target."""
    pc = plan_change
    for target in targets:
        conn.execute(insert(outbox).from_select(COLUMNS, select(
            literal(target), pc.c.run_id, pc.c.entity, pc.c.op, pc.c.key,
            literal(f"{target}:{run_id}:") + pc.c.entity + ":" + pc.c.key, *_pending(now),
        ).where(pc.c.run_id == run_id, pc.c.entity.in_(DELIVERED_ENTITIES))))


def enqueue(conn: Connection, run_id: int, targets: list[str], now: datetime, *, entity: str, op: str,
            keys: Select) -> None:
    """One outbox row per target for each key ``keys`` selects (one column: the entity's key)."""
    keyed = keys.subquery()
    key = keyed.c[0]
    for target in targets:
        conn.execute(insert(outbox).from_select(COLUMNS, select(
            literal(target), literal(run_id), literal(entity), literal(op), key,
            literal(f"{target}:{run_id}:{op}:") + key, *_pending(now),
        )))


def _pending(now: datetime) -> tuple:
    moment = literal(now, UTCDateTime())
    return literal("pending"), literal(0), moment, moment
