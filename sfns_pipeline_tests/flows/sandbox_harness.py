"""A Platform Event flow against both running sandboxes, as a test drives it.

The pipeline side is built exactly as in production: ``SFNS_*`` variables from the sandbox's
``endpoints.json`` (``sandbox_environment``), ``load_settings()``, ``build_resources()``. The sales
user is a plain simple-salesforce client with its own login, so its changes fire the org's triggers
(the integration user's do not: loop suppression).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from simple_salesforce import Salesforce

from sfns_pipeline.flows.customers import customer_sync_job, customer_sync_sensor
from sfns_pipeline.netsuite.rest import NetSuiteRestClient
from sfns_pipeline.resources import build_resources
from sfns_pipeline.sandbox.mail import read_mailbox
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline.sandbox.salesforce.seed import sales_user_client
from sfns_pipeline.sandbox_profile import sandbox_environment
from sfns_pipeline.settings import Settings, load_settings

TERMS = ("Net 15", "Net 30", "Net 60", "Due on receipt")


def sales_user(sandbox: Sandbox) -> Salesforce:
    """simple-salesforce logged in as the sandbox org's sales user (OAuth password grant)."""
    return sales_user_client(sandbox.endpoints)


def sandbox_settings(sandbox: Sandbox, state_dir: Path, monkeypatch: pytest.MonkeyPatch, **variables: str) -> Settings:
    """Settings for the running sandboxes (variables set for the test, as a deployment would set them)."""
    for name, value in {**sandbox_environment(sandbox.endpoints_file), "SFNS_STATE_DIR": str(state_dir)}.items():
        monkeypatch.setenv(name, value)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@dataclass
