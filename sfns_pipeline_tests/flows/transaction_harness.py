"""Test harness for the invoice and refund flows: resources pointing at a running sandbox, plus NetSuite activity.

Records are made with the NetSuite sandbox's backend operations (sales order → fulfilment → invoice,
payments, credit memos, refunds), placed in time by moving the sandbox clock; their Salesforce parents
(Account, Order) are written through the pipeline's own Salesforce client. The pipeline under test
reaches both systems only over HTTPS with the sandbox's credentials.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from simple_salesforce import format_soql

from sfns_pipeline.flows.transaction_sync import TransactionSyncDefinitions
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.resources import build_resources
from sfns_pipeline.salesforce.client import SalesforceClient
from sfns_pipeline.sandbox.faults import FaultRule
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline.sandbox_profile import sandbox_environment
from sfns_pipeline.settings import load_settings


@dataclass(frozen=True)
class Billed:
    """A sales order and the invoice billed from it."""

    order_id: str
    invoice_id: str


@dataclass
class Harness:
    """One test's view of the sandbox: pipeline resources, a private ledger and mail recipient."""

    sandbox: Sandbox
    resources: dict[str, Any]
    recipient: str
    clock_offset: float = 0.0  # the sandbox clock's offset before this harness moved it
    _refs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
        """Resources built the way ``definitions.py`` builds them, from the sandbox's ``SFNS_*`` variables.

        Call :meth:`close` at the end: the sandbox is the session's, and later tests need NetSuite's real time.
        """
        for name, value in sandbox_environment(sandbox.endpoints_file).items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        recipient = f"finance-{uuid.uuid4().hex[:8]}@example.com"
        resources = {
            **build_resources(settings),
            "ledger": LedgerResource(url=f"sqlite:///{tmp_path / 'ledger.db'}", retry_backoff_seconds=0),
            "mailer": MailerResource(
                smtp_host=settings.email.smtp_host,
                smtp_port=settings.email.smtp_port,
                recipients=[recipient],
            ),
        }
        return cls(sandbox, resources, recipient, clock_offset=sandbox.clock.offset_seconds)

    def close(self) -> None:
        """Put NetSuite's clock back where this harness found it."""
        self.sandbox.clock.set_offset(self.clock_offset)

    # -- clocks -------------------------------------------------------------------------------------
    def at(self, moment: datetime) -> None:
        """Move NetSuite's clock so that its now is ``moment`` (it keeps ticking from there)."""
        self.sandbox.clock.set_offset((moment - datetime.now(UTC)).total_seconds())

    # -- clients ------------------------------------------------------------------------------------
    @property
    def backend(self):
        return self.sandbox.components["netsuite"].backend

    def salesforce(self) -> SalesforceClient:
        """A fresh client (its own call counter) for setting up and checking Salesforce."""
        return self.resources["salesforce"].process_config_and_initialize().get_client()

    def netsuite(self):
        return self.resources["netsuite"].process_config_and_initialize().get_client()

    def reconfigure_netsuite(self, **config: Any) -> None:
        """Swap the pipeline's NetSuite resource for a copy with other settings (fewer retries, a wrong secret)."""
        current = self.resources["netsuite"]
        fields = {name: getattr(current, name) for name in type(current).model_fields}  # EnvVar secrets stay EnvVar
        self.resources["netsuite"] = type(current)(**fields | config)

    # -- the wire -------------------------------------------------------------------------------------
    @contextmanager
    def netsuite_outage(self, requests: int | None = None) -> Iterator[None]:
        """NetSuite answers SuiteQL with 503: the next ``requests`` calls, or every call until the block ends."""
        self.sandbox.faults.add(FaultRule(service="netsuite", kind="503", path="/query/v1/suiteql", count=requests))
        try:
            yield
        finally:
            self.sandbox.faults.clear()  # this worker's sandbox runs one test at a time

    @contextmanager
    def salesforce_requests(self) -> Iterator[Callable[[], dict[str, int]]]:
        """Count SOQL reads and Collections upserts as they reach the Salesforce sandbox (logins are not counted).

        Zero-latency ``latency`` fault rules only count the requests they match; nothing else changes.
        """
        kinds = {"soql": ("GET", r"/services/data/v[\d.]+/query"), "upsert": ("PATCH", r"/composite/sobjects/")}
        for method, path in kinds.values():
            self.sandbox.faults.add(FaultRule(service="salesforce", kind="latency", method=method, path=path))

        def counts() -> dict[str, int]:
            hits = {(rule["method"], rule["path"]): rule["hits"] for rule in self.sandbox.faults.rules()}
            return {name: hits[key] for name, key in kinds.items()}

        try:
            yield counts
        finally:
            self.sandbox.faults.clear()

    # -- NetSuite activity ----------------------------------------------------------------------------
    def _ref(self, record_type: str, fields: dict[str, Any]) -> str:
        if record_type not in self._refs:
            self._refs[record_type] = self.backend.create(record_type, fields)
        return self._refs[record_type]

    def customer(self, *, in_salesforce: bool = True) -> str:
        """A NetSuite customer (USD) and, unless told otherwise, its Salesforce Account linked by NetSuite id."""
        subsidiary = self._ref("subsidiary", {"name": "Distribution HQ"})
        currency = self._ref("currency", {"name": "US Dollar", "symbol": "USD"})
        customer = self.backend.create(
            "customer",
            {
                "companyName": f"Customer {uuid.uuid4().hex[:8]}",
                "subsidiary": {"id": subsidiary},
                "currency": {"id": currency},
            },
        )
        if in_salesforce:
            self.sync_parents(customer, [])
        return customer

    def bill(
        self, customer: str, count: int, *, rate: float = 12.5, quantity: int = 2, in_salesforce: bool = True
    ) -> list[Billed]:
        """``count`` sales orders of ``customer``, each fulfilled and billed; their Orders in Salesforce unless told."""
        item = self._ref("inventoryItem", {"itemId": "SKU-WIDGET", "basePrice": rate})
        billed = []
        for _ in range(count):
            lines = [{"item": {"id": item}, "quantity": quantity, "rate": rate}]
            order = self.backend.create("salesOrder", {"entity": {"id": customer}, "item": {"items": lines}})
            self.backend.fulfill_sales_order(order)
            billed.append(Billed(order, self.backend.bill_sales_order(order)))
        if in_salesforce:
            self.sync_parents(customer, billed)
        return billed

    def sync_parents(self, customer: str, billed: Sequence[Billed]) -> None:
        """What the customer and order flows would have written: the Account and Orders with their NetSuite ids."""
        salesforce = self.salesforce()
        (account,) = salesforce.upsert(
            "Account",
            [{"NetSuite_Customer_Id__c": customer, "Name": f"Account of {customer}"}],
            key="NetSuite_Customer_Id__c",
        )
        assert account.success, account
        orders = [
            {
                "NetSuite_Order_Id__c": b.order_id,
                "AccountId": account.id,
                "EffectiveDate": "2026-01-05",
                "Status": "Draft",
            }
            for b in billed
        ]
        results = salesforce.upsert("Order", orders, key="NetSuite_Order_Id__c")
        assert all(r.success for r in results), results

    def credit(self, invoice: str, amount: float) -> str:
        """A credit memo of ``amount`` created from an invoice (an allowance on one line)."""
        item = self._ref("inventoryItem", {"itemId": "SKU-WIDGET", "basePrice": amount})
        return self.backend.credit_invoice(invoice, items=[{"item": {"id": item}, "quantity": 1, "rate": amount}])

    def pay(self, customer: str, invoice: str, amount: float) -> str:
        """A customer payment applied to one invoice."""
        return self.backend.create(
            "customerPayment",
            {
                "customer": {"id": customer},
                "payment": amount,
                "apply": {"items": [{"doc": {"id": invoice}, "apply": True, "amount": amount}]},
            },
        )

    def set_last_modified(self, transaction_ids: Sequence[str], moment: datetime) -> None:
        """Give transactions one exact ``lastmodifieddate`` (as NetSuite would for one bulk update)."""
        table = self.backend.metadata.tables["transaction"]
        with self.backend.transaction() as conn:
            conn.execute(
                table.update()
                .where(table.c.id.in_([int(i) for i in transaction_ids]))
                .values(lastmodifieddate=self.backend.time.store_instant(moment))
            )

    # -- Salesforce ---------------------------------------------------------------------------------
    def records(self, sobject: str, netsuite_ids: Sequence[str], *extra: str) -> dict[str, dict[str, Any]]:
        """Salesforce copies by NetSuite id, with their parents' NetSuite ids."""
        fields = [
            "Id", "NetSuite_Id__c", "Name", "Status__c", "Total__c", "Amount_Remaining__c", "Currency__c",
            "NetSuite_Last_Modified__c", "Account__r.NetSuite_Customer_Id__c", "Order__r.NetSuite_Order_Id__c", *extra,
        ]  # fmt: skip
        soql = format_soql(
            f"SELECT {', '.join(fields)} FROM {{:literal}} WHERE NetSuite_Id__c IN {{ids}}",  # noqa: S608 - fixed names
            sobject,
            ids=list(netsuite_ids),
        )
        return {row["NetSuite_Id__c"]: row for row in self.salesforce().query(soql)}

    def mails(self) -> list:
        """Error emails sent to this test's recipient."""
        return [m for m in self.sandbox.components["smtp"].messages() if self.recipient in str(m["To"])]

    # -- Dagster --------------------------------------------------------------------------------------
    def materialize(
        self, defs: TransactionSyncDefinitions, partition_key: str | None = None, **kwargs: Any
    ) -> dg.ExecuteInProcessResult:
        """Run the flow's asset and reconciliation check for one window (or a range via ``tags``)."""
        return dg.materialize(
            [defs.asset, defs.check],
            partition_key=partition_key,
            resources=self.resources,
            instance=kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral(),
            **kwargs,
        )


def metadata(result: dg.ExecuteInProcessResult, asset_name: str) -> dict[str, Any]:
    """The values of an asset's (last) materialization metadata."""
    materialization = result.asset_materializations_for_node(asset_name)[-1]
    return {key: value.value for key, value in materialization.metadata.items()}


def check_result(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation
