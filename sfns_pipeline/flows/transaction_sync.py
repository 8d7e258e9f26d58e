"""The NetSuite → Salesforce transaction sync shared by the invoice flow (3a) and the refund flow (3b).

Each flow is a pair of assets over 15-minute UTC windows — ``netsuite_<x>`` (the NetSuite records, an
external asset shown for lineage) and ``salesforce_<x>`` (their copies in Salesforce, materialized
here) — plus a reconciliation check and a watermark sensor. :class:`TransactionSync` says what differs
between the flows; :func:`build_transaction_sync` makes the Dagster objects.

A window's run, in order:

1. claim the flow's dead letters that are due for another attempt (earlier per-record failures);
2. read NetSuite, one SuiteQL page at a time: records modified in the window widened by the overlap
   (late commits, clock skew), then the dead letters not already read;
3. map each page, and per 200 records read what Salesforce holds for them (one SOQL) and upsert only what
   differs — Collections keyed by ``NetSuite_Id__c``, parents by external id, ≤ 200 per call. An
   unchanged record costs no write; a re-run of a window writes nothing and creates no duplicate;
4. report: ledger, one error email, and metadata (counts, pages, API calls, window, max
   ``lastmodifieddate`` seen, a preview).

A single-run backfill covers a range of windows with one keyset read over the whole range.
"""

# No ``from __future__ import annotations``: Dagster reads the context and resource annotations as classes.

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from simple_salesforce import format_soql

from sfns_pipeline.flows.failures import TRANSIENT_RETRY_POLICY, systemic_errors
from sfns_pipeline.flows.reporting import claim_dead_letters, flow_tags, report_outcomes
from sfns_pipeline.flows.watermark import watermark_sensor, window_partitions
from sfns_pipeline.ledger import DeadLetter
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.mapping.invoices import (
    NetSuiteTransaction,
    account_time_bounds,
    differs,
    parse_transaction,
    salesforce_fields,
)
from sfns_pipeline.netsuite.resource import NetSuiteRestResource
from sfns_pipeline.netsuite.rest import NetSuiteRestClient
from sfns_pipeline.netsuite.transactions import transactions_by_id, transactions_modified
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.outcomes import Flow, RecordOutcome
from sfns_pipeline.salesforce.client import COLLECTION_LIMIT, SalesforceClient, WriteResult
from sfns_pipeline.salesforce.resource import SalesforceResource
from sfns_pipeline.salesforce.soql import api_name
from sfns_pipeline.settings import FieldNames, WatermarkFlowSettings

PREVIEW_ROWS = 20
ToSalesforce = Callable[[NetSuiteTransaction, FieldNames], dict[str, Any]]


@dataclass(frozen=True)
class TransactionSync:
    """One NetSuite → Salesforce transaction flow: what it reads, where it writes, when it runs."""

    flow: Flow  # its name is the settings section and the ledger key: invoice_sync, refund_sync
    noun: str  # plural, for asset names: invoices → netsuite_invoices, salesforce_invoices
    record_type: str  # the ledger's and the email's name for one record: Invoice, Refund
    types: tuple[str, ...]  # NetSuite transaction type codes
    sobject: str  # NetSuite_Invoice__c, NetSuite_Refund__c
    to_salesforce: ToSalesforce
    settings: WatermarkFlowSettings
    fields: FieldNames
    time_zone: str  # the NetSuite account's
    minute_offset: int = 0  # windows start this many minutes past the quarter
    retry_policy: dg.RetryPolicy = TRANSIENT_RETRY_POLICY  # for outages that outlast the clients' own retries

    @property
    def zone(self) -> ZoneInfo:
        """The NetSuite account's time zone: SuiteQL dates are local to it, not UTC."""
        return ZoneInfo(self.time_zone)


# -- one window's work: plain functions shared by the asset, the check and the replay handler ----------------
@dataclass
class SyncReport:
    """What one run did, beyond the per-record outcomes."""

    fetched: int = 0
    pages: int = 0
    max_last_modified: datetime | None = None
    preview: list[tuple[NetSuiteTransaction, RecordOutcome]] = field(default_factory=list)
    outcomes: list[RecordOutcome] = field(default_factory=list)

    def add(self, transactions: Sequence[NetSuiteTransaction], outcomes: Sequence[RecordOutcome]) -> None:
        """Count in one upserted batch: its outcomes, the newest modification seen, preview rows while there is room."""
        self.outcomes += outcomes
        for tx in transactions:
            if self.max_last_modified is None or tx.last_modified > self.max_last_modified:
                self.max_last_modified = tx.last_modified
        room = PREVIEW_ROWS - len(self.preview)
        by_id = {outcome.source_id: outcome for outcome in outcomes}
        self.preview += [(tx, by_id[tx.id]) for tx in transactions[:room] if tx.id in by_id]


