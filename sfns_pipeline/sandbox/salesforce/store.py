"""Durable state of the org in SQLite (via SQLAlchemy): records, org secrets, sessions, API usage.

The backend keeps a working copy of the records in memory and writes every committed change here in
one transaction, so a restart of the sandbox finds the org exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, select
from sqlalchemy.dialects.sqlite import insert

from sfns_pipeline.sandbox.sqlite import sqlite_engine

_metadata = MetaData()

records = Table(
    "records",
    _metadata,
    Column("id", String(18), primary_key=True),
    Column("sobject", String(80), nullable=False, index=True),
    Column("data", Text, nullable=False),
)
org_meta = Table("org_meta", _metadata, Column("key", String(80), primary_key=True), Column("value", Text))
sessions = Table(
    "sessions",
    _metadata,
    Column("token", String(200), primary_key=True),
    Column("user_id", String(18), nullable=False),
    Column("app", String(80), nullable=False),
    Column("expires_at", Float, nullable=False),
)
api_usage = Table("api_usage", _metadata, Column("day", String(10), primary_key=True), Column("used", Integer))


class OrgStore:
    """Tables of one org in one SQLite file."""

    def __init__(self, db_url: str) -> None:
        self.engine = sqlite_engine(db_url)
        _metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the SQLite connections."""
        self.engine.dispose()

    # -- records ----------------------------------------------------------------------------------
    def load_records(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every stored record as ``(id, sobject, fields)``."""
        with self.engine.connect() as conn:
            for row in conn.execute(select(records.c.id, records.c.sobject, records.c.data)):
                yield row.id, row.sobject, json.loads(row.data)

    def save_records(self, changed: Iterable[tuple[str, str, dict[str, Any]]], meta: dict[str, str]) -> None:
        """Write records and org counters atomically (one transaction per committed DML call)."""
        rows = [{"id": rid, "sobject": sobject, "data": json.dumps(data)} for rid, sobject, data in changed]
        with self.engine.begin() as conn:
            if rows:
                stmt = insert(records)
                conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"data": stmt.excluded.data}), rows)
            self._put_meta(conn, meta)

    # -- org meta (ids, secrets, sequences) -------------------------------------------------------
    def meta(self) -> dict[str, str]:
        """The org's persisted ids, secrets and sequences."""
        with self.engine.connect() as conn:
            return {row.key: row.value for row in conn.execute(select(org_meta))}

    def put_meta(self, values: dict[str, str]) -> None:
        """Store org meta values, overwriting existing keys."""
        with self.engine.begin() as conn:
            self._put_meta(conn, values)

    @staticmethod
    def _put_meta(conn, values: dict[str, str]) -> None:
        if values:
            stmt = insert(org_meta)
            rows = [{"key": k, "value": v} for k, v in values.items()]
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}), rows)

    # -- sessions ---------------------------------------------------------------------------------
    def add_session(self, token: str, user_id: str, app: str, expires_at: datetime) -> None:
        """Persist an issued access token so it survives a sandbox restart."""
        with self.engine.begin() as conn:
            conn.execute(
                sessions.insert().values(token=token, user_id=user_id, app=app, expires_at=expires_at.timestamp())
            )

    def session(self, token: str) -> tuple[str, str, float] | None:
        """``(user_id, app, expires_at epoch seconds)`` of a session, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.token == token)).first()
        return (row.user_id, row.app, row.expires_at) if row else None

    def purge_sessions(self, before: datetime) -> None:
        """Forget sessions that expired before ``before``."""
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < before.timestamp()))

    # -- API usage --------------------------------------------------------------------------------
    def usage(self, day: str) -> int:
        """API requests counted on ``day`` (ISO date)."""
        with self.engine.connect() as conn:
            return conn.execute(select(api_usage.c.used).where(api_usage.c.day == day)).scalar() or 0

    def set_usage(self, day: str, used: int) -> None:
        """Record the API request count of ``day``."""
        with self.engine.begin() as conn:
            stmt = insert(api_usage).values(day=day, used=used)
            conn.execute(stmt.on_conflict_do_update(index_elements=["day"], set_={"used": used}))
