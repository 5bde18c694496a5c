"""Outbox and delivery through the webhook target, against a real HTTP receiver."""

import signal
import time

import pytest
from hubtest import as_datetime


@pytest.fixture
def webhook_hub(hub_env, receiver):
    hub_env.write_config(f"""
        [plugins.webhook]
        url = "{receiver.url}"
        [delivery]
        max_attempts = 3
        backoff_seconds = 0
        """, enabled=("aaf", "webhook"))
    hub_env.run("demo", "--persons", "120", "generate")
    hub_env.run("sync", "aaf")
    return hub_env


def test_every_applied_change_has_one_outbox_row_per_target(webhook_hub):
    changes = sum(webhook_hub.scalar(f"select count(*) from {table}")
                  for table in ("person", "establishment", "study_group"))
    assert webhook_hub.scalar("select count(*) from outbox where target = 'webhook' and status = 'pending'") == changes
    order = [entity for (entity,) in webhook_hub.rows("select entity from outbox order by id")]
    assert order == sorted(order, key=["establishment", "group", "person"].index)  # classes before their pupils


def test_deliver_sends_each_change_once_with_its_idempotency_key(webhook_hub, receiver):
    output = webhook_hub.run("deliver").output
    pending = webhook_hub.scalar("select count(*) from outbox where status <> 'delivered'")
    assert pending == 0, output
    keys = {row[0] for row in webhook_hub.rows("select idempotency_key from outbox")}
    assert set(receiver.changes) == keys
    assert receiver.requests == len(keys)
    pupil = next(body for body in receiver.changes.values()
                 if body["entity"] == "person" and body["record"]["kind"] == "eleve")
    assert pupil["op"] == "create"
    assert set(pupil["record"]) == {"kind", "last_name", "first_name", "uai", "enrollment", "memberships"}
    assert "birth_date" not in pupil["record"] and "ine" not in pupil["record"]
    webhook_hub.run("deliver")
    assert receiver.requests == len(keys), "delivered changes are not sent again"


@pytest.mark.slow
def test_failures_back_off_then_dead_letter_then_retry(webhook_hub, receiver):
    receiver.fail_with = 503
    webhook_hub.run("deliver")  # one try per change and run, however short the backoff
    assert {(r.attempts, r.status) for r in webhook_hub.rows("select attempts, status from outbox")} == {(1, "pending")}
    webhook_hub.run("deliver")
    webhook_hub.run("deliver")
    rows = webhook_hub.rows("select attempts, status, last_error from outbox")
    assert rows and all(r.status == "dead" and r.attempts == 3 for r in rows)
    assert receiver.requests == 3 * len(rows)
    assert "answered 503" in rows[0].last_error
    listing = webhook_hub.run("deadletters", "list").output
    assert "answered 503" in listing
    receiver.fail_with = None
    assert "queued again" in webhook_hub.run("deadletters", "retry", "--all").output
    webhook_hub.run("deliver")
    assert webhook_hub.scalar("select count(*) from outbox where status <> 'delivered'") == 0


def test_a_rejection_is_dead_at_once_and_backoff_grows(webhook_hub, receiver):
    receiver.fail_with = 422
    webhook_hub.run("deliver", "--limit", "1")
    assert webhook_hub.scalar("select count(*) from outbox where status = 'dead' and attempts = 1") == 1
    receiver.fail_with = 500
    webhook_hub.write_config(f"""
        [plugins.webhook]
        url = "{receiver.url}"
        [delivery]
        max_attempts = 5
        backoff_seconds = 60
        """, enabled=("aaf", "webhook"))
    webhook_hub.run("deliver", "--limit", "1")
    row = webhook_hub.rows("select attempts, status, next_attempt_at, created_at from outbox "
                           "where attempts = 1 and status = 'pending'")[0]
    assert 50 <= (as_datetime(row.next_attempt_at) - as_datetime(row.created_at)).total_seconds() <= 3600


def test_a_killed_delivery_resumes_without_losing_or_duplicating(webhook_hub, receiver):
    receiver.delay = 0.05
    total = webhook_hub.scalar("select count(*) from outbox")
    process = webhook_hub.spawn("deliver")
    deadline = time.monotonic() + 30
    while len(receiver.changes) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 10 <= len(receiver.changes) < total, "the kill must land in the middle of the delivery"
    receiver.delay = 0
    webhook_hub.run("deliver")
    assert webhook_hub.scalar("select count(*) from outbox where status <> 'delivered'") == 0
    assert len(receiver.changes) == total
    assert receiver.requests <= total + 1  # at most the change in flight at the kill is sent twice
