"""The dead-letter ledger as a Dagster resource."""

from __future__ import annotations

import dagster as dg

from sfns_pipeline.ledger.store import DeadLetterLedger, open_ledger
from sfns_pipeline.settings import Settings


class LedgerResource(dg.ConfigurableResource):
    """Where dead letters live and how often they are retried (``SFNS_LEDGER_*``)."""

    url: str
    max_attempts: int = 5
    retry_backoff_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerResource:
        """The ledger the settings describe; a URL set in the environment (it may hold a database password)
        is passed as ``dg.EnvVar`` so it never shows in the UI."""
        url = dg.EnvVar("SFNS_LEDGER_URL") if settings.ledger.url else settings.ledger_url
        return cls(
            url=url,
            max_attempts=settings.ledger.max_attempts,
            retry_backoff_seconds=settings.ledger.retry_backoff_seconds,
        )

    def ledger(self) -> DeadLetterLedger:
        """The ledger (schema migrated on first use in this process)."""
        return open_ledger(self.url, max_attempts=self.max_attempts, retry_backoff_seconds=self.retry_backoff_seconds)
