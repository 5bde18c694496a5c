"""The command line an admin can trust: one-line errors, no secrets printed, readable journals, clean stops."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from hubtest import HUB_BIN

from hub.errors import HubError


def test_help_shows_the_hubs_commands_only(sqlite_hub):
    output = sqlite_hub.run("--help").output
    for command in ("sync", "deliver", "journal", "doctor", "locks", "scheduler"):
        assert command in output
    for flask_only in ("routes", "shell", "--env-file", "--app"):
        assert flask_only not in output


def test_help_loads_no_database_network_or_terminal_library(sqlite_hub):
    """`hub --help` starts in a fresh interpreter: what it imports is its start-up time."""
    heavy = ("sqlalchemy", "alembic", "paramiko", "rich", "lxml", "httpx", "flask", "authlib", "saml2", "ldap3")
    script = (
        "import sys\nfrom hub.cli import main\nsys.argv = ['hub', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **sqlite_hub.env},
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "sync" in result.stdout
    assert result.stdout.rstrip().endswith("LOADED []"), result.stdout[-300:]


def test_database_failures_are_one_line(sqlite_hub, tmp_path):
    cases = {
        "postgresql://nobody:hunter2@127.0.0.1:1/hub": "error: database:",
        "postgres://nobody:hunter2@127.0.0.1:1/hub": "error: database:",  # read as PostgreSQL
        "mysql://root:hunter2@127.0.0.1/hub": "error: database 'mysql' is not supported",
        f"sqlite:///{tmp_path / 'hub.db'}/sub/hub.db": "error: cannot use",  # a file where a folder should be
    }
    (tmp_path / "hub.db").touch()
    for url, message in cases.items():
        result = sqlite_hub.run("journal", expect=1, env={"HUB_DATABASE_URL": url})
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (url, result.output)
        assert "hunter2" not in result.output and "Traceback" not in result.output
    with pytest.raises(HubError, match="not supported"):  # --debug lets the error through, with its traceback
        sqlite_hub.run("--debug", "journal", expect=None, env={"HUB_DATABASE_URL": "mysql://x@h/d"})


def test_a_read_only_database_and_an_unknown_revision_are_one_line(sqlite_hub, tmp_path):
    sqlite_hub.run("demo", "--persons", "300", "generate")
    url = f"sqlite:///file:{tmp_path / 'hub.db'}?mode=ro&uri=true"
    result = sqlite_hub.run("sync", "aaf", expect=1, env={"HUB_DATABASE_URL": url})
    assert "readonly database" in result.output and len(result.output.strip().splitlines()) == 1
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute("update alembic_version set version_num = '9999'")
    result = sqlite_hub.run("db", "upgrade", expect=1)
    assert "error: database: Can't locate revision identified by '9999'" in result.output
    assert "is at revision 9999" in sqlite_hub.run("journal", expect=1).output


def test_sources_and_uais_that_do_not_exist_are_errors(synced):
    assert "no enabled source named foo; enabled sources: aaf" in synced.run("sync", "foo", expect=1).output
    output = synced.run("sync", "aaf", "--uai", "0159999M", expect=1).output
    assert "--uai 0159999M: no such establishment" in output
    assert synced.scalar("select status from run order by id desc limit 1") == "failed"


def test_without_a_settings_file_the_hub_says_which_one_it_looked_for(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    result = subprocess.run([HUB_BIN, "journal"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"no settings file: looked for {tmp_path / 'config' / 'hub.toml'}" in result.stderr
    assert not (tmp_path / "var").exists()


def test_setting_errors_name_where_the_value_came_from(sqlite_hub):
    sqlite_hub.config.write_text('[plugins]\nenabled = ["aaf"]\n[plugins.aaf]\npath = "aaf"\n'
                                 '[plugins.webhook]\ntoken = "s3cret"\nurl = "http://127.0.0.1/x"\n')
    output = sqlite_hub.run("journal", expect=1).output
    assert "plugins.webhook.token" in output and "secrets are not read from the file" in output  # webhook disabled
    sqlite_hub.config.write_text('[plugins]\nenabled = ["aaf"]\n[plugins.aaf]\nschool_year = 2026\n')
    output = sqlite_hub.run("journal", expect=1).output
    assert "setting plugins.aaf.path (not set in" in output and "nor by HUB_PLUGINS__AAF__PATH" in output


def test_credentials_in_urls_never_reach_the_journal_or_the_dead_letters(sqlite_hub):
    sqlite_hub.write_config("""
        [plugins.webhook]
        url = "http://hub:hunter2@127.0.0.1:9/hook"
        [delivery]
        max_attempts = 1
        """, enabled=("aaf", "webhook"))
    sqlite_hub.run("demo", "--persons", "300", "generate")
    sqlite_hub.run("sync", "aaf")
    sqlite_hub.run("deliver", "--limit", "3")
    listed = sqlite_hub.run("deadletters", "list").output
    assert "hub:***@127.0.0.1" in listed and "hunter2" not in listed
    stored = sqlite_hub.rows("select last_error from outbox where status = 'dead'")
    assert stored and all("hunter2" not in row.last_error for row in stored)


def test_names_with_control_characters_are_rejected(synced):
    from aaf_files import records, rewrite, set_attr

    pupil = records(synced.aaf_dir, "Eleve")[0][0]
    # XML cannot carry ESC; it can carry a C1 control and a bidi override, which reorders what a terminal shows
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "sn", "DUPONT\x85\u202eXX")
            if id_ == pupil else None)
    output = synced.run("sync", "aaf").output
    assert "\x85" not in output and "\u202e" not in output
    assert "contains the control character U+0085" in output


def test_journal_show_is_a_table_with_events_grouped_by_reason(synced):
    from aaf_files import records, rewrite, set_attr

    pupils = [id_ for id_, _ in records(synced.aaf_dir, "Eleve")][:6]
    rewrite(synced.aaf_dir, "Eleve", lambda id_, attrs, request: set_attr(request, "ENTPersonDateNaissance",
                                                                           f"3{pupils.index(id_)}/13/2012")
            if id_ in pupils else None)
    synced.run("sync", "aaf", "--force")
    run_id = synced.scalar("select max(id) from run")
    output = synced.run("journal", "show", str(run_id)).output
    assert "┃ count" in output and "sources.aaf.records_read" in output
    assert "error ×6: ENTPersonDateNaissance … is not a date (JJ/MM/AAAA)" in output
    assert "… 3 more (hub journal show" in output
    assert output.count("is not a date") == 4  # the group's line and its first three
    assert synced.run("journal", "show", str(run_id), "--all").output.count("is not a date") == 7


def test_deliver_and_purge_say_what_they_would_do(synced):
    assert "no target is enabled" in synced.run("deliver").output
    assert "no target is enabled" in synced.run("deadletters", "list").output
    synced.run("sync", "aaf", "--force", env={"HUB_PLUGINS__AAF__PATH": str(synced.root / "empty")},
               expect=None)
    synced.scalar("select 1")
    engine = synced.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("update person set status = 'pending_deletion', delete_after = '2000-01-01 00:00:00' "
                             "where kind = 'parent'")
    engine.dispose()
    parents = synced.scalar("select count(*) from person where kind = 'parent'")
    assert f"would purge {parents} people" in synced.run("purge", "--dry-run").output
    assert synced.scalar("select count(*) from person where kind = 'parent'") == parents
    assert f"purged {parents} people" in synced.run("purge").output
    assert synced.scalar("select count(*) from person where kind = 'parent'") == 0


def test_logging_reaches_stderr_and_the_scheduler_stops_cleanly_on_ctrl_c(sqlite_hub):
    sqlite_hub.write_config("""
        [[jobs]]
        name = "nightly"
        cron = "0 3 * * *"
        action = "sync"
        source = "aaf"
        """)
    process = sqlite_hub.spawn("scheduler", env={"HUB_TRACE_PLUGINS": "1"}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:  # until it runs, and says so in the log (INFO "scheduler started")
        line = process.stderr.readline()
        lines.append(line)
        if any("Ctrl-C stops it" in seen for seen in lines) and "scheduler started" in line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "nightly" in out and "03:00:00" in out  # its jobs and their next runs, at start
    assert "scheduler stopped" in err and "Traceback" not in err
    assert any("INFO" in line for line in lines + err.splitlines()), lines  # logging configured, on stderr


def test_a_bigger_demo_extends_the_smaller_one_and_demo_exits_with_its_syncs_code(sqlite_hub):
    sqlite_hub.run("demo", "--persons", "300")
    first = {key for (key,) in sqlite_hub.rows("select person_key from person")}
    sqlite_hub.run("demo", "--persons", "2000")
    counts = sqlite_hub.counts()
    assert counts["person.create"] > 1500 and not any(
        k in counts for k in ("person.update", "person.move", "person.delete"))  # the 300 are the same people
    assert first <= {key for (key,) in sqlite_hub.rows("select person_key from person")}
    assert sqlite_hub.scalar("select count(*) from run_event where level = 'conflict'") == 0
    output = sqlite_hub.run("demo", "--persons", "300", expect=3).output  # back to 300: most people would go
    assert "held before applying" in output or "refused" in output
