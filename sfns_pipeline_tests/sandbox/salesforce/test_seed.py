"""Seed data: a believable distributor, loaded over the REST API, the same for the same seed."""

from __future__ import annotations

from sfns_pipeline.sandbox.catalog import distributor_catalog
from sfns_pipeline.sandbox.salesforce.seed import seed_salesforce
from sfns_pipeline_tests.sandbox.salesforce.conftest import events_since, integration_client, salesforce_sandbox

SEED = 11


def _accounts(sf) -> list[tuple]:
    soql = "SELECT Name, Parent.Name, BillingCity, Payment_Terms__c FROM Account ORDER BY AccountNumber"
    return [
        (a["Name"], a["Parent"] and a["Parent"]["Name"], a["BillingCity"], a["Payment_Terms__c"])
        for a in sf.query_all(soql)["records"]
    ]


def test_seed_loads_a_distributor_deterministically(tmp_path):
    with salesforce_sandbox(tmp_path / "first") as sandbox:
        seed_salesforce(sandbox.endpoints, seed=SEED)
        first_accounts = _accounts(integration_client(sandbox.endpoints))
    stages = []
    with salesforce_sandbox(tmp_path / "second") as sandbox:
        counts = seed_salesforce(sandbox.endpoints, seed=SEED, progress=lambda stage, done, total: stages.append(stage))
        sf = integration_client(sandbox.endpoints)
        assert _accounts(sf) == first_accounts
        assert counts["accounts"] == len(first_accounts) >= 50
        assert any(parent for _, parent, _, _ in first_accounts)  # branches under parent companies
        skus = {r["StockKeepingUnit"] for r in sf.query_all("SELECT StockKeepingUnit FROM Product2")["records"]}
        assert skus == {p.sku for p in distributor_catalog(SEED)}
        assert counts["pricebook_entries"] == counts["products"] == len(skus) >= 200
        orders = sf.query_all("SELECT Id, (SELECT Product2.StockKeepingUnit FROM OrderItems) FROM Order")["records"]
        assert len(orders) == counts["orders"] > 0
        assert all(order["OrderItems"]["totalSize"] >= 1 for order in orders)
        bus = sandbox.components["salesforce"].bus
        assert len(events_since(bus, "AccountsEvent__e", 0)) == counts["accounts"]  # the sales user's changes
        assert len(events_since(bus, "Create_NS_Order__e", 0)) == counts["activated"]
        assert seed_salesforce(sandbox.endpoints, seed=SEED)["accounts"] == 0  # seeding twice adds nothing
    assert {"parent accounts", "accounts", "products", "price book entries", "orders", "order lines"} <= set(stages)
