"""hub.store.CheckpointBehind: a big SQLite transaction's pages reach the database file through a thread."""

from __future__ import annotations

import threading

from sqlalchemy import event

from hub.store import CheckpointBehind, make_engine

PAGES = 3_000  # 4 KiB pages: past SQLite's automatic checkpoint (1,000)


def test_the_commit_leaves_the_checkpoint_to_a_thread_and_the_connection_as_it_was(tmp_path):
    path = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE filler (data BLOB)")
    statements: list[tuple[str, str]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda c, cursor, sql, *a: statements.append((threading.current_thread().name, sql)))
    before = path.stat().st_size

    checkpoint = CheckpointBehind(engine)
    with checkpoint.begin() as conn:
        conn.exec_driver_sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                             f"WHERE i < {PAGES}) INSERT INTO filler SELECT randomblob(4000) FROM n")
    checkpoint.join()

    assert path.stat().st_size >= before + PAGES * 4000  # the rows are in the database file, not only in the WAL
    checkpoints = [thread for thread, sql in statements if sql == "PRAGMA wal_checkpoint(PASSIVE)"]
    assert checkpoints == ["wal-checkpoint"]
    assert statements[0] == ("MainThread", "PRAGMA wal_autocheckpoint=0")  # the commit did not checkpoint
    with engine.connect() as conn:  # the pool's connections checkpoint as SQLite's default says
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000


def test_a_failed_transaction_starts_no_checkpoint_and_restores_the_connection(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    checkpoint = CheckpointBehind(engine)
    try:
        with checkpoint.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert checkpoint.thread is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
