"""What happened to each record in a run: the one vocabulary every flow returns.

A flow turns a batch of source records into one :class:`RecordOutcome` per record — created,
updated, unchanged, skipped or failed — and hands the list to
:func:`sfns_pipeline.flows.reporting.report_outcomes`, which turns it into Dagster metadata,
dead letters and the error email. One bad record is one ``failed`` outcome, never an exception
that fails the batch (DESIGN.md §3 principle 5). For example::

    from sfns_pipeline.outcomes import Flow, RecordOutcome, System

    INVOICE_SYNC = Flow("invoice_sync", source=System.NETSUITE)

    RecordOutcome.created("Invoice", source_id="1234", target_id="a0B5g00000XyZabEAF")
    RecordOutcome.failure("Invoice", source_id="1235", error_code="INVALID_CROSS_REFERENCE_KEY",
                          message="Account not found", retryable=True, payload={"id": "1235"})
    RecordOutcome.from_exception("Invoice", "1236", exc, payload={"id": "1236"})

``payload`` is what the flow's replay handler needs to try the record again (usually just the ids:
flows re-read current state from the source). It is redacted before it is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class System(StrEnum):
    """The two systems a record can live in."""

    SALESFORCE = "salesforce"
    NETSUITE = "netsuite"


@dataclass(frozen=True)
class Flow:
    """One sync flow as the ledger, the emails and the replay job know it.

    ``name`` is the flow's settings section (``invoice_sync`` → ``SFNS_INVOICE_SYNC_RECIPIENTS``)
    and its key in the dead-letter ledger; ``source`` says which system its records come from, so a
    report can tell the Salesforce id from the NetSuite id.
    """

    name: str
    source: System

    @property
    def title(self) -> str:
        """Human name for subjects and tables: ``invoice_sync`` → ``invoice sync``."""
        return self.name.replace("_", " ")

    @property
    def target(self) -> System:
        """The system the flow writes to."""
        return System.NETSUITE if self.source is System.SALESFORCE else System.SALESFORCE


class Outcome(StrEnum):
    """What happened to one record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # already in the target as it should be (idempotent re-run)
    SKIPPED = "skipped"  # deliberately not synced (filtered out, nothing to do)
    FAILED = "failed"


@dataclass(frozen=True)
class RecordOutcome:
    """The outcome of one record: which record, where it went, and — if it failed — why.

    Any outcome other than ``failed`` means the record needs no retry, so it resolves the record's
    dead letter if there is one.
    """

    record_type: str  # domain name: "Account", "Invoice", "Payment", ...
    source_id: str  # id in the source system: the record's identity in the ledger
    outcome: Outcome
    target_id: str | None = None
    error_code: str | None = None  # what the remote system (or our validation) said, e.g. "UNABLE_TO_LOCK_ROW"
    message: str | None = None
    retryable: bool = False  # can trying again help without anyone fixing data?
    payload: Mapping[str, Any] | None = None  # what the replay handler needs; failures only

    @property
    def key(self) -> str:
        """The record's key within its flow (unique in the ledger together with the flow name)."""
        return f"{self.record_type}:{self.source_id}"

    @property
    def failed(self) -> bool:
        """Whether the record needs a retry, and so a dead letter."""
        return self.outcome is Outcome.FAILED

    @classmethod
    def created(cls, record_type: str, source_id: str, target_id: str | None = None) -> RecordOutcome:
        """The record was new to the target and was created there."""
        return cls(record_type, source_id, Outcome.CREATED, target_id=target_id)

    @classmethod
    def updated(cls, record_type: str, source_id: str, target_id: str | None = None) -> RecordOutcome:
        """The record existed in the target and was changed."""
        return cls(record_type, source_id, Outcome.UPDATED, target_id=target_id)

    @classmethod
    def unchanged(cls, record_type: str, source_id: str, target_id: str | None = None) -> RecordOutcome:
        """The target already held the record as it should be: nothing was written."""
        return cls(record_type, source_id, Outcome.UNCHANGED, target_id=target_id)

    @classmethod
    def skipped(cls, record_type: str, source_id: str, message: str | None = None) -> RecordOutcome:
        """The record was deliberately not synced; ``message`` says why."""
        return cls(record_type, source_id, Outcome.SKIPPED, message=message)

    @classmethod
    def failure(
        cls,
        record_type: str,
        source_id: str,
        *,
        error_code: str,
        message: str,
        retryable: bool,
        payload: Mapping[str, Any] | None = None,
        target_id: str | None = None,
    ) -> RecordOutcome:
        """A record that did not make it; ``payload`` is kept in the ledger for the retry."""
        return cls(
            record_type,
            source_id,
            Outcome.FAILED,
            target_id=target_id,
            error_code=error_code,
            message=message,
            retryable=retryable,
            payload=payload,
        )

    @classmethod
    def from_exception(
        cls,
        record_type: str,
        source_id: str,
        error: BaseException,
        *,
        payload: Mapping[str, Any] | None = None,
        target_id: str | None = None,
    ) -> RecordOutcome:
        """A failure from an exception; uses its ``error_code`` / ``retryable`` attributes when it has them.

        The client error classes know their wire shape and whether a retry can help; anything else
        (a bug, an unexpected response) is reported under its class name and retried.
        """
        return cls.failure(
            record_type,
            source_id,
            error_code=str(getattr(error, "error_code", None) or type(error).__name__),
            message=str(error) or type(error).__name__,
            retryable=bool(getattr(error, "retryable", True)),
            payload=payload,
            target_id=target_id,
        )


def count_outcomes(outcomes: Iterable[RecordOutcome]) -> dict[Outcome, int]:
    """Number of records per outcome, every outcome present (zeros included), in a stable order."""
    counts = Counter(outcome.outcome for outcome in outcomes)
    return {outcome: counts.get(outcome, 0) for outcome in Outcome}
