"""Several delivery workers share the outbox on PostgreSQL: every change once, each entity in order."""

import itertools
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from flask import g, request
from receiver import Receiver, serve
from sqlalchemy import insert, select, update

from hub.store.tables import outbox, run


def on_postgres(test):
    """Run ``test`` on PostgreSQL only (SQLite keeps one worker)."""
    return pytest.mark.postgres(pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)(test))


def _webhook_hub(env, receiver, *, batch_size: int = 200) -> None:
    env.write_config(
        f"""
        [plugins.webhook]
        url = "{receiver.url}"
        [delivery]
        batch_size = {batch_size}
        backoff_seconds = 0
        """,
        enabled=("aaf", "webhook"),
    )


def _synced(env, receiver, *, batch_size: int = 5) -> None:
    """A synced demo académie whose changes wait in the outbox for the webhook target."""
    _webhook_hub(env, receiver, batch_size=batch_size)
    env.run("demo", "--persons", "30", "generate")
    env.run("sync", "aaf")


def _queue_later_changes(env, *, people: int, updates: int) -> int:
    """``updates`` rounds of changes to ``people`` persons, queued as a sync would: the rows now in the outbox.

    The rounds are close together in the outbox, so workers taking neighbouring rows at once would
    send one person's changes at the same time if they did not wait for one another.
    """
    engine = env.engine()
    with engine.begin() as conn:
        keys = (
            conn.execute(select(outbox.c.key).where(outbox.c.entity == "person").order_by(outbox.c.id).limit(people))
            .scalars()
            .all()
        )
        moment = datetime.now(UTC)
        conn.execute(
            insert(outbox),
            [
                dict(
                    target="webhook",
                    entity="person",
                    op="update",
                    key=key,
                    idempotency_key=f"later:{n}:{key}",
                    status="pending",
                    attempts=0,
                    next_attempt_at=moment,
                    created_at=moment,
                )
                for n in range(updates)
                for key in keys
            ],
        )
    engine.dispose()
    return env.scalar("select count(*) from outbox")


def _arrivals(receiver) -> list[str]:
    return [headers["Idempotency-Key"] for headers in receiver.headers]


@dataclass
class TimedReceiver(Receiver):
    """The webhook receiver, also noting when each request began and ended (to see two changes of one entity
    overlap)."""

    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def app(self):
        app = super().app()

        @app.before_request
        def began():
            g.began = time.monotonic()

        @app.after_request
        def ended(response):
            self.spans.setdefault(request.headers.get("Idempotency-Key", ""), []).append((g.began, time.monotonic()))
            return response

        return app


@pytest.fixture
def receiver():
    target = TimedReceiver()
    server = serve(target)
    yield target
    server.shutdown()


def _assert_once_each_in_entity_order(env, receiver) -> None:
    """Every change arrived once, and each entity's changes one after the other: none sent before the
    target had answered the one before it."""
    rows = env.rows("select id, entity, key, idempotency_key, status from outbox order by id")
    assert {r.status for r in rows} == {"delivered"}
    arrived = _arrivals(receiver)
    assert sorted(arrived) == sorted(r.idempotency_key for r in rows), "a change was lost or sent twice"
    by_entity: dict[tuple, list] = {}
    for r in rows:
        by_entity.setdefault((r.entity, r.key), []).append(receiver.spans[r.idempotency_key][0])
    overlapping = [
        entity
        for entity, spans in by_entity.items()
        if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    ]
    assert not overlapping, f"a change was sent before the one before it was answered, for {overlapping[:3]}"


