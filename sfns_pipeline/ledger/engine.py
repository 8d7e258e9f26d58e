"""SQLAlchemy engines for the ledger: SQLite made safe for several writers, PostgreSQL as is.

SQLite, as Python's driver uses it by default, starts transactions lazily and as readers, so two
runs that read a dead letter and then update it can interleave and lose an increment. Every ledger
transaction therefore starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front; the
SQLAlchemy-documented recipe for pysqlite), the journal is WAL (readers never block the writer)
and a busy timeout makes a second writer wait instead of failing with "database is locked".
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


def create_ledger_engine(url: str) -> sa.Engine:
    """An engine for ``url``; for SQLite the file's directory is created and the pragmas above applied."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
