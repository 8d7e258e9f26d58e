"""Seed the NetSuite sandbox with a distributor's reference data and some history, through its REST API.

Everything is keyed by externalId (``PUT eid:``), and history steps look at a record's state before
acting, so seeding twice with the same seed leaves the same data, not twice as much.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from faker import Faker

from sfns_pipeline.sandbox.catalog import distributor_catalog
from sfns_pipeline.sandbox.netsuite.activity import NetSuiteActivity
from sfns_pipeline.sandbox.netsuite.client import SandboxNetSuite

# progress(task, done, total): called as each step advances (e.g. to drive a rich progress bar).
Progress = Callable[[str, int, int], None]

TERMS = {"NET15": ("Net 15", 15), "NET30": ("Net 30", 30), "NET60": ("Net 60", 60), "DUE": ("Due on receipt", 0)}
SHIP_METHODS = {"UPS-GND": "UPS Ground", "FEDEX-2DAY": "FedEx 2Day", "LTL": "LTL Freight", "WILLCALL": "Will Call"}
CUSTOMERS = 16
ORDERS_PER_CUSTOMER = 3


def _report(progress: Progress | None, task: str, done: int, total: int) -> None:
    if progress is not None:
        progress(task, done, total)


def seed_netsuite(endpoints: dict[str, Any], seed: int, progress: Progress | None = None) -> dict[str, Any]:
    """Load currency, subsidiary, terms, ship methods, the catalogue's items, customers and order history.

    ``endpoints`` is the content of ``endpoints.json`` (its ``netsuite`` section and ``ca_cert``). Items carry
    the SKUs of :func:`distributor_catalog` as ``itemId``. Returns what was loaded (ids by name, counts).
    """
    client = SandboxNetSuite(endpoints)
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)

    currency = client.upsert("currency", "USD", {"name": "USD", "symbol": "$"})
    subsidiary = client.upsert(
        "subsidiary", "SUB-HQ", {"name": "Distributor HQ", "currency": {"id": currency}, "country": "US"}
    )
    client.upsert("account", "ACCT-UNDEP", {"acctNumber": "1200", "fullName": "Undeposited Funds", "acctType": "Bank"})
    terms = {
        key: client.upsert("term", f"TERM-{key}", {"name": name, "daysUntilNetDue": days})
        for key, (name, days) in TERMS.items()
    }
    ship_methods = {key: client.upsert("shipItem", f"SHIP-{key}", {"itemId": name}) for key, name in SHIP_METHODS.items()}
    _report(progress, "reference data", 1, 1)

    catalog = distributor_catalog(seed)
    items: dict[str, str] = {}
    for done, product in enumerate(catalog, 1):
        body = {
            "itemId": product.sku,
            "displayName": product.name,
            "salesDescription": f"{product.family}: {product.name}",
            "basePrice": float(product.unit_price),
            "cost": round(float(product.unit_price) * 0.62, 2),
            "subsidiary": {"id": subsidiary},
        }
        items[product.sku] = client.upsert("inventoryItem", product.sku, body)
        _report(progress, "items", done, len(catalog))

    customers: list[str] = []
    for number in range(1, CUSTOMERS + 1):
        body: dict[str, Any] = {
            "companyName": fake.unique.company(),
            "email": fake.company_email(),
            "phone": fake.numerify("###-###-####"),
            "subsidiary": {"id": subsidiary},
            "currency": {"id": currency},
            "terms": {"id": terms[rng.choice(list(TERMS))]},
            "creditLimit": float(rng.choice([5_000, 10_000, 25_000, 50_000])),
            "shippingItem": {"id": ship_methods[rng.choice(list(SHIP_METHODS))]},
        }
        if number > 12 and customers:  # a few branch locations under a parent account
            body["parent"] = {"id": customers[rng.randrange(4)]}
        customers.append(client.upsert("customer", f"SEED-CUST-{number:03d}", body))
        _report(progress, "customers", number, CUSTOMERS)

    history = _seed_history(client, rng, customers, list(items.values()), ship_methods, progress)
    return {
        "currency": currency,
        "subsidiary": subsidiary,
        "terms": terms,
        "ship_methods": ship_methods,
        "items": len(items),
        "customers": customers,
        **history,
    }


def _seed_history(
    client: SandboxNetSuite,
    rng: random.Random,
    customers: list[str],
    items: list[str],
    ship_methods: dict[str, str],
    progress: Progress | None,
) -> dict[str, int]:
    """Past orders in every state: open, shipped, billed, paid, credited and refunded."""
    activity = NetSuiteActivity(client)
    counts = {"sales_orders": 0, "fulfilments": 0, "invoices": 0, "payments": 0, "credit_memos": 0, "refunds": 0}
    total = len(customers) * ORDERS_PER_CUSTOMER
    today = activity.today()
    for index in range(total):
        customer = customers[index % len(customers)]
        lines = [
            {"item": {"id": rng.choice(items)}, "quantity": rng.randint(1, 40), "price": {"id": "-1"},
             "rate": round(rng.uniform(1, 180), 2)}
            for _ in range(rng.randint(1, 4))
        ]  # fmt: skip
        order_body = {
            "entity": {"id": customer},
            "tranDate": (today - timedelta(days=rng.randint(1, 60))).isoformat(),
            "otherRefNum": f"PO-{rng.randint(10000, 99999)}",
            "shipMethod": {"id": ship_methods[rng.choice(list(ship_methods))]},
            "item": {"items": lines},
        }
        external_id = f"SEED-SO-{index + 1:04d}"
        order = client.find("salesOrder", external_id)
        if order is None:  # seeded before: its history is already there
            order = client.upsert("salesOrder", external_id, order_body)
        counts["sales_orders"] += 1
        stage = rng.random()
        if stage < 0.8 and activity.order_status(order) == "B":
            activity.fulfil(order)
            counts["fulfilments"] += 1
        if stage < 0.65 and activity.order_status(order) == "F":
            invoice = activity.bill(order)
            counts["invoices"] += 1
            if stage < 0.4:
                activity.pay(invoice, external_id=f"SEED-PAY-{index + 1:04d}")
                counts["payments"] += 1
            if stage < 0.1:  # a return after payment: credited, then refunded
                activity.refund(activity.credit(invoice, share=0.25))
                counts["credit_memos"] += 1
                counts["refunds"] += 1
        _report(progress, "order history", index + 1, total)
    return counts
