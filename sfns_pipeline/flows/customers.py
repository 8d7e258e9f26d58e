"""Flow 1, customer sync: ``AccountsEvent__e`` → NetSuite customer within seconds, NetSuite id written back.

The story of a run (``customer_sync`` job, launched by ``customer_sync_event_sensor``):

1. **load** — the events only say *which* Accounts changed; their current state is re-read in one
   SOQL query, so duplicate, replayed and out-of-order events are harmless (the latest state wins).
   A parent that was never synced is loaded too, so it can be created first.
2. **transform** — pure mapping (:mod:`sfns_pipeline.mapping.customers`); an unmappable Account
   (e.g. payment terms without a NetSuite term) becomes one failed record.
3. **post** — parents before children; ``PATCH customer/<id>`` when the Account carries a NetSuite id,
   else ``PUT customer/eid:<Account id>`` (an upsert: a retried create never duplicates). An Account
   whose mapped content equals what was last synced is reported ``unchanged`` and not written, which
   also ends update loops. Runs in the ``netsuite`` concurrency pool.
4. **writeback** — one Collections call (≤200 per chunk): NetSuite id, sync status, last-synced time,
   error text set or cleared; then outcomes go to run metadata, the dead-letter ledger and one email.

Systemic failures (NetSuite/Salesforce unavailable after the clients' own retries) fail the step and
Dagster retries it with backoff; auth and configuration errors fail the run at once. Every step is
idempotent, so a retried or re-executed run writes nothing twice.
"""

# No ``from __future__ import annotations``: Dagster reads the ops' config and resource annotations as classes.
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import BaseModel

from sfns_pipeline.flows.dead_letters import register_replay
from sfns_pipeline.flows.failures import TRANSIENT_RETRY_POLICY, systemic_errors
from sfns_pipeline.flows.platform_events import EventBatch, platform_event_sensor
from sfns_pipeline.flows.reporting import claim_dead_letters, flow_tags, report_outcomes
from sfns_pipeline.ledger import DeadLetter
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.mapping.customers import (
    AccountFieldNames,
    CustomerMappingError,
    CustomerMappingRules,
    NetSuiteCustomer,
    SalesforceAccount,
    map_account,
    parents_first,
)
from sfns_pipeline.netsuite.resource import NetSuiteRestResource
from sfns_pipeline.netsuite.rest import NetSuiteRecordError, NetSuiteRestClient
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.outcomes import Flow, Outcome, RecordOutcome, System
from sfns_pipeline.salesforce.client import SalesforceClient
from sfns_pipeline.salesforce.resource import SalesforceResource
from sfns_pipeline.salesforce.soql import api_name, is_salesforce_id, select_by_ids
from sfns_pipeline.settings import CustomerSyncSettings, FieldNames, Settings
from sfns_pipeline.sync_state import SyncedRecord, SyncStateResource, SyncStateStore

CUSTOMER_SYNC = Flow("customer_sync", source=System.SALESFORCE)
ACCOUNT = "Account"
MAX_PARENT_DEPTH = 10  # hierarchy levels pulled in to create never-synced parents first
IDS_PER_QUERY = 300  # 18-character ids: keeps one SOQL statement far below its 100,000-character limit
SYNC_ERROR_MAX = 32_000  # NetSuite_Sync_Error__c is a long text area

# Steps hand the batch on in memory (the job runs in one process): customer data never lands on disk.
IN_MEMORY_IO = "in_memory_io_manager"  # resource key of dg.mem_io_manager (resources.py)
BATCH_OUT = dg.Out(io_manager_key=IN_MEMORY_IO)
# Run retries (dagster.yaml) re-execute "from failure" by default, reusing the outputs of the steps that
# succeeded; this job's outputs live in memory and die with the run, so its retries re-run every step.
RETRY_STRATEGY_TAG = "dagster/retry_strategy"  # read by Dagster's run-retry daemon (ReexecutionStrategy)
# Transient outages are retried by the step after the clients' own retries gave up (dagster-facts §4).


def _default(settings_class: type[BaseModel], name: str) -> Any:
    """A setting's default: the resource's defaults cannot drift from the settings' own."""
    return settings_class.model_fields[name].default


