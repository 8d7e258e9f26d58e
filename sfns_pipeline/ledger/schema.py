"""The ledger's tables, and the migrations that create or upgrade them on start.

Migrations are numbered functions applied in order, each once, recorded in ``sfns_ledger_schema``.
They run inside one transaction that first takes a lock — ``BEGIN IMMEDIATE`` on SQLite (see
:mod:`sfns_pipeline.ledger.engine`), a transaction-scoped advisory lock on PostgreSQL — so code servers,
run workers and the CLI starting at the same moment never race each other into a half-made schema.
To change the schema, append a function to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator):
    """Timestamps stored as naive UTC (SQLite has no time zones) and read back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Aware → naive UTC on the way in; a naive value is refused rather than guessed to be UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ledger timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """Naive UTC from the database → aware UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


dead_letters = sa.Table(
    "sfns_dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("record_key", sa.String(255), nullable=False),
    sa.Column("record_type", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("target_id", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error_code", sa.String(255)),
    sa.Column("error_message", sa.Text),
    sa.Column("retryable", sa.Boolean, nullable=False),
    sa.Column("payload", sa.JSON),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("last_run_id", sa.String(64)),
    sa.Column("claimed_by", sa.String(64)),  # run id retrying it right now
    sa.UniqueConstraint("flow", "record_key", name="uq_sfns_dead_letters_flow_record"),
    sa.Index("ix_sfns_dead_letters_due", "flow", "status", "next_attempt_at"),
)

schema_versions = sa.Table(
    "sfns_ledger_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)


def _v1_dead_letters(connection: sa.Connection) -> None:
    dead_letters.create(connection, checkfirst=True)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_v1_dead_letters]  # version n = MIGRATIONS[n - 1]

_POSTGRES_MIGRATION_LOCK = 0x5F5E_0001  # arbitrary, constant: one advisory lock id for this purpose


def migrate(engine: sa.Engine) -> int:
    """Create or upgrade the schema; safe to call from any number of processes at once. Returns the version."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_POSTGRES_MIGRATION_LOCK)))
        schema_versions.create(connection, checkfirst=True)
        current = connection.execute(sa.select(sa.func.max(schema_versions.c.version))).scalar() or 0
        for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            migration(connection)
            connection.execute(schema_versions.insert().values(version=version, applied_at=datetime.now(UTC)))
    return len(MIGRATIONS)