def _wait_for(predicate, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
@on_postgres
def test_workers_here_and_a_delivery_elsewhere_send_every_change_once_in_order(hub_env, receiver):
    _synced(hub_env, receiver)
    total = hub_env.scalar("select count(*) from outbox")
    receiver.delay = 0.02
    elsewhere = hub_env.spawn("deliver")  # as on another machine: a plain `hub deliver` joins the workers
    try:
        output = hub_env.run("deliver", "--workers", "3").output
    finally:
        elsewhere_output = elsewhere.communicate(timeout=120)[0]
    assert elsewhere.returncode == 0, elsewhere_output
    _assert_once_each_in_entity_order(hub_env, receiver)
    assert "webhook" in output
    workers = hub_env.rows("select claimed_by, count(*) from outbox group by claimed_by")
    assert len(workers) == 4 and all(count < total for _, count in workers), workers
    runs = hub_env.rows("select status, counts from run where action = 'deliver'")
    assert len(runs) == 4 and {r.status for r in runs} == {"applied"}

    _queue_later_changes(hub_env, people=2, updates=6)  # two people, each changed six times
    receiver.delay = 0.2  # the four workers' requests overlap: only the claims keep one person's apart
    hub_env.run("deliver", "--workers", "4")
    _assert_once_each_in_entity_order(hub_env, receiver)


@pytest.mark.slow
@on_postgres
def test_a_killed_workers_claims_are_taken_over_at_once(hub_env, receiver):
    _synced(hub_env, receiver)
    total = _queue_later_changes(hub_env, people=10, updates=1)
    receiver.delay = 0.2
    worker = hub_env.spawn("deliver")
    _wait_for(lambda: len(receiver.headers) >= 3)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    held = hub_env.scalar("select count(*) from outbox where status = 'pending' and claimed_until is not null")
    assert held > 1, "the killed worker held a claim"
    receiver.delay = 0
    second = hub_env.spawn("deliver", "--workers", "2")  # a process of its own: its workers are forked from it
    output = second.communicate(timeout=120)[0]
    assert second.returncode == 0, output
    assert f":{worker.pid} had died holding changes" in output
    assert hub_env.scalar("select count(*) from outbox where status <> 'delivered'") == 0
    arrived = _arrivals(receiver)
    assert len(set(arrived)) == total
    assert len(arrived) <= total + 1, "at most the change in flight at the kill is sent twice"
    takeovers = [
        r.counts.get("taken_over") for r in hub_env.rows("select counts from run where action = 'deliver' order by id")
    ]
    assert takeovers[0] is None and 1 in takeovers[1:], "a worker of the second delivery freed the dead one's claims"


@pytest.mark.slow
@on_postgres
def test_a_claim_of_another_machine_is_taken_over_once_its_lease_ran_out(hub_env, receiver):
    _synced(hub_env, receiver)
    total = _queue_later_changes(hub_env, people=10, updates=1)
    engine = hub_env.engine()
    with engine.begin() as conn:  # a worker on another host took the first people's creates, then went silent
        first = (
            conn.execute(select(outbox.c.id).where(outbox.c.entity == "person").order_by(outbox.c.id).limit(5))
            .scalars()
            .all()
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(first))
            .values(claimed_by="elsewhere.example:4242", claimed_until=datetime.now(UTC) + timedelta(seconds=3))
        )
        other_run = conn.execute(  # that worker's journal run: this machine cannot tell whether it still runs
            insert(run).values(action="deliver", trigger="cli", status="running", started_at=datetime.now(UTC),
                               counts={}, pid=4242, host="elsewhere.example")
        ).inserted_primary_key[0]
    engine.dispose()
    started = time.monotonic()
    hub_env.run("deliver")
    assert time.monotonic() - started >= 2.5, "a live claim of another machine was not respected"
    _assert_once_each_in_entity_order(hub_env, receiver)
    assert len(_arrivals(receiver)) == total
    taken = hub_env.rows(f"select claimed_by from outbox where id in ({', '.join(map(str, first))})")
    assert all(not r.claimed_by.startswith("elsewhere") for r in taken)
    assert hub_env.scalar(f"select status from run where id = {other_run}") == "running"


def test_sqlite_keeps_one_worker_and_says_so(sqlite_hub, receiver):
    _webhook_hub(sqlite_hub, receiver)
    sqlite_hub.run("demo", "--persons", "30", "generate")
    sqlite_hub.run("sync", "aaf")
    output = sqlite_hub.run("deliver", "--workers", "4", expect=1).output
    assert "--workers 4" in output and "sqlite" in output and "one delivery worker" in output
    assert "need PostgreSQL" in output
    assert receiver.headers == [] and sqlite_hub.scalar("select count(*) from outbox where status = 'delivered'") == 0
    sqlite_hub.run("deliver", "--workers", "1")
    assert sqlite_hub.scalar("select count(*) from outbox where status <> 'delivered'") == 0


@on_postgres
def test_a_delivery_counts_a_big_outbox_before_claiming_from_it(hub_env, receiver):
    """PostgreSQL left with a stale row count (just after a sync queued many changes; no autovacuum here)
    sorts every pending row on each claim: `hub deliver` has the outbox analyzed first."""
    _webhook_hub(hub_env, receiver)
    moment = datetime.now(UTC)
    engine = hub_env.engine()
    with engine.begin() as conn:
        conn.execute(insert(outbox), [
            dict(target="elsewhere", entity="person", op="update", key=f"jnt:{n}", idempotency_key=f"stale:{n}",
                 status="pending", attempts=0, next_attempt_at=moment, created_at=moment)
            for n in range(3000)
        ])  # fmt: skip
    counted = "select reltuples from pg_class where oid = 'outbox'::regclass"
    assert hub_env.scalar(counted) < 1000
    hub_env.run("deliver")  # nothing for its targets (webhook): the rows stay
    assert hub_env.scalar(counted) >= 3000
    assert hub_env.scalar("select count(*) from outbox where status = 'pending'") == 3000
    engine.dispose()
