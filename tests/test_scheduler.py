"""Scheduler: cron parsing, blackout windows and their lifting, the job lock across processes."""

import re
import textwrap
import time
from datetime import date

import pytest

from hub.cron import cron_trigger
from hub.scheduler import window_start
from hub.settings import BlackoutSettings

JOBS = """
    [[jobs]]
    name = "deliver"
    cron = "*/5 * * * *"
    action = "deliver"

    [[jobs]]
    name = "aaf-nightly"
    cron = "30 2 * * *"
    action = "sync"
    source = "aaf"

    [[blackouts]]
    name = "all-year"
    start = "01-01"
    end = "12-31"
    jobs = ["aaf-*"]
    """


@pytest.mark.parametrize(("start", "end", "today", "expected"), [
    ("07-14", "08-31", date(2026, 7, 20), date(2026, 7, 14)),
    ("07-14", "08-31", date(2026, 9, 1), None),
    ("12-20", "01-05", date(2027, 1, 3), date(2026, 12, 20)),  # a window across the new year
    ("12-20", "01-05", date(2026, 12, 24), date(2026, 12, 20)),
    ("12-20", "01-05", date(2026, 6, 1), None),
])
def test_blackout_window(start, end, today, expected):
    assert window_start(BlackoutSettings(name="b", start=start, end=end), today) == expected


def test_cron_accepts_five_or_six_fields_and_refuses_others():
    assert cron_trigger("*/5 * * * *") is not None
    assert cron_trigger("*/2 * * * * *") is not None
    with pytest.raises(ValueError, match="5 fields"):
        cron_trigger("* * *")


def test_bad_cron_in_settings_names_the_job(hub_cli_env, tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text(textwrap.dedent("""
        [[jobs]]
        name = "x"
        cron = "61 * * * *"
        action = "purge"
        """))
    result = hub_cli_env(config, "jobs", expect=1)
    assert "setting jobs.0.cron" in result.output
    config.write_text(textwrap.dedent("""
        [[jobs]]
        name = "x"
        cron = "0 2 * * *"
        action = "sync"
        """))
    assert "a sync job needs a source" in hub_cli_env(config, "jobs", expect=1).output


def test_jobs_lists_next_runs_and_blackouts(sqlite_hub):
    sqlite_hub.write_config(JOBS, enabled=())
    output = sqlite_hub.run("jobs").output
    deliver_line = next(line for line in output.splitlines() if "deliver" in line and "*/5" in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d[05]:00", deliver_line)
    nightly = next(line for line in output.splitlines() if "aaf-nightly" in line)
    assert "02:30:00" in nightly and "all-year" in nightly


def test_blackout_skips_the_job_until_lifted(sqlite_hub):
    sqlite_hub.write_config(JOBS.replace('"aaf-*"', '"deliver"'), enabled=())
    assert "skipped: blackout all-year" in sqlite_hub.run("jobs", "run", "deliver").output
    assert sqlite_hub.scalar("select status from run order by id desc limit 1") == "skipped"
    assert "lifted" in sqlite_hub.run("blackouts", "lift", "all-year").output
    assert "lifted" in sqlite_hub.run("blackouts").output
    assert "deliver: 0 delivered" in sqlite_hub.run("jobs", "run", "deliver").output
    assert "no blackout named nope" in sqlite_hub.run("blackouts", "lift", "nope", expect=1).output


def test_a_job_held_by_another_process_is_not_run_twice(sqlite_hub):
    sqlite_hub.write_config(JOBS, enabled=())
    with sqlite_hub.lock_held_elsewhere("job:deliver", ttl_seconds=60) as holder:
        result = sqlite_hub.run("jobs", "run", "deliver", expect=4)
        assert re.search(rf"job:deliver is already running \(held by [^:]+:{holder.pid} since", result.output)
    # the holder died without releasing: its lock is stale and taken over
    assert "deliver: 0 delivered" in sqlite_hub.run("jobs", "run", "deliver").output


@pytest.mark.slow
def test_two_schedulers_never_run_the_same_job_at_once(sqlite_hub, receiver):
    """Both schedulers fire every second; a delivery lasts longer; runs must not overlap."""
    sqlite_hub.write_config(f"""
        [plugins.webhook]
        url = "{receiver.url}"
        [[jobs]]
        name = "deliver"
        cron = "* * * * * *"
        action = "deliver"
        """, enabled=("webhook",))
    receiver.delay = 1.5  # each delivery attempt holds the job for 1.5 s
    _queue_changes(sqlite_hub, 2)
    schedulers = [sqlite_hub.spawn("scheduler") for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while len(receiver.changes) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)
    finally:
        for process in schedulers:
            process.terminate()
        logs = [process.communicate(timeout=20)[0] for process in schedulers]
    assert len(receiver.changes) == 2
    assert receiver.requests == 2, "a change was sent twice: two deliveries ran at once"
    runs = sqlite_hub.rows("select started_at, finished_at from run where action = 'deliver' "
                           "and finished_at is not null order by started_at")
    assert len(runs) >= 2
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier.finished_at <= later.started_at, f"overlapping deliveries: {earlier} and {later}"
    assert any("already running" in log for log in logs), logs


def _queue_changes(env, count: int) -> None:
    """Put pending changes in the outbox, as a sync would."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from hub.store.tables import outbox

    engine = env.engine()
    with engine.begin() as conn:
        conn.execute(insert(outbox), [dict(
            target="webhook", entity="establishment", op="create", key=f"015000{i}X", idempotency_key=f"k{i}",
            status="pending", attempts=0, next_attempt_at=datetime.now(UTC), created_at=datetime.now(UTC))
            for i in range(count)])
    engine.dispose()