class CustomerSyncResource(dg.ConfigurableResource):
    """Flow 1's mapping tables and field names (``SFNS_CUSTOMER_SYNC_*``, ``SFNS_FIELD_*``)."""

    subsidiary_id: str = _default(CustomerSyncSettings, "subsidiary_id")
    payment_terms: dict[str, str] = {}
    shipping_carriers: dict[str, str] = {}
    countries: dict[str, str] = {}
    duns_field: str = _default(CustomerSyncSettings, "duns_field")
    field_names: dict[str, str] = {}  # SFNS_FIELD_* values (validated at start-up); missing ones take the defaults

    @classmethod
    def from_settings(cls, settings: Settings) -> "CustomerSyncResource":
        """The flow's configuration as the settings describe it."""
        sync = settings.customer_sync
        return cls(
            subsidiary_id=sync.subsidiary_id,
            payment_terms=sync.payment_terms,
            shipping_carriers=sync.shipping_carriers,
            countries=sync.countries,
            duns_field=sync.duns_field,
            field_names=settings.fields.model_dump(),
        )

    @property
    def fields(self) -> FieldNames:
        """The field names, without re-reading the environment (they were validated with the settings)."""
        return FieldNames.model_construct(**self.field_names)

    def rules(self) -> CustomerMappingRules:
        """The mapping's lookup tables."""
        return CustomerMappingRules(
            subsidiary_id=self.subsidiary_id,
            payment_terms=self.payment_terms,
            shipping_carriers=self.shipping_carriers,
            countries=self.countries,
            duns_field=api_name(self.duns_field),
            sf_account_id_field=api_name(self.fields.ns_customer_sf_id),
        )

    def names(self) -> AccountFieldNames:
        """The Account fields read and written back."""
        return AccountFieldNames.from_settings(self.fields)


# -- the steps, free of Dagster so the dead-letter replay runs exactly the same code --------------------


@dataclass(frozen=True)
class CustomerBatch:
    """The Accounts of one run and what has happened to each so far (passed from step to step)."""

    accounts: tuple[SalesforceAccount, ...] = ()  # parents first
    customers: dict[str, NetSuiteCustomer] = field(default_factory=dict)  # account id -> mapped customer
    outcomes: dict[str, RecordOutcome] = field(default_factory=dict)  # account id -> outcome so far

    def pending(self) -> Iterator[SalesforceAccount]:
        """Accounts without an outcome yet."""
        return (account for account in self.accounts if account.id not in self.outcomes)


def load_accounts(
    salesforce: SalesforceClient,
    names: AccountFieldNames,
    account_ids: Iterable[str],
    *,
    modified_since: datetime | None = None,
) -> CustomerBatch:
    """The current state of the Accounts (plus those modified since ``modified_since``) and of every
    never-synced parent they need, parents first."""
    outcomes: dict[str, RecordOutcome] = {}
    wanted: list[str] = []
    for raw in dict.fromkeys(account_ids):
        if is_salesforce_id(raw):
            wanted.append(raw)
        else:
            shown = str(raw)[:40]
            outcomes[shown] = RecordOutcome.failure(
                ACCOUNT, shown, error_code="INVALID_EVENT", message="not a Salesforce Account id", retryable=False
            )
    loaded = {account.id: account for account in _accounts_by_id(salesforce, names, wanted)}
    if modified_since is not None:
        loaded |= {account.id: account for account in _accounts_modified_since(salesforce, names, modified_since)}
    for missing in (i for i in wanted if i not in loaded):
        outcomes[missing] = RecordOutcome.skipped(ACCOUNT, missing, "the Account no longer exists")
    for _ in range(MAX_PARENT_DEPTH):
        parents = {a.parent_id for a in loaded.values() if a.parent_id and not a.parent_netsuite_id} - loaded.keys()
        if not parents:
            break
        loaded |= {account.id: account for account in _accounts_by_id(salesforce, names, sorted(parents))}
    return CustomerBatch(accounts=tuple(parents_first(loaded.values())), outcomes=outcomes)