class TransactionWriter:
    """Maps pages of SuiteQL rows and upserts them into Salesforce, one outcome per record.

    Pages from NetSuite (50 rows by default) are buffered up to a full Collections call (200), so a
    window of 120 records costs one SOQL and one upsert against Salesforce's daily API allowance.
    """

    def __init__(self, sync: TransactionSync, salesforce: SalesforceClient) -> None:
        self.sync = sync
        self.salesforce = salesforce
        self.key = sync.fields.record_netsuite_id
        self._pending: list[NetSuiteTransaction] = []

    def write(self, rows: Sequence[dict[str, Any]], report: SyncReport) -> set[str]:
        """Take one page (written once 200 records are pending, or on :meth:`flush`); returns its NetSuite ids."""
        report.pages += 1
        report.fetched += len(rows)
        unreadable: list[RecordOutcome] = []
        for row in rows:
            try:
                self._pending.append(parse_transaction(row, self.sync.zone))
            except (KeyError, ValueError, ArithmeticError) as exc:  # a row we cannot read is one failed record
                unreadable.append(
                    RecordOutcome.from_exception(
                        self.sync.record_type, str(row.get("id")), exc, payload={"netsuite_id": row.get("id")}
                    )
                )
        report.add([], unreadable)
        while len(self._pending) >= COLLECTION_LIMIT:
            self._write_batch(report)
        return {str(row.get("id")) for row in rows}

    def flush(self, report: SyncReport) -> None:
        """Write whatever is still pending."""
        while self._pending:
            self._write_batch(report)

    def _write_batch(self, report: SyncReport) -> None:
        batch, self._pending = self._pending[:COLLECTION_LIMIT], self._pending[COLLECTION_LIMIT:]
        report.add(batch, self._upsert_changed(batch))

    def _upsert_changed(self, transactions: Sequence[NetSuiteTransaction]) -> list[RecordOutcome]:
        desired = {tx.id: self.sync.to_salesforce(tx, self.sync.fields) for tx in transactions}
        current = self.current(desired)
        outcomes = [
            RecordOutcome.unchanged(self.sync.record_type, ns_id, current[ns_id].get("Id"))
            for ns_id, record in desired.items()
            if not differs(record, current.get(ns_id))
        ]
        changed = [record for ns_id, record in desired.items() if differs(record, current.get(ns_id))]
        if changed:
            results = self.salesforce.upsert(self.sync.sobject, changed, key=self.key)
            outcomes += [
                self._outcome(record[self.key], result) for record, result in zip(changed, results, strict=True)
            ]
        return outcomes

    def current(self, desired: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """What Salesforce holds for these NetSuite ids (one SOQL for up to 200), by NetSuite id."""
        if not desired:
            return {}
        # The union over all records: one may link its Order (Order__r.…) while another clears it (Order__c).
        columns = dict.fromkeys(["Id", *(c for record in desired.values() for c in salesforce_fields(record))])
        soql = format_soql(
            f"SELECT {', '.join(api_name(c) for c in columns)} "  # noqa: S608 - names validated
            f"FROM {api_name(self.sync.sobject)} WHERE {api_name(self.key)} IN {{ids}}",
            ids=list(desired),
        )
        return {record[self.key]: record for record in self.salesforce.query(soql)}

    def _outcome(self, netsuite_id: str, result: WriteResult) -> RecordOutcome:
        record_type = self.sync.record_type
        if result.success:
            if result.created:
                return RecordOutcome.created(record_type, netsuite_id, result.id)
            return RecordOutcome.updated(record_type, netsuite_id, result.id)
        first = result.errors[0] if result.errors else None
        return RecordOutcome.failure(
            record_type,
            netsuite_id,
            error_code=first.code if first else "UNKNOWN",
            message="; ".join(e.message for e in result.errors) or "no error reported",
            # A missing parent (Account / Order not synced yet) or a lock clears with time: retry later.
            retryable=True,
            payload={"netsuite_id": netsuite_id},
        )


def sync_records(
    sync: TransactionSync,
    netsuite: NetSuiteRestClient,
    salesforce: SalesforceClient,
    *,
    window: dg.TimeWindow | None,
    retry_ids: Sequence[str] = (),
) -> SyncReport:
    """Sync every record modified in ``window`` (widened by the overlap), then ``retry_ids`` not read yet."""
    writer = TransactionWriter(sync, salesforce)
    report = SyncReport()
    seen: set[str] = set()
    page_size = sync.settings.page_size
    if window is not None:
        since, until = account_time_bounds(
            window.start - timedelta(minutes=sync.settings.overlap_minutes), window.end, sync.zone
        )
        for rows in transactions_modified(netsuite, types=sync.types, since=since, until=until, page_size=page_size):
            seen |= writer.write(rows, report)
    pending = [i for i in dict.fromkeys(retry_ids) if i not in seen]
    for rows in transactions_by_id(netsuite, types=sync.types, ids=pending, page_size=page_size):
        seen |= writer.write(rows, report)
    writer.flush(report)
    # A dead letter whose record is gone from NetSuite (deleted, or no longer of a synced type) is done.
    report.outcomes += [
        RecordOutcome.skipped(sync.record_type, i, "no longer in NetSuite") for i in pending if i not in seen
    ]
    return report


# -- Dagster objects ---------------------------------------------------------------------------------
def _preview_table(report: SyncReport) -> str:
    if not report.preview:
        return "No records in this window."
    lines = [
        "| NetSuite id | number | customer | order | status | total | lines (amount) | last modified (UTC) | outcome |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tx, outcome in report.preview:
        cells = (tx.id, tx.tran_id, tx.customer_id, tx.order_id, tx.status, f"{tx.total:.2f}",
                 f"{tx.line_count} ({tx.line_total:.2f})", f"{tx.last_modified:%Y-%m-%d %H:%M:%S}",
                 str(outcome.outcome))  # fmt: skip
        lines.append("| " + " | ".join(str(c or "").replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _window_text(window: dg.TimeWindow, overlap_minutes: int) -> str:
    read_from = window.start - timedelta(minutes=overlap_minutes)
    return f"{window.start:%Y-%m-%d %H:%M} → {window.end:%Y-%m-%d %H:%M} UTC (read from {read_from:%H:%M})"


@dataclass(frozen=True)
class TransactionSyncDefinitions:
    """The Dagster objects of one transaction flow (register all of them in ``definitions.py``)."""

    partitions: dg.TimeWindowPartitionsDefinition
    source: dg.AssetSpec
    asset: dg.AssetsDefinition
    check: dg.AssetChecksDefinition
    job: Any  # what dg.define_asset_job returns (its class is not public)
    sensor: dg.SensorDefinition
    replay: Callable[[dg.OpExecutionContext, list[DeadLetter]], Iterable[RecordOutcome]]


def build_transaction_sync(sync: TransactionSync) -> TransactionSyncDefinitions:
    """Partitions, assets, reconciliation check, watermark sensor and replay handler of ``sync``."""
    partitions = window_partitions(sync.settings.windows_start, minute_offset=sync.minute_offset)
    name = sync.flow.name
    source = dg.AssetSpec(
        f"netsuite_{sync.noun}",
        description=f"NetSuite {', '.join(sync.types)} transactions, by last-modified window (read via SuiteQL).",
        partitions_def=partitions,
        group_name=name,
        kinds={"netsuite"},
    )

    @dg.asset(
        name=f"salesforce_{sync.noun}",
        deps=[source],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="netsuite",
        retry_policy=sync.retry_policy,
        op_tags=flow_tags(sync.flow),
        group_name=name,
        kinds={"salesforce"},
        description=f"{sync.sobject} records upserted from NetSuite by NetSuite id, one 15-minute window at a time.",
    )
    def sync_asset(
        context: dg.AssetExecutionContext,
        netsuite: NetSuiteRestResource,
        salesforce: SalesforceResource,
        ledger: LedgerResource,
        mailer: MailerResource,
    ) -> dg.MaterializeResult:
        """Records modified in the window (widened by the overlap for late commits), upserted into Salesforce.

        The upsert is keyed by NetSuite id, so the overlap, re-runs and backfills never duplicate. An outage
        that outlasts the clients' retries fails the step, which the retry policy repeats minutes later (a
        run that still fails is requested again by the sensor); auth and configuration errors fail at once.
        """
        window = context.partition_time_window  # a single-run backfill: the whole range
        ns, sf = netsuite.get_client(), salesforce.get_client()
        ns_before, sf_before = ns.calls, sf.usage.calls
        retry = claim_dead_letters(context, flow=sync.flow, ledger=ledger)
        with systemic_errors():
            report = sync_records(sync, ns, sf, window=window, retry_ids=[entry.source_id for entry in retry])
        metadata = report_outcomes(
            context, flow=sync.flow, outcomes=report.outcomes, ledger=ledger, mailer=mailer, window=window
        )
        max_seen = report.max_last_modified
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "fetched": dg.MetadataValue.int(report.fetched),
                "pages": dg.MetadataValue.int(report.pages),
                "dead_letters_retried": dg.MetadataValue.int(len(retry)),
                "netsuite_api_calls": dg.MetadataValue.int(ns.calls - ns_before),
                "salesforce_api_calls": dg.MetadataValue.int(sf.usage.calls - sf_before),
                "salesforce_daily_api_usage": dg.MetadataValue.text(
                    f"{sf.usage.used} / {sf.usage.limit}" if sf.usage.limit else "unknown"
                ),
                "window": dg.MetadataValue.text(_window_text(window, sync.settings.overlap_minutes)),
                "max_last_modified": dg.MetadataValue.text(max_seen.isoformat() if max_seen else "none"),
                "preview": dg.MetadataValue.md(_preview_table(report)),
            }
        )

    @dg.asset_check(
        asset=sync_asset,
        name=f"{sync.noun}_reconciled",
        partitions_def=partitions,
        pool="netsuite",
        description="NetSuite vs Salesforce for the window's records: count and total; WARN listing drifted ids.",
    )
    def reconcile(
        context: dg.AssetCheckExecutionContext, netsuite: NetSuiteRestResource, salesforce: SalesforceResource
    ) -> dg.AssetCheckResult:
        return reconcile_window(sync, netsuite.get_client(), salesforce.get_client(), context.partition_time_window)

    job = dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(sync_asset),  # with its reconciliation check
        tags=flow_tags(sync.flow),  # routes run-failure emails to the flow's recipients
        description=f"One or more 15-minute windows of {sync.sobject} from NetSuite.",
    )
    sensor = watermark_sensor(
        flow=name,
        target=job,
        partitions_def=partitions,
        settings=sync.settings,
        source_clock=lambda context: context.resources.netsuite.get_client().server_time(),
        required_resource_keys={"netsuite"},
    )

    def replay(context: dg.OpExecutionContext, entries: list[DeadLetter]) -> list[RecordOutcome]:
        """Operator retry of dead letters: re-read each record from NetSuite and upsert it."""
        ns, sf = context.resources.netsuite.get_client(), context.resources.salesforce.get_client()
        return sync_records(sync, ns, sf, window=None, retry_ids=[entry.source_id for entry in entries]).outcomes

    return TransactionSyncDefinitions(partitions, source, sync_asset, reconcile, job, sensor, replay)


def reconcile_window(
    sync: TransactionSync, netsuite: NetSuiteRestClient, salesforce: SalesforceClient, window: dg.TimeWindow
) -> dg.AssetCheckResult:
    """Count and total of the records NetSuite says were modified in ``window`` against Salesforce's copies."""
    since, until = account_time_bounds(window.start, window.end, sync.zone)
    expected: dict[str, dict[str, Any]] = {}
    unreadable: list[str] = []  # rows the sync cannot map either: drift by definition
    for rows in transactions_modified(
        netsuite, types=sync.types, since=since, until=until, page_size=sync.settings.page_size
    ):
        for row in rows:
            try:
                tx = parse_transaction(row, sync.zone)
            except (KeyError, ValueError, ArithmeticError):
                unreadable.append(str(row.get("id")))
                continue
            if window.start <= tx.last_modified < window.end:
                expected[tx.id] = sync.to_salesforce(tx, sync.fields)
    writer = TransactionWriter(sync, salesforce)
    ids = list(expected)
    actual: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), COLLECTION_LIMIT):
        actual |= writer.current({i: expected[i] for i in ids[start : start + COLLECTION_LIMIT]})
    drifted = sorted([*unreadable, *(i for i in ids if differs(expected[i], actual.get(i)))], key=int)
    total = sync.fields.record_total
    ns_total = sum(record[total] or 0 for record in expected.values())
    sf_total = sum(record.get(total) or 0 for record in actual.values())
    return dg.AssetCheckResult(
        passed=not drifted,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "netsuite_count": dg.MetadataValue.int(len(expected)),
            "salesforce_count": dg.MetadataValue.int(len(actual)),
            "netsuite_total": dg.MetadataValue.float(round(float(ns_total), 2)),
            "salesforce_total": dg.MetadataValue.float(round(float(sf_total), 2)),
            "drifted_ids": dg.MetadataValue.json(drifted),
        },
        description=f"{len(drifted)} record(s) differ between NetSuite and Salesforce" if drifted else None,
    )
