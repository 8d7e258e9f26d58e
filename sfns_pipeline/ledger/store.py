"""The dead-letter ledger: every failed record, durably, until it succeeds or an operator dismisses it.

One row per (flow, record key). Its life::

    failed ──► open ──(claimed by a run or the replay job)──► retrying ──► resolved   (a later success)
                 ▲                                              │
                 └────────────── failed again ◄─────────────────┘
    open/retrying ──(attempts reach SFNS_LEDGER_MAX_ATTEMPTS, or the error is not retryable)──► needs_attention
    any unresolved ──(operator: `sfns dead-letters dismiss`)──► dismissed

A failure of a resolved or dismissed record opens a new incident (attempts start again at 1).
Automatic retries wait ``retry_backoff_seconds * 2**(attempts-1)`` between attempts; a
``needs_attention`` entry is only retried when an operator asks (replay job or CLI).

Concurrency: every change happens in one transaction that locks what it touches (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: insert-on-conflict on the unique key, then ``SELECT … FOR UPDATE``),
so two runs reporting the same record serialise: no duplicate rows, no lost attempt counts. Claims
use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so two runs never retry the same entry at once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sfns_pipeline.ledger.engine import create_ledger_engine
from sfns_pipeline.ledger.schema import dead_letters, migrate
from sfns_pipeline.outcomes import RecordOutcome

# A run that crashed while retrying never reports back; after this its claimed entries are due again.
CLAIM_LEASE = timedelta(hours=1)
MAX_BACKOFF = timedelta(days=1)
_CHUNK = 500  # bound IN (...) lists: SQLite allows ~32k parameters, PostgreSQL 65k


class DeadLetterStatus(StrEnum):
    """Where a dead letter is in its life (see the module docstring)."""

    OPEN = "open"  # waiting for its next automatic attempt
    RETRYING = "retrying"  # claimed by a run that is retrying it now
    NEEDS_ATTENTION = "needs_attention"  # out of automatic attempts, or not retryable: a person must look
    RESOLVED = "resolved"  # a later attempt succeeded
    DISMISSED = "dismissed"  # an operator decided it needs no retry


UNRESOLVED = (DeadLetterStatus.OPEN, DeadLetterStatus.RETRYING, DeadLetterStatus.NEEDS_ATTENTION)


class LedgerError(RuntimeError):
    """The ledger cannot be used as configured (e.g. an unsupported database)."""


@dataclass(frozen=True)
class DeadLetter:
    """One ledger entry: a record of one flow that failed, and what is known about it."""

    id: int
    flow: str
    record_key: str
    record_type: str
    source_id: str
    target_id: str | None
    status: DeadLetterStatus
    error_code: str | None
    error_message: str | None
    retryable: bool
    payload: dict[str, Any] | None
    attempts: int
    first_seen: datetime
    last_seen: datetime
    next_attempt_at: datetime
    resolved_at: datetime | None
    last_run_id: str | None

    @classmethod
    def _from_row(cls, row: sa.Row) -> DeadLetter:
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        return cls(**values | {"status": DeadLetterStatus(row.status)})


@dataclass(frozen=True)
class LedgerUpdate:
    """What one report changed: the entry of every failed record after the change, and how many resolved."""

    failures: dict[str, DeadLetter]  # by record key
    resolved: int

    @property
    def needs_attention(self) -> int:
        """How many of the failed records now wait for an operator."""
        return sum(entry.status is DeadLetterStatus.NEEDS_ATTENTION for entry in self.failures.values())


def _jsonable(payload: Any) -> Any:
    # Payloads come from flows: dates and decimals are stored as text rather than failing the report.
    return None if payload is None else json.loads(json.dumps(payload, default=str))


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    return (items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK))


class DeadLetterLedger:
    """Reads and writes dead letters; construct with :func:`open_ledger`."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        max_attempts: int = 5,
        retry_backoff_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        inserts = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
        if engine.dialect.name not in inserts:
            raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {engine.dialect.name}")
        self._engine = engine
        self._insert = inserts[engine.dialect.name]
        self.max_attempts = max_attempts
        self.retry_backoff = timedelta(seconds=retry_backoff_seconds)
        self._clock = clock

    # ---- reporting -------------------------------------------------------------------------------

    def record(self, flow: str, outcomes: Iterable[RecordOutcome], *, run_id: str) -> LedgerUpdate:
        """Upsert every failure, resolve every success, release this run's unreported claims — atomically.

        If a record appears more than once, its last outcome counts (one attempt per run and record).
        """
        latest = {outcome.key: outcome for outcome in outcomes}
        failed = sorted(key for key, outcome in latest.items() if outcome.failed)  # sorted: stable lock order
        succeeded = sorted(key for key, outcome in latest.items() if not outcome.failed)
        now = self._clock()
        with self._engine.begin() as connection:
            self._lock_existing(connection, flow, sorted(latest))
            failures = {key: self._record_failure(connection, flow, latest[key], now, run_id) for key in failed}
            resolved = self._resolve(connection, flow, succeeded, now, run_id)
            self._release_claims(connection, flow, run_id, now)
        return LedgerUpdate(failures=failures, resolved=resolved)

    @staticmethod
    def _lock_existing(connection: sa.Connection, flow: str, keys: Sequence[str]) -> None:
        # PostgreSQL: take every row lock this report needs up front, in key order, so two concurrent
        # reports of overlapping records queue behind each other instead of deadlocking. (SQLite's
        # BEGIN IMMEDIATE already serialises whole transactions; it ignores FOR UPDATE.)
        for chunk in _chunks(keys):
            connection.execute(
                sa.select(dead_letters.c.id)
                .where(dead_letters.c.flow == flow, dead_letters.c.record_key.in_(chunk))
                .order_by(dead_letters.c.record_key)
                .with_for_update()
            ).all()

    def _record_failure(
        self, connection: sa.Connection, flow: str, outcome: RecordOutcome, now: datetime, run_id: str
    ) -> DeadLetter:
        first = self._failure_values(outcome, None, now, run_id) | {"flow": flow, "record_key": outcome.key}
        insert = (
            self._insert(dead_letters).values(**first).on_conflict_do_nothing(index_elements=["flow", "record_key"])
        )
        if connection.execute(insert).rowcount == 0:
            existing = connection.execute(
                sa.select(dead_letters)
                .where(dead_letters.c.flow == flow, dead_letters.c.record_key == outcome.key)
                .with_for_update()
            ).one()
            connection.execute(
                dead_letters.update()
                .where(dead_letters.c.id == existing.id)
                .values(**self._failure_values(outcome, existing, now, run_id))
            )
        row = connection.execute(
            sa.select(dead_letters).where(dead_letters.c.flow == flow, dead_letters.c.record_key == outcome.key)
        ).one()
        return DeadLetter._from_row(row)

    def _failure_values(
        self, outcome: RecordOutcome, existing: sa.Row | None, now: datetime, run_id: str
    ) -> dict[str, Any]:
        new_incident = existing is None or existing.status in (DeadLetterStatus.RESOLVED, DeadLetterStatus.DISMISSED)
        attempts = 1 if new_incident else existing.attempts + 1
        exhausted = not outcome.retryable or attempts >= self.max_attempts
        values = {
            "record_type": outcome.record_type,
            "source_id": outcome.source_id,
            "status": DeadLetterStatus.NEEDS_ATTENTION if exhausted else DeadLetterStatus.OPEN,
            "error_code": outcome.error_code,
            "error_message": outcome.message,
            "retryable": outcome.retryable,
            "attempts": attempts,
            "last_seen": now,
            "next_attempt_at": now + min(self.retry_backoff * 2 ** min(attempts - 1, 30), MAX_BACKOFF),
            "resolved_at": None,
            "last_run_id": run_id,
            "claimed_by": None,
        }
        if new_incident:
            values["first_seen"] = now
        if outcome.target_id is not None:
            values["target_id"] = outcome.target_id
        if outcome.payload is not None or new_incident:  # a retry that passes no payload keeps the stored one
            values["payload"] = _jsonable(outcome.payload)
        return values

    def _resolve(self, connection: sa.Connection, flow: str, keys: Sequence[str], now: datetime, run_id: str) -> int:
        resolved = 0
        for chunk in _chunks(keys):
            resolved += connection.execute(
                dead_letters.update()
                .where(
                    dead_letters.c.flow == flow,
                    dead_letters.c.record_key.in_(chunk),
                    dead_letters.c.status != DeadLetterStatus.RESOLVED,
                )
                .values(status=DeadLetterStatus.RESOLVED, resolved_at=now, last_run_id=run_id, claimed_by=None)
            ).rowcount
        return resolved

    def release_claims(self, flow: str, *, run_id: str) -> None:
        """Put entries ``run_id`` claimed but never reported back to waiting (e.g. its retry handler raised)."""
        with self._engine.begin() as connection:
            self._release_claims(connection, flow, run_id, self._clock())

    def _release_claims(self, connection: sa.Connection, flow: str, run_id: str, now: datetime) -> None:
        # Entries this run claimed but reported nothing about go back to waiting, due at once.
        exhausted = sa.or_(dead_letters.c.attempts >= self.max_attempts, sa.not_(dead_letters.c.retryable))
        connection.execute(
            dead_letters.update()
            .where(
                dead_letters.c.flow == flow,
                dead_letters.c.claimed_by == run_id,
                dead_letters.c.status == DeadLetterStatus.RETRYING,
            )
            .values(
                status=sa.case((exhausted, DeadLetterStatus.NEEDS_ATTENTION.value), else_=DeadLetterStatus.OPEN.value),
                claimed_by=None,
                next_attempt_at=now,
            )
        )

    # ---- retrying --------------------------------------------------------------------------------

    def claim_due(self, flow: str, *, run_id: str, limit: int = 200) -> list[DeadLetter]:
        """Entries of ``flow`` whose automatic retry is due, marked ``retrying`` for ``run_id``.

        The run must report an outcome for each (``record``); anything it leaves out is released when
        it reports, or after :data:`CLAIM_LEASE` if it crashes.
        """
        now = self._clock()
        due = sa.and_(
            dead_letters.c.flow == flow,
            dead_letters.c.status.in_([DeadLetterStatus.OPEN, DeadLetterStatus.RETRYING]),
            dead_letters.c.next_attempt_at <= now,
        )
        return self._claim(due, run_id, now, limit=limit, order=dead_letters.c.next_attempt_at)

    def claim(self, flow: str, *, run_id: str, source_ids: Sequence[str] | None = None) -> list[DeadLetter]:
        """Operator retry: the given records of ``flow`` (any unresolved status, also dismissed ones),
        or with ``source_ids=None`` every open, retrying or needs-attention entry — backoff ignored."""
        if source_ids is None:
            chosen = sa.and_(dead_letters.c.flow == flow, dead_letters.c.status.in_(UNRESOLVED))
        else:
            chosen = sa.and_(
                dead_letters.c.flow == flow,
                dead_letters.c.status != DeadLetterStatus.RESOLVED,
                dead_letters.c.source_id.in_(list(source_ids)),
            )
        return self._claim(chosen, run_id, self._clock(), limit=None, order=dead_letters.c.id)

    def _claim(
        self, where: sa.ColumnElement, run_id: str, now: datetime, *, limit: int | None, order: sa.Column
    ) -> list[DeadLetter]:
        with self._engine.begin() as connection:
            query = sa.select(dead_letters.c.id).where(where).order_by(order).limit(limit)
            ids = connection.execute(query.with_for_update(skip_locked=True)).scalars().all()
            for chunk in _chunks(ids):
                connection.execute(
                    dead_letters.update()
                    .where(dead_letters.c.id.in_(chunk))
                    .values(status=DeadLetterStatus.RETRYING, claimed_by=run_id, next_attempt_at=now + CLAIM_LEASE)
                )
            rows = [
                row
                for chunk in _chunks(ids)
                for row in connection.execute(sa.select(dead_letters).where(dead_letters.c.id.in_(chunk)))
            ]
        return sorted((DeadLetter._from_row(row) for row in rows), key=lambda entry: entry.id)

    # ---- operators -------------------------------------------------------------------------------

    def entries(
        self,
        flow: str | None = None,
        *,
        statuses: Sequence[DeadLetterStatus] | None = None,
        source_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[DeadLetter]:
        """Ledger entries, oldest first, optionally filtered by flow, status and source ids."""
        query = sa.select(dead_letters).order_by(dead_letters.c.id).limit(limit)
        if flow is not None:
            query = query.where(dead_letters.c.flow == flow)
        if statuses is not None:
            query = query.where(dead_letters.c.status.in_(list(statuses)))
        if source_ids is not None:
            query = query.where(dead_letters.c.source_id.in_(list(source_ids)))
        with self._engine.begin() as connection:
            return [DeadLetter._from_row(row) for row in connection.execute(query)]

    def dismiss(self, flow: str, *, source_ids: Sequence[str] | None = None) -> int:
        """Mark unresolved entries of ``flow`` (the given ones, or all) as dismissed; returns how many."""
        where = [dead_letters.c.flow == flow, dead_letters.c.status.in_(UNRESOLVED)]
        if source_ids is not None:
            where.append(dead_letters.c.source_id.in_(list(source_ids)))
        with self._engine.begin() as connection:
            return connection.execute(
                dead_letters.update().where(*where).values(status=DeadLetterStatus.DISMISSED, claimed_by=None)
            ).rowcount


@functools.cache
def _migrated_engine(url: str) -> sa.Engine:
    engine = create_ledger_engine(url)
    migrate(engine)
    return engine


def open_ledger(
    url: str,
    *,
    max_attempts: int = 5,
    retry_backoff_seconds: float = 60.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeadLetterLedger:
    """The ledger at ``url`` (any SQLAlchemy URL), its schema created or migrated on first use in this process."""
    return DeadLetterLedger(
        _migrated_engine(url), max_attempts=max_attempts, retry_backoff_seconds=retry_backoff_seconds, clock=clock
    )
