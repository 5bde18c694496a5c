"""Fast bulk inserts for staging: COPY on PostgreSQL, a plain executemany on SQLite.

SQLAlchemy's generic executemany builds a parameter dict per row, which costs more
than the insert itself at a million rows; these paths hand tuples straight to the driver.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, insert


def insert_rows(conn: Connection, table: Table, rows: list[tuple]) -> None:
    """Insert ``rows``, each a tuple in the order of ``table.columns``, inside the caller's transaction."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    elif dialect == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
                             f"({', '.join('?' * len(names))})", rows)
    else:
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
