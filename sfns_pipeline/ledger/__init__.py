"""The dead-letter ledger: failed records kept durably until they succeed (see :mod:`.store`).

Flows do not use it directly: :func:`sfns_pipeline.flows.reporting.report_outcomes` writes it and
:func:`sfns_pipeline.flows.reporting.claim_dead_letters` hands out the entries due for a retry; they
receive it as ``LedgerResource`` (:mod:`.resource`, kept out of this import so the ``sfns`` CLI starts
without loading Dagster).
"""

from sfns_pipeline.ledger.store import (
    DeadLetter,
    DeadLetterLedger,
    DeadLetterStatus,
    LedgerError,
    LedgerUpdate,
    open_ledger,
)

__all__ = [
    "DeadLetter",
    "DeadLetterLedger",
    "DeadLetterStatus",
    "LedgerError",
    "LedgerUpdate",
    "open_ledger",
]
