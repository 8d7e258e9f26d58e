"""What each flow last wrote for each record: a fingerprint of the payload and the target's id.

A flow compares a record's new payload fingerprint with the stored one before writing. Equal means
the target already holds exactly this content, so the record is reported ``unchanged`` and nothing
is written. That saves API calls on replayed or duplicate events, and it ends update loops in
two-way sync: our own writeback changes the source record, the source announces a change, and the
re-read record maps to the same payload as before.

The store lives in the ledger's database (``Settings.ledger_url``) in a table of its own and is
generic: one row per (flow, record key). Rows are written only after the whole sync of a record
succeeded (target written *and* the id written back), so a half-done record is never skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sfns_pipeline.ledger.engine import create_ledger_engine
from sfns_pipeline.ledger.schema import UtcDateTime

_CHUNK = 500  # bound IN (...) lists

metadata = sa.MetaData()

sync_state = sa.Table(
    "sfns_sync_state",
    metadata,
    sa.Column("flow", sa.String(64), primary_key=True),
    sa.Column("record_key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("target_id", sa.String(255)),
    sa.Column("synced_at", UtcDateTime, nullable=False),
)


@dataclass(frozen=True)
class SyncedRecord:
    """A record as last synced: its payload fingerprint and its id in the target system."""

    record_key: str
    fingerprint: str
    target_id: str | None
    synced_at: datetime | None = None


class SyncStateStore:
    """Read and write last-synced fingerprints for one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, flow: str, record_keys: Iterable[str]) -> dict[str, SyncedRecord]:
        """The stored state of each key that has one."""
        keys = list(dict.fromkeys(record_keys))
        found: dict[str, SyncedRecord] = {}
        with self._engine.begin() as connection:
            for start in range(0, len(keys), _CHUNK):
                rows = connection.execute(
                    sa.select(sync_state).where(
                        sync_state.c.flow == flow, sync_state.c.record_key.in_(keys[start : start + _CHUNK])
                    )
                )
                for row in rows:
                    found[row.record_key] = SyncedRecord(row.record_key, row.fingerprint, row.target_id, row.synced_at)
        return found

    def record(self, flow: str, records: Iterable[SyncedRecord]) -> None:
        """Store (insert or replace) the state of each record after a successful sync."""
        now = datetime.now(UTC)
        rows = [
            {
                "flow": flow,
                "record_key": r.record_key,
                "fingerprint": r.fingerprint,
                "target_id": r.target_id,
                "synced_at": r.synced_at or now,
            }
            for r in records
        ]
        if not rows:
            return
        with self._engine.begin() as connection:
            insert = _insert_for(connection.dialect.name)
            statement = insert(sync_state)
            statement = statement.on_conflict_do_update(
                index_elements=[sync_state.c.flow, sync_state.c.record_key],
                set_={
                    "fingerprint": statement.excluded.fingerprint,
                    "target_id": statement.excluded.target_id,
                    "synced_at": statement.excluded.synced_at,
                },
            )
            connection.execute(statement, rows)

    def forget(self, flow: str, record_keys: Iterable[str]) -> None:
        """Drop the stored state, so the next event re-syncs the records (e.g. after a failed writeback)."""
        keys = list(record_keys)
        with self._engine.begin() as connection:
            for start in range(0, len(keys), _CHUNK):
                connection.execute(
                    sa.delete(sync_state).where(
                        sync_state.c.flow == flow, sync_state.c.record_key.in_(keys[start : start + _CHUNK])
                    )
                )


def _insert_for(dialect: str):
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise ValueError(f"the sync-state store supports SQLite and PostgreSQL, not {dialect}")


@functools.cache
def open_sync_state(url: str) -> SyncStateStore:
    """The store at ``url`` (any SQLAlchemy URL of SQLite or PostgreSQL); its table is created on first use."""
    engine = create_ledger_engine(url)
    with engine.begin() as connection:
        sync_state.create(connection, checkfirst=True)
    return SyncStateStore(engine)


class SyncStateResource(dg.ConfigurableResource):
    """The sync-state store as a Dagster resource (same database URL as the ledger)."""

    url: str

    def store(self) -> SyncStateStore:
        """The store (table created on first use in this process)."""
        return open_sync_state(self.url)