def _accounts_by_id(
    salesforce: SalesforceClient, names: AccountFieldNames, ids: Sequence[str]
) -> list[SalesforceAccount]:
    fields = names.soql_fields()
    rows = [
        row
        for start in range(0, len(ids), IDS_PER_QUERY)
        for row in salesforce.query(select_by_ids(ACCOUNT, fields, ids[start : start + IDS_PER_QUERY]))
    ]
    return [SalesforceAccount.from_record(row, names) for row in rows]


def _accounts_modified_since(
    salesforce: SalesforceClient, names: AccountFieldNames, since: datetime
) -> list[SalesforceAccount]:
    columns = ", ".join(api_name(name) for name in names.soql_fields())
    moment = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # a SOQL datetime literal, unquoted
    soql = f"SELECT {columns} FROM {ACCOUNT} WHERE LastModifiedDate >= {moment}"  # noqa: S608 - all validated
    return [SalesforceAccount.from_record(row, names) for row in salesforce.query(soql)]


def transform_batch(batch: CustomerBatch, rules: CustomerMappingRules, names: AccountFieldNames) -> CustomerBatch:
    """Map every loaded Account; one that cannot be mapped is a failed record, the rest go on."""
    customers, outcomes = {}, dict(batch.outcomes)
    for account in batch.pending():
        try:
            customers[account.id] = map_account(account, rules, names)
        except CustomerMappingError as exc:
            outcomes[account.id] = _failure(account, exc, exc.error_code, retryable=False)
    return replace(batch, customers=customers, outcomes=outcomes)


def post_customers(netsuite: NetSuiteRestClient, state: SyncStateStore, batch: CustomerBatch) -> CustomerBatch:
    """Write each changed customer to NetSuite, parents before children.

    Raises ``NetSuiteUnavailable`` (systemic: the step is retried) or ``NetSuiteAuthError``.
    """
    synced = state.get(CUSTOMER_SYNC.name, batch.customers)
    netsuite_ids: dict[str, str] = {}
    outcomes = dict(batch.outcomes)
    for account in batch.pending():
        customer = batch.customers[account.id]
        previous = synced.get(account.id)
        if (
            previous is not None
            and account.netsuite_id
            and previous.target_id == account.netsuite_id
            and previous.fingerprint == customer.fingerprint()
        ):
            netsuite_ids[account.id] = account.netsuite_id
            outcomes[account.id] = RecordOutcome.unchanged(ACCOUNT, account.id, account.netsuite_id)
            continue
        parent_netsuite_id = account.parent_netsuite_id or netsuite_ids.get(account.parent_id or "")
        if account.parent_id and not parent_netsuite_id:
            reason = outcomes.get(account.parent_id)
            why = f"it failed: {reason.error_code}" if reason and reason.failed else "it could not be loaded"
            message = f"parent Account {account.parent_id} is not in NetSuite yet ({why})"
            outcomes[account.id] = _failure(account, message, "PARENT_NOT_SYNCED", retryable=True)
            continue
        try:
            netsuite_id = _write_customer(netsuite, account, customer.rest_body(parent_netsuite_id))
        except NetSuiteRecordError as exc:
            outcomes[account.id] = _failure(account, exc, exc.code, retryable=False)
            continue
        netsuite_ids[account.id] = netsuite_id
        made = RecordOutcome.updated if account.netsuite_id else RecordOutcome.created
        outcomes[account.id] = made(ACCOUNT, account.id, netsuite_id)
    return replace(batch, outcomes=outcomes)


def _write_customer(netsuite: NetSuiteRestClient, account: SalesforceAccount, body: dict[str, Any]) -> str:
    # One call per record: the REST record API has no bulk write (netsuite-facts §3.2).
    # replace=addressBook makes the sublist exactly what is sent instead of adding lines to it.
    if account.netsuite_id:
        netsuite.update("customer", account.netsuite_id, body, replace=("addressBook",))
        return account.netsuite_id
    return netsuite.upsert("customer", account.id, body, replace=("addressBook",))


