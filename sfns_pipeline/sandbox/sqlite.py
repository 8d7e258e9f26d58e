"""SQLite engines for the sandboxes' durable state: one place for how the emulators tune SQLite."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

BUSY_TIMEOUT_MS = 10_000


def sqlite_engine(path_or_url: str | Path) -> sa.Engine:
    """An engine on a SQLite file (a path or a ``sqlite:///`` URL) tuned for a sandbox's threads.

    WAL lets readers (queries, subscriptions) run while a request writes; ``synchronous=NORMAL`` is
    durable across process crashes in WAL mode and keeps commits cheap (a sandbox may lose its last
    writes on a power cut, never its consistency); the busy timeout makes a writer wait for another
    connection's transaction instead of failing with "database is locked".
    """
    url = str(path_or_url)
    if not url.startswith("sqlite:"):
        url = f"sqlite:///{Path(path_or_url)}"
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _tune)
    return engine


def _tune(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()
