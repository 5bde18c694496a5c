"""One delivery at a time however it is started; dead holders lose their locks at once; admins see and free locks."""

import signal
import time

import pytest
from test_scheduler import _queue_changes


@pytest.fixture
def webhook_hub(sqlite_hub, receiver):
    sqlite_hub.write_config(f"""
        [plugins.webhook]
        url = "{receiver.url}"
        [[jobs]]
        name = "deliver"
        cron = "0 3 * * *"
        action = "deliver"
        """, enabled=("webhook",))
    return sqlite_hub


def _wait_for(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


@pytest.mark.slow
def test_the_command_and_the_scheduled_job_share_one_delivery_lock(webhook_hub, receiver):
    receiver.delay = 1.0
    _queue_changes(webhook_hub, 3)
    command = webhook_hub.spawn("deliver")
    try:
        _wait_for(lambda: receiver.requests >= 1)
        result = webhook_hub.run("jobs", "run", "deliver", expect=4)
        assert "deliver is already running" in result.output
    finally:
        output = command.communicate(timeout=30)[0]
    assert command.returncode == 0, output
    assert receiver.requests == 3 and len(receiver.changes) == 3, "a change was sent twice"


def test_a_killed_delivery_is_marked_interrupted_and_its_lock_taken_over_at_once(webhook_hub, receiver):
    receiver.delay = 5.0
    _queue_changes(webhook_hub, 2)
    command = webhook_hub.spawn("deliver")
    _wait_for(lambda: receiver.requests >= 1)
    command.send_signal(signal.SIGKILL)  # not reaped yet: a zombie still answers kill(pid, 0)
    _wait_for(lambda: _state(command.pid) == "Z")  # the kernel takes a moment to tear a process down
    receiver.delay = 0
    listed = webhook_hub.run("locks").output
    assert "deliver" in listed and "no (dead)" in listed
    webhook_hub.run("deliver")  # well within the lock's TTL
    command.wait()
    runs = webhook_hub.rows("select status, message from run where action = 'deliver' order by id")
    assert runs[0].status == "interrupted" and "what it delivered stays delivered" in runs[0].message
    assert runs[-1].status == "applied"
    assert webhook_hub.scalar("select count(*) from outbox where status = 'delivered'") == 2


def test_locks_are_listed_and_released_by_an_admin(webhook_hub):
    with webhook_hub.lock_held_elsewhere("sync:aaf") as holder:
        listed = webhook_hub.run("locks").output
        assert "sync:aaf" in listed and f":{holder.pid}" in listed and "yes" in listed
        refused = webhook_hub.run("locks", "release", "sync:aaf", expect=1).output
        assert "still running" in refused
        assert "released sync:aaf" in webhook_hub.run("locks", "release", "sync:aaf", "--force").output
    assert "no lock is held" in webhook_hub.run("locks").output
    assert webhook_hub.run("locks", "release", "sync:aaf", expect=4).output.count("no lock named sync:aaf") == 1
    event = webhook_hub.rows("select e.reason from run_event e join run r on r.id = e.run_id "
                             "where r.action = 'unlock'")
    assert len(event) == 1 and f":{holder.pid} released by" in event[0].reason


def test_demo_does_not_rewrite_files_under_a_running_sync(sqlite_hub):
    sqlite_hub.run("demo", "--persons", "120", "generate")
    files = {p: p.stat().st_mtime_ns for p in sqlite_hub.aaf_dir.glob("*.xml")}
    with sqlite_hub.lock_held_elsewhere("sync:aaf"):
        assert "sync:aaf is already running" in sqlite_hub.run("demo", "--persons", "300", expect=4).output
        assert "sync:aaf is already running" in sqlite_hub.run("demo", "generate", expect=4).output
    assert {p: p.stat().st_mtime_ns for p in sqlite_hub.aaf_dir.glob("*.xml")} == files