class CustomerFlow:
    """The customer sync wired to the sandboxes, with the handles a test needs to act and to check."""

    sandbox: Sandbox
    settings: Settings
    resources: dict[str, Any]
    sales: Salesforce
    netsuite: NetSuiteRestClient
    recipient: str
    instance: dg.DagsterInstance = field(default_factory=dg.DagsterInstance.ephemeral)

    # -- acting as the sales team ------------------------------------------------------------------
    def create_account(self, name: str | None = None, **fields: Any) -> str:
        """A new Account as the sales user creates it; returns its id."""
        record = {"Name": name or f"Acme {uuid.uuid4().hex[:8]}", "Payment_Terms__c": "Net 30", **fields}
        return self.sales.Account.create(record)["id"]

    def create_accounts(self, count: int, **fields: Any) -> list[str]:
        """Many Accounts in Collections calls of 200 (one event each, as the org's trigger publishes)."""
        ids: list[str] = []
        tag = uuid.uuid4().hex[:6]
        for start in range(0, count, 200):
            records = [
                {"attributes": {"type": "Account"}, "Name": f"Burst {tag} {n}", "Payment_Terms__c": "Net 15", **fields}
                for n in range(start, min(count, start + 200))
            ]
            results = self.sales.restful(
                "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
            )
            ids += [result["id"] for result in results]
        return ids

    def update_account(self, account_id: str, **fields: Any) -> None:
        self.sales.Account.update(account_id, fields)

    # -- checking ----------------------------------------------------------------------------------
    def account(self, account_id: str) -> dict[str, Any]:
        """The Account as it is now (sync fields included)."""
        return self.sales.Account.get(account_id)

    def customer(self, account_id: str) -> dict[str, Any]:
        return self.netsuite.get("customer", external_id=account_id)

    def customers_with_external_ids(self, account_ids: list[str]) -> list[dict[str, Any]]:
        """Every NetSuite customer whose externalId is one of the Account ids (duplicates would show twice)."""
        marks = ", ".join("?" for _ in account_ids)
        query = f"SELECT id, externalid FROM customer WHERE externalid IN ({marks}) ORDER BY id"  # noqa: S608
        return [row for page in self.netsuite.suiteql_pages(query, account_ids) for row in page.items]

    def mails(self) -> list[EmailMessage]:
        """Emails sent to this test's recipient."""
        mailbox = read_mailbox(Path(self.sandbox.endpoints["smtp"]["mail_dir"]))
        return [message for message in mailbox if self.recipient in str(message["To"])]

    # -- driving Dagster ---------------------------------------------------------------------------
    def tick(self, cursor: str | None, **flow_settings: Any) -> dg.SensorResult:
        """One sensor evaluation, as the daemon would run it (fresh resources each tick); ``flow_settings``
        override ``SFNS_CUSTOMER_SYNC_*`` values for this sensor."""
        sync = self.settings.customer_sync.model_copy(update=flow_settings)
        sensor = customer_sync_sensor(self.settings.model_copy(update={"customer_sync": sync}))
        with dg.build_sensor_context(resources=self.resources, cursor=cursor, instance=self.instance) as context:
            return sensor.evaluate_tick(context)

    def pin(self) -> str:
        """A cursor at the tip of the stream: events published from now on belong to this test."""
        return self.tick(None, initial_replay="LATEST").cursor

    def run(self, run_request: dg.RunRequest, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        return customer_sync_job.execute_in_process(
            run_config=run_request.run_config,
            resources=self.resources,
            instance=self.instance,
            tags={**run_request.tags, "dagster/run_key": run_request.run_key or ""},
            raise_on_error=raise_on_error,
        )

    def sync(self, cursor: str) -> tuple[str, list[dg.ExecuteInProcessResult]]:
        """Tick, run every requested run; the new cursor and the results."""
        result = self.tick(cursor)
        return result.cursor, [self.run(request) for request in result.run_requests]


def run_metadata(result: dg.ExecuteInProcessResult, step: str = "writeback") -> dict[str, Any]:
    """The metadata a step attached to its output, as plain values."""
    (event,) = [e for e in result.events_for_node(step) if e.event_type_value == "STEP_OUTPUT"]
    return {key: getattr(value, "value", value) for key, value in event.step_output_data.metadata.items()}


def load_reference_data(netsuite: NetSuiteRestClient) -> tuple[str, dict[str, str]]:
    """Subsidiary and payment terms in NetSuite (idempotent: keyed by externalId); their internal ids."""
    currency = netsuite.upsert("currency", "USD", {"name": "USD", "symbol": "$"})
    subsidiary = netsuite.upsert("subsidiary", "SUB-HQ", {"name": "Distributor HQ", "currency": {"id": currency}})
    terms = {name: netsuite.upsert("term", f"TERM-{name.replace(' ', '-')}", {"name": name}) for name in TERMS}
    return subsidiary, terms


@contextlib.contextmanager
def customer_flow(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    unmapped_terms: tuple[str, ...] = (),
    **variables: str,
) -> Iterator[CustomerFlow]:
    """The customer flow against ``sandbox`` with NetSuite's reference data loaded and mapped in the settings
    (except ``unmapped_terms``); ``variables`` are further ``SFNS_*`` settings."""
    recipient = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    settings = sandbox_settings(sandbox, tmp_path / "state", monkeypatch, SFNS_EMAIL_RECIPIENTS=recipient)
    with dg.build_resources({"netsuite": build_resources(settings)["netsuite"]}) as clients:
        netsuite = clients.netsuite.get_client()
        subsidiary, terms = load_reference_data(netsuite)
        mapped = {name: internal_id for name, internal_id in terms.items() if name not in unmapped_terms}
        settings = sandbox_settings(
            sandbox,
            tmp_path / "state",
            monkeypatch,
            **{
                # the fetch returns at the server's keep-alive; the long bound only matters on a loaded CI box
                "SFNS_CUSTOMER_SYNC_RECEIVE_TIMEOUT_SECONDS": "25",
                "SFNS_CUSTOMER_SYNC_SUBSIDIARY_ID": subsidiary,
                "SFNS_CUSTOMER_SYNC_PAYMENT_TERMS": json.dumps(mapped),
                **variables,
            },
        )
        yield CustomerFlow(
            sandbox=sandbox,
            settings=settings,
            resources=build_resources(settings),
            sales=sales_user(sandbox),
            netsuite=netsuite,
            recipient=recipient,
        )
