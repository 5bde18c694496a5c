"""Bulk writes: staging's inserts (COPY on PostgreSQL, a plain executemany on SQLite), and a first load's
indexes built once at its end.

SQLAlchemy's generic executemany builds a parameter dict per row, which costs more
than the insert itself at a million rows; these paths hand tuples straight to the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Table, UniqueConstraint, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex


def insert_rows(conn: Connection, table: Table, rows: list[tuple]) -> None:
    """Insert ``rows``, each a tuple in the order of ``table.columns``, inside the caller's transaction."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        cursor = conn.connection.driver_connection.cursor()
        try:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except conn.dialect.dbapi.Error as exc:  # by the driver, past SQLAlchemy: wrapped as it would have
            raise DBAPIError.instance(statement, None, exc, conn.dialect.dbapi.Error) from exc
    elif dialect == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
                             f"({', '.join('?' * len(names))})", rows)
    else:
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])


@contextmanager
def indexes_rebuilt(conn: Connection, tables: Sequence[Table]) -> Iterator[None]:
    """For the block, ``tables`` lose their non-unique indexes and, on PostgreSQL, their foreign keys; both are
    created again at its end, in the caller's transaction (a failure rolls the DDL back with the rows).

    PostgreSQL's own advice for populating a database: an index built over all its rows at once costs less
    than one grown row by row, and one check of a foreign key over the whole table less than a check per
    row. At 100,000 people over LDAP into PostgreSQL, a run's statements after the read took 3.0 s, 4.7 s before.
    SQLite checks a foreign key cheaply and cannot drop one; its indexes are rebuilt. The tables are locked
    until the transaction ends: only for a load into a store that is empty or nearly (see `hub.sync.apply`).
    """
    postgresql = conn.dialect.name == "postgresql"
    foreign_keys = [fk for t in tables for fk in t.foreign_key_constraints] if postgresql else []
    uniques = [c for t in tables for c in t.constraints if isinstance(c, UniqueConstraint)] if postgresql else []
    indexes = [index for t in tables for index in t.indexes if not index.unique]
    if postgresql:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")  # sorts an index's keys in memory
    for fk in foreign_keys:
        conn.execute(DropConstraint(fk))
    for constraint in uniques:
        conn.execute(DropConstraint(constraint))
    for index in indexes:
        conn.execute(DropIndex(index))
    yield
    for index in indexes:
        conn.execute(CreateIndex(index))
    for constraint in uniques:
        conn.execute(AddConstraint(constraint))
    for fk in foreign_keys:
        conn.execute(AddConstraint(fk))
