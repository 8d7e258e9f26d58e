"""State lives in the data dir: a restarted sandbox keeps records, custom fields and credentials, and upgrades it."""

import sqlite3

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline_tests.sandbox.netsuite.conftest import NETSUITE_ONLY, NetSuiteRest


def test_restart_keeps_records_custom_fields_and_credentials(tmp_path):
    with Sandbox(tmp_path, ports={"netsuite": 0}, components=NETSUITE_ONLY) as first:
        client = NetSuiteRest.connect(first)
        subsidiary = client.create("subsidiary", {"name": "Persisted"})
        body = {"companyName": "Kept Co", "subsidiary": {"id": subsidiary}, "custentity_sf_account_id": "001KEEP"}
        customer = client.create("customer", body | {"externalId": "KEEP-1"})
        tba = first.endpoints["netsuite"]["tba"]
    with Sandbox(tmp_path, ports={"netsuite": 0}, components=NETSUITE_ONLY) as second:
        assert second.endpoints["netsuite"]["tba"] == tba
        client = NetSuiteRest.connect(second)
        record = client.get("customer", "eid:KEEP-1")
        assert (record["id"], record["companyName"]) == (customer, "Kept Co")
        query = "SELECT id FROM customer WHERE custentity_sf_account_id = ?"
        assert client.suiteql(query, params=["001KEEP"]).json()["items"][0]["id"] == customer
        assert client.create("subsidiary", {"name": "Next"}) != subsidiary


def test_an_account_saved_by_an_older_sandbox_gains_the_columns_added_since(tmp_path):
    database = tmp_path / "netsuite.db"
    NetSuiteBackend(database, clock=SandboxClock()).engine.dispose()
    with sqlite3.connect(database) as old:  # as saved before transactionline carried createdfrom
        old.execute("ALTER TABLE transactionline DROP COLUMN createdfrom")
    backend = NetSuiteBackend(database, clock=SandboxClock())
    subsidiary = backend.create("subsidiary", {"name": "Old"})
    customer = backend.create("customer", {"companyName": "Old Co", "subsidiary": {"id": subsidiary}})
    item = backend.create("inventoryItem", {"itemId": "OLD-1", "basePrice": 2})
    order = backend.create(
        "salesOrder", {"entity": {"id": customer}, "item": {"items": [{"item": {"id": item}, "quantity": 1}]}}
    )
    backend.fulfill_sales_order(order)
    invoice = backend.bill_sales_order(order)
    with backend.transaction() as conn:
        query = "SELECT createdfrom FROM transactionline WHERE \"transaction\" = ? AND mainline = 'T'"
        assert conn.exec_driver_sql(query, (int(invoice),)).scalar_one() == int(order)
    backend.engine.dispose()