def write_back(
    salesforce: SalesforceClient, state: SyncStateStore, names: AccountFieldNames, batch: CustomerBatch
) -> list[RecordOutcome]:
    """Tell each Account how its sync went (one Collections update), remember what was synced, and
    return every record's final outcome.

    Raises ``SalesforceUnavailable`` (systemic: the step is retried).
    """
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    loaded = {account.id for account in batch.accounts}
    updates: list[dict[str, Any]] = []
    for account_id, outcome in batch.outcomes.items():
        if account_id not in loaded or outcome.outcome in (Outcome.UNCHANGED, Outcome.SKIPPED):
            continue  # unchanged: nothing to say, and no write that could echo back as an event
        if outcome.failed:
            error = f"{outcome.error_code}: {outcome.message}"[:SYNC_ERROR_MAX]
            updates.append({"Id": account_id, names.sync_status: "Error", names.sync_error: error})
        else:
            updates.append(
                {
                    "Id": account_id,
                    names.netsuite_id: outcome.target_id,
                    names.sync_status: "Synced",
                    names.sync_error: None,
                    names.last_synced: stamp,
                }
            )
    results = salesforce.update(ACCOUNT, updates) if updates else []
    outcomes = dict(batch.outcomes)
    remembered, forgotten = [], []
    for update, result in zip(updates, results, strict=True):
        account_id = update["Id"]
        outcome = outcomes[account_id]
        if outcome.failed:
            forgotten.append(account_id)  # a failed record must be synced again by its next event
        elif result.success:
            fingerprint = batch.customers[account_id].fingerprint()
            remembered.append(SyncedRecord(account_id, fingerprint, outcome.target_id, now))
        else:
            forgotten.append(account_id)
            error = result.errors[0] if result.errors else None
            outcomes[account_id] = RecordOutcome.failure(
                ACCOUNT,
                account_id,
                error_code=error.code if error else "WRITEBACK_FAILED",
                message=f"NetSuite customer {outcome.target_id} was written, but the Account could not be "
                f"updated: {error.message if error else 'no detail'}",
                retryable=result.transient,
                payload={"account_id": account_id},
                target_id=outcome.target_id,
            )
    state.record(CUSTOMER_SYNC.name, remembered)
    state.forget(CUSTOMER_SYNC.name, forgotten)
    return list(outcomes.values())


def sync_accounts(
    salesforce: SalesforceClient,
    netsuite: NetSuiteRestClient,
    state: SyncStateStore,
    config: CustomerSyncResource,
    account_ids: Iterable[str],
) -> list[RecordOutcome]:
    """The whole flow for the given Account ids in one call (the dead-letter replay uses it)."""
    names = config.names()
    batch = transform_batch(load_accounts(salesforce, names, account_ids), config.rules(), names)
    return write_back(salesforce, state, names, post_customers(netsuite, state, batch))


def _failure(account: SalesforceAccount, error: Exception | str, code: str, *, retryable: bool) -> RecordOutcome:
    return RecordOutcome.failure(
        ACCOUNT,
        account.id,
        error_code=code,
        message=str(error),
        retryable=retryable,
        payload={"account_id": account.id},
        target_id=account.netsuite_id,
    )


# -- Dagster: ops, job, sensor, replay ------------------------------------------------------------------


@dg.op(retry_policy=TRANSIENT_RETRY_POLICY, tags=flow_tags(CUSTOMER_SYNC), out=BATCH_OUT)
def load(
    context: dg.OpExecutionContext,
    config: EventBatch,
    salesforce: SalesforceResource,
    customer_sync: CustomerSyncResource,
    ledger: LedgerResource,
) -> CustomerBatch:
    """Re-read the Accounts named by the events (and dead letters due for a retry) in one SOQL query."""
    retry = claim_dead_letters(context, flow=CUSTOMER_SYNC, ledger=ledger)
    ids = [
        *(str(event.get(customer_sync.fields.event_account_id)) for event in config.events),
        *(entry.source_id for entry in retry),
    ]
    since = datetime.fromisoformat(config.catch_up_since) if config.catch_up_since else None
    with systemic_errors():
        batch = load_accounts(salesforce.get_client(), customer_sync.names(), ids, modified_since=since)
    context.log.info(f"{len(config.events)} event(s) -> {len(batch.accounts)} Account(s) to sync")
    return batch


