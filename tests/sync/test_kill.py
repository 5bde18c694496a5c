"""A sync killed in the middle of applying leaves the store as it was; the next run converges."""

import signal
import time

import pytest
from sqlalchemy import text


@pytest.mark.slow
def test_kill_during_apply_then_rerun_converges(hub_env):
    hub_env.run("demo", "--persons", "40000", "generate")
    process = hub_env.spawn("sync", "aaf")
    engine = hub_env.engine()
    status = None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with engine.connect() as conn:
                status = conn.execute(text("select status from run order by id desc limit 1")).scalar()
            if status == "applying":
                time.sleep(0.05)  # well inside the apply transaction
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        engine.dispose()
        process.wait()
    assert status == "applying", f"the sync ended ({process.returncode}) before it could be killed while applying"
    assert process.returncode == -signal.SIGKILL
    assert hub_env.scalar("select count(*) from person") == 0, "a killed apply left half a state"
    assert hub_env.scalar("select count(*) from establishment") == 0

    hub_env.run("sync", "aaf")
    runs = hub_env.rows("select status, message from run order by id")
    assert runs[0].status == "interrupted" and "nothing of it was applied" in runs[0].message
    persons = hub_env.scalar("select count(*) from person")
    assert persons > 38000
    hub_env.run("sync", "aaf")
    counts = hub_env.counts()
    assert not any(key.startswith("person.") for key in counts)
    assert hub_env.scalar("select count(*) from person") == persons
