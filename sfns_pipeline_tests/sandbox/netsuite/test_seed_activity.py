"""Seed data (catalogue SKUs as items, customers, order history) and the finance/warehouse activity simulator."""

import random

import pytest

from sfns_pipeline.sandbox.catalog import distributor_catalog
from sfns_pipeline.sandbox.netsuite.activity import NetSuiteActivity
from sfns_pipeline.sandbox.netsuite.client import SandboxNetSuite
from sfns_pipeline.sandbox.netsuite.seed import seed_netsuite

SEED = 11


def counts_by_type(client):
    query = "SELECT type, COUNT(*) AS n FROM transaction GROUP BY type"
    return {row["type"]: int(row["n"]) for row in client.suiteql(query)}


@pytest.fixture(scope="module")
def seeded(ns_sandbox):
    calls = []
    summary = seed_netsuite(ns_sandbox.endpoints, SEED, progress=lambda task, done, total: calls.append(task))
    return summary, calls, SandboxNetSuite(ns_sandbox.endpoints)


def test_items_carry_the_catalogue_skus(seeded):
    summary, _, client = seeded
    skus = {row["itemid"] for row in client.suiteql("SELECT itemid FROM item WHERE itemtype = 'InvtPart'")}
    assert skus >= {product.sku for product in distributor_catalog(SEED)}
    assert summary["items"] == len(distributor_catalog(SEED))


def test_history_has_orders_in_every_state(seeded):
    summary, calls, client = seeded
    counts = counts_by_type(client)
    assert counts["SalesOrd"] == summary["sales_orders"] > 0
    assert counts["ItemShip"] == summary["fulfilments"] > 0
    assert counts["CustInvc"] == summary["invoices"] > 0
    assert counts.get("CustPymt", 0) == summary["payments"] > 0
    assert {"reference data", "items", "customers", "order history"} <= set(calls)
    parents = list(client.suiteql("SELECT COUNT(*) AS n FROM customer WHERE parent IS NOT NULL"))
    assert int(parents[0]["n"]) > 0


def test_seeding_again_adds_nothing(ns_sandbox, seeded):
    _, _, client = seeded
    before = counts_by_type(client), sum(1 for _ in client.suiteql("SELECT id FROM customer"))
    seed_netsuite(ns_sandbox.endpoints, SEED)
    assert (counts_by_type(client), sum(1 for _ in client.suiteql("SELECT id FROM customer"))) == before


def test_activity_ships_bills_and_refunds(ns_sandbox, seeded):
    _, _, client = seeded
    activity = NetSuiteActivity(ns_sandbox.endpoints, rng=random.Random(3))
    report = activity.step(batch=2, pay_share=1.0, credit_share=1.0)
    assert report.fulfilled and report.billed and report.paid and report.refunded
    for fulfilment in report.fulfilled:
        shipment = client.get("itemFulfillment", fulfilment)
        assert shipment["trackingNumbers"].startswith("1Z")
        assert shipment["createdFrom"]["refName"].startswith("Sales Order #")
    for memo in report.credited:
        assert client.get("creditMemo", memo)["status"]["refName"] == "Fully Applied"
    refunds = {row["id"] for row in client.suiteql("SELECT id FROM transaction WHERE type = 'CustRfnd'")}
    assert set(report.refunded) <= refunds
