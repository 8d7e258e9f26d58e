"""Refund sync (flow 3b): credit memos and customer refunds land in NetSuite_Refund__c, on windows 7 minutes later."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sfns_pipeline.flows.invoices import invoice_sync
from sfns_pipeline.flows.refunds import refund_defs, refund_sync, refund_windows
from sfns_pipeline.flows.transaction_sync import build_transaction_sync
from sfns_pipeline.settings import InvoiceSyncSettings, RefundSyncSettings
from sfns_pipeline_tests.flows.transaction_harness import Harness, check_result, metadata

REFUNDS = "NetSuite_Refund__c"
ASSET = "salesforce_refunds"


@pytest.fixture
def harness(module_sandbox, tmp_path, monkeypatch) -> Iterator[Harness]:
    harness = Harness.start(module_sandbox, tmp_path, monkeypatch)
    yield harness
    harness.close()


def key(moment: datetime) -> str:
    return refund_windows.get_partition_key_for_timestamp(moment.timestamp())


def test_credit_memos_and_refunds_land_with_type_links_and_positive_amounts(harness):
    window = datetime(2026, 4, 1, 10, 7, tzinfo=UTC)
    harness.at(window + timedelta(minutes=4))
    customer = harness.customer()
    (billed,) = harness.bill(customer, 1)  # an invoice of 25.00: not a refund, not synced here
    credit = harness.credit(billed.invoice_id, 10.0)
    refund = harness.backend.refund_credit_memo(credit)  # and paid out

    result = harness.materialize(refund_defs, key(window))
    stats = metadata(result, ASSET)
    assert (stats["fetched"], stats["created"], stats["failed"]) == (2, 2, 0)
    records = harness.records(REFUNDS, [credit, refund, billed.invoice_id])
    assert set(records) == {credit, refund}
    memo, paid_out = records[credit], records[refund]
    assert memo["Account__r"]["NetSuite_Customer_Id__c"] == customer
    assert memo["Order__r"]["NetSuite_Order_Id__c"] == billed.order_id  # credit memo → invoice → sales order
    assert (memo["Total__c"], memo["Amount_Remaining__c"]) == (10.0, 0.0)
    assert paid_out["Order__r"] is None and paid_out["Total__c"] == 10.0
    types = {
        i: record["Refund_Type__c"]
        for i, record in harness.records(REFUNDS, [credit, refund], "Refund_Type__c").items()
    }
    assert types == {credit: "CustCred", refund: "CustRfnd"}
    assert check_result(result).passed
    again = metadata(harness.materialize(refund_defs, key(window)), ASSET)  # one linked, one unlinked: both read back
    assert (again["unchanged"], again["updated"]) == (2, 0)


def test_refund_types_are_a_setting(harness):
    window = datetime(2026, 4, 1, 11, 7, tzinfo=UTC)
    harness.at(window + timedelta(minutes=4))
    customer = harness.customer()
    (billed,) = harness.bill(customer, 1)
    credit = harness.credit(billed.invoice_id, 5.0)
    refund = harness.backend.refund_credit_memo(credit)
    only_memos = build_transaction_sync(replace(refund_sync, types=tuple(RefundSyncSettings(types="CustCred").types)))
    assert metadata(harness.materialize(only_memos, key(window)), ASSET)["created"] == 1
    assert set(harness.records(REFUNDS, [credit, refund])) == {credit}


def test_refund_windows_are_staggered_seven_minutes_after_invoice_windows(harness):
    start = datetime(2026, 4, 2, 9, 0)
    invoices = build_transaction_sync(replace(invoice_sync, settings=InvoiceSyncSettings(start=start)))
    refunds = build_transaction_sync(replace(refund_sync, settings=RefundSyncSettings(start=start)))
    day = datetime(2026, 4, 2, tzinfo=UTC)

    harness.at(day + timedelta(hours=10, minutes=8))
    assert requested(harness, invoices) == [
        "2026-04-02-09:00",
        "2026-04-02-09:15",
        "2026-04-02-09:30",
        "2026-04-02-09:45",
    ]
    # 09:52-10:07 closes at 10:09 NetSuite time (end + 2 minutes overlap)
    assert requested(harness, refunds) == ["2026-04-02-09:07", "2026-04-02-09:22", "2026-04-02-09:37"]
    harness.at(day + timedelta(hours=10, minutes=9, seconds=30))
    assert requested(harness, refunds)[-1] == "2026-04-02-09:52"
    run_keys = [r.run_key for r in tick(harness, refunds).run_requests]
    assert run_keys[0] == "refund_sync:2026-04-02-09:07:g0"


def tick(harness, defs):
    definitions = dg.Definitions(assets=[defs.source, defs.asset], sensors=[defs.sensor], resources=harness.resources)
    with dg.build_sensor_context(
        definitions=definitions, resources=harness.resources, instance=dg.DagsterInstance.ephemeral()
    ) as context:
        return defs.sensor.evaluate_tick(context)


def requested(harness, defs) -> list[str]:
    return [request.partition_key for request in tick(harness, defs).run_requests]
