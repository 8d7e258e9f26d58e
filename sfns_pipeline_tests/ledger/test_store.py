"""The dead-letter ledger: retry timing, bounded attempts, resolution, claims, concurrency, schema."""

import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sfns_pipeline.ledger import DeadLetterLedger, DeadLetterStatus, LedgerError, open_ledger
from sfns_pipeline.ledger.engine import create_ledger_engine
from sfns_pipeline.ledger.schema import MIGRATIONS, migrate
from sfns_pipeline.outcomes import RecordOutcome

FLOW = "invoice_sync"


class Clock:
    """A clock the test moves by hand: backoff is checked without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def failed(source_id: str, *, retryable: bool = True, payload=None) -> RecordOutcome:
    return RecordOutcome.failure(
        "Invoice", source_id, error_code="UNABLE_TO_LOCK_ROW", message="row locked", retryable=retryable,
        payload=payload if payload is not None else {"id": source_id},
    )  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path, clock) -> DeadLetterLedger:
    return open_ledger(f"sqlite:///{tmp_path}/ledger.db", max_attempts=3, retry_backoff_seconds=60, clock=clock)


def test_failed_record_is_retried_when_due_and_resolved_when_it_succeeds(ledger, clock):
    ledger.record(FLOW, [failed("101"), RecordOutcome.created("Invoice", "102", "a0B1")], run_id="run-1")
    assert ledger.claim_due(FLOW, run_id="run-2") == []  # backoff: not yet

    clock.advance(61)
    [entry] = ledger.claim_due(FLOW, run_id="run-3")
    assert (entry.source_id, entry.status, entry.payload) == ("101", DeadLetterStatus.RETRYING, {"id": "101"})

    update = ledger.record(FLOW, [RecordOutcome.updated("Invoice", "101", "a0B2")], run_id="run-3")
    assert update.resolved == 1
    [resolved] = ledger.entries(FLOW)
    assert resolved.status is DeadLetterStatus.RESOLVED
    assert resolved.resolved_at == clock.now
    assert resolved.attempts == 1


def test_backoff_doubles_and_attempts_are_bounded(ledger, clock):
    waits = []
    for run in range(3):
        entry = ledger.record(FLOW, [failed("201")], run_id=f"run-{run}").failures["Invoice:201"]
        waits.append((entry.next_attempt_at - clock.now).total_seconds())
        clock.advance(waits[-1])
    assert waits == [60, 120, 240]
    assert entry.attempts == 3
    assert entry.status is DeadLetterStatus.NEEDS_ATTENTION

    clock.advance(10_000)
    assert ledger.claim_due(FLOW, run_id="later") == []  # no more automatic retries
    assert [e.source_id for e in ledger.claim(FLOW, run_id="operator")] == ["201"]  # an operator still can


def test_not_retryable_failure_needs_attention_at_once(ledger):
    update = ledger.record(FLOW, [failed("301", retryable=False)], run_id="run-1")
    assert update.needs_attention == 1
    assert update.failures["Invoice:301"].status is DeadLetterStatus.NEEDS_ATTENTION


def test_failure_after_resolution_is_a_new_incident(ledger, clock):
    ledger.record(FLOW, [failed("401")], run_id="run-1")
    ledger.record(FLOW, [failed("401")], run_id="run-2")
    ledger.record(FLOW, [RecordOutcome.unchanged("Invoice", "401")], run_id="run-3")
    clock.advance(3600)
    entry = ledger.record(FLOW, [failed("401")], run_id="run-4").failures["Invoice:401"]
    assert (entry.status, entry.attempts, entry.first_seen) == (DeadLetterStatus.OPEN, 1, clock.now)
    assert len(ledger.entries(FLOW)) == 1


def test_a_retry_without_payload_keeps_the_stored_one(ledger):
    ledger.record(FLOW, [failed("501", payload={"id": "501", "amount": "12.50"})], run_id="run-1")
    bare = RecordOutcome.failure("Invoice", "501", error_code="X", message="again", retryable=True)
    assert ledger.record(FLOW, [bare], run_id="run-2").failures["Invoice:501"].payload == {
        "id": "501",
        "amount": "12.50",
    }


def test_claims_a_run_does_not_report_are_released(ledger, clock):
    ledger.record(FLOW, [failed("601"), failed("602")], run_id="run-1")
    clock.advance(61)
    assert len(ledger.claim_due(FLOW, run_id="run-2")) == 2
    ledger.record(FLOW, [RecordOutcome.created("Invoice", "601")], run_id="run-2")  # 602 not reported
    assert [e.source_id for e in ledger.claim_due(FLOW, run_id="run-3")] == ["602"]


def test_dismissed_entries_are_not_retried_automatically(ledger, clock):
    ledger.record(FLOW, [failed("701"), failed("702")], run_id="run-1")
    assert ledger.dismiss(FLOW, source_ids=["701"]) == 1
    clock.advance(61)
    assert [e.source_id for e in ledger.claim_due(FLOW, run_id="run-2")] == ["702"]
    assert ledger.entries(FLOW, statuses=[DeadLetterStatus.DISMISSED])[0].source_id == "701"


def test_flows_do_not_see_each_others_dead_letters(ledger, clock):
    ledger.record(FLOW, [failed("801")], run_id="run-1")
    ledger.record("refund_sync", [failed("801")], run_id="run-1")
    clock.advance(61)
    assert [e.flow for e in ledger.claim_due("refund_sync", run_id="run-2")] == ["refund_sync"]
    assert len(ledger.entries()) == 2


def test_schema_creation_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path}/ledger.db"
    for _ in range(3):
        assert migrate(create_ledger_engine(url)) == len(MIGRATIONS)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        assert db.execute("select count(*) from sfns_ledger_schema").fetchone() == (len(MIGRATIONS),)
        assert db.execute("pragma journal_mode").fetchone() == ("wal",)


def _report_many(url: str, worker: int, rounds: int) -> None:
    """One writer process: opens (and so migrates) the ledger, then reports shared and own records."""
    ledger = open_ledger(url, max_attempts=10_000)
    for round_ in range(rounds):
        outcomes = [failed(f"shared-{n}") for n in range(5)] + [failed(f"w{worker}-{round_}")]
        ledger.record(FLOW, outcomes, run_id=f"w{worker}-{round_}")


def test_concurrent_writers_neither_lose_nor_duplicate_rows(tmp_path):
    url, workers, rounds = f"sqlite:///{tmp_path}/ledger.db", 2, 25
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in [pool.submit(_report_many, url, worker, rounds) for worker in range(workers)]:
            done.result()
    entries = open_ledger(url).entries()
    assert len(entries) == 5 + workers * rounds
    shared = [entry for entry in entries if entry.source_id.startswith("shared-")]
    assert {entry.attempts for entry in shared} == {workers * rounds}  # every report counted exactly once


def test_concurrent_claims_never_hand_out_an_entry_twice(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/ledger.db"
    open_ledger(url, clock=clock).record(FLOW, [failed(str(n)) for n in range(100)], run_id="run-0")
    clock.advance(61)

    def claim(run_id: str) -> set[str]:
        ledger = DeadLetterLedger(create_ledger_engine(url), clock=clock)  # own engine: own connections
        return {entry.source_id for entry in ledger.claim_due(FLOW, run_id=run_id, limit=60)}

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(claim, ["run-a", "run-b"])
    assert first.isdisjoint(second)
    assert len(first | second) == 100


def test_only_sqlite_and_postgresql_are_supported():
    with pytest.raises(LedgerError, match="SQLite and PostgreSQL"):
        DeadLetterLedger(sa.create_mock_engine("mysql://", executor=None))