@dg.op(tags=flow_tags(CUSTOMER_SYNC), out=BATCH_OUT)
def transform(
    context: dg.OpExecutionContext, batch: CustomerBatch, customer_sync: CustomerSyncResource
) -> CustomerBatch:
    """Account → NetSuite customer (pure mapping); unmappable Accounts become failed records."""
    mapped = transform_batch(batch, customer_sync.rules(), customer_sync.names())
    context.log.info(f"mapped {len(mapped.customers)} of {len(batch.accounts)} Account(s)")
    return mapped


@dg.op(retry_policy=TRANSIENT_RETRY_POLICY, pool="netsuite", tags=flow_tags(CUSTOMER_SYNC), out=BATCH_OUT)
def post(batch: CustomerBatch, netsuite: NetSuiteRestResource, sync_state: SyncStateResource) -> CustomerBatch:
    """Create or update the NetSuite customers, parents first; unchanged ones are not written."""
    with systemic_errors():
        return post_customers(netsuite.get_client(), sync_state.store(), batch)


@dg.op(retry_policy=TRANSIENT_RETRY_POLICY, tags=flow_tags(CUSTOMER_SYNC))
def writeback(
    context: dg.OpExecutionContext,
    batch: CustomerBatch,
    salesforce: SalesforceResource,
    netsuite: NetSuiteRestResource,
    sync_state: SyncStateResource,
    customer_sync: CustomerSyncResource,
    ledger: LedgerResource,
    mailer: MailerResource,
) -> None:
    """Write NetSuite id and sync status back to the Accounts; report outcomes (metadata, ledger, one email)."""
    client = salesforce.get_client()
    with systemic_errors():
        outcomes = write_back(client, sync_state.store(), customer_sync.names(), batch)
    metadata = report_outcomes(context, flow=CUSTOMER_SYNC, outcomes=outcomes, ledger=ledger, mailer=mailer)
    usage = client.usage
    context.add_output_metadata(
        {
            **metadata,
            "salesforce_api_calls": dg.MetadataValue.int(usage.calls),
            "salesforce_daily_api_usage": dg.MetadataValue.text(f"{usage.used}/{usage.limit}" if usage.limit else "-"),
            "netsuite_api_calls": dg.MetadataValue.int(netsuite.get_client().calls),
        }
    )


@dg.job(
    name="customer_sync",
    description="AccountsEvent__e → NetSuite customer, NetSuite id written back to the Account.",
    tags={**flow_tags(CUSTOMER_SYNC), RETRY_STRATEGY_TAG: "ALL_STEPS"},
    # In-process: a run is a few seconds of API calls, and a subprocess per step would add ~2 s each
    # (dagster-facts §6) to a flow that promises "seconds". It also lets batches pass between steps in
    # memory (IN_MEMORY_IO) instead of being pickled to disk: Account data is customer data. The price:
    # a failed run is re-executed in full ("from failure" has no stored batch), which every step allows.
    executor_def=dg.in_process_executor,
)
def customer_sync_job() -> None:
    """Load the events' Accounts, map them, post the customers to NetSuite, write their ids back."""
    writeback(post(transform(load())))


def customer_sync_sensor(settings: Settings) -> dg.SensorDefinition:
    """The sensor turning ``AccountsEvent__e`` into ``customer_sync`` runs (batch size etc. from settings)."""
    return platform_event_sensor(
        flow=CUSTOMER_SYNC, job=customer_sync_job, config_op="load", settings=settings.customer_sync
    )


@register_replay(CUSTOMER_SYNC, resource_keys=("salesforce", "netsuite", "sync_state", "customer_sync"))
def replay_customers(context: dg.OpExecutionContext, entries: list[DeadLetter]) -> list[RecordOutcome]:
    """Retry failed Accounts: the same load → transform → post → writeback as a run, for their ids."""
    resources = context.resources
    with systemic_errors():
        return sync_accounts(
            resources.salesforce.get_client(),
            resources.netsuite.get_client(),
            resources.sync_state.store(),
            resources.customer_sync,
            [entry.source_id for entry in entries],
        )
