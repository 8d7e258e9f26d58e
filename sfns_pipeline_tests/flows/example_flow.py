"""A small example flow for the reporting, ledger and replay tests (no real flow exists yet).

``example_sync`` copies "accounts" from an in-memory source into an in-memory target that can be told
to refuse records — the shape of every real flow: claim due dead letters, sync, report outcomes.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from sfns_pipeline.flows.reporting import claim_dead_letters, report_outcomes
from sfns_pipeline.ledger import DeadLetter
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.outcomes import Flow, RecordOutcome, System
from sfns_pipeline.sandbox.runner import Sandbox

EXAMPLE_SYNC = Flow("example_sync", source=System.SALESFORCE)


class ExampleSystems:
    """The source's next batch (``incoming``) and a target that refuses the ids in ``refuse``."""

    def __init__(self) -> None:
        self.incoming: list[dict[str, Any]] = []
        self.refuse: dict[str, str] = {}  # source id -> error message the target answers with
        self.target: dict[str, dict[str, Any]] = {}

    def upsert(self, record: dict[str, Any]) -> RecordOutcome:
        source_id = record["id"]
        if source_id in self.refuse:
            return RecordOutcome.failure(
                "Account",
                source_id,
                error_code="FIELD_INTEGRITY_EXCEPTION",
                message=self.refuse[source_id],
                retryable=True,
                payload=record,
            )
        existed = source_id in self.target
        self.target[source_id] = record
        made = RecordOutcome.updated if existed else RecordOutcome.created
        return made("Account", source_id, target_id=f"ns-{source_id}")


def replay_example(context: dg.OpExecutionContext, entries: list[DeadLetter]) -> list[RecordOutcome]:
    """The example flow's replay handler: retry each dead letter from its stored payload."""
    systems: ExampleSystems = context.resources.example
    return [systems.upsert(entry.payload) for entry in entries]


@dg.asset
def example_accounts(
    context: dg.AssetExecutionContext,
    example: dg.ResourceParam[ExampleSystems],
    ledger: LedgerResource,
    mailer: MailerResource,
) -> dg.MaterializeResult:
    """The new batch plus the dead letters due for a retry, upserted one by one."""
    retry = claim_dead_letters(context, flow=EXAMPLE_SYNC, ledger=ledger)
    records = [*example.incoming, *(entry.payload for entry in retry)]
    outcomes = [example.upsert(record) for record in records]
    return dg.MaterializeResult(
        metadata=report_outcomes(context, flow=EXAMPLE_SYNC, outcomes=outcomes, ledger=ledger, mailer=mailer)
    )


def sync(
    systems: ExampleSystems, ledger: LedgerResource, mailer: MailerResource, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    """One run of the example flow."""
    return dg.materialize(
        [example_accounts],
        resources={"example": systems, "ledger": ledger, "mailer": mailer},
        instance=instance or dg.DagsterInstance.ephemeral(),
    )


def accounts(*ids: str) -> list[dict[str, Any]]:
    return [{"id": source_id, "name": f"Account {source_id}"} for source_id in ids]


@contextmanager
def mail_sink(directory: Path) -> Iterator[Sandbox]:
    """Just the sandbox's SMTP sink, on a free port."""
    with Sandbox(directory, ports={"smtp": 0}, components=["sfns_pipeline.sandbox.mail:SmtpSink"]) as sandbox:
        yield sandbox


def mailer_for(sandbox: Sandbox, **overrides: Any) -> MailerResource:
    """A mailer that delivers to the sink over plain SMTP on localhost."""
    smtp = sandbox.endpoints["smtp"]
    settings = {
        "smtp_host": smtp["host"],
        "smtp_port": smtp["port"],
        "sender": "sfns@example.com",
        "recipients": ["ops@example.com"],
        "dagster_base_url": "https://dagster.example.com",
    }
    return MailerResource(**settings | overrides)
