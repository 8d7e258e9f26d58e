"""Seed the NetSuite sandbox with a distributor's reference data and some history, through its REST API.

Everything is keyed by externalId (``PUT eid:``) and an order's history is only played when the order is
new, so seeding twice with the same seed leaves the same data, not twice as much. Records are drawn from
the seed first and then written by a few parallel workers (fewer than the account's concurrency limit).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from faker import Faker

from sfns_pipeline.sandbox.catalog import distributor_catalog
from sfns_pipeline.sandbox.netsuite.activity import NetSuiteActivity
from sfns_pipeline.sandbox.netsuite.client import SandboxNetSuite

# progress(task, done, total): called as each step advances (e.g. to drive a rich progress bar).
Progress = Callable[[str, int, int], None]
T = TypeVar("T")
R = TypeVar("R")

TERMS = {"NET15": ("Net 15", 15), "NET30": ("Net 30", 30), "NET60": ("Net 60", 60), "DUE": ("Due on receipt", 0)}
SHIP_METHODS = {"UPS-GND": "UPS Ground", "FEDEX-2DAY": "FedEx 2Day", "LTL": "LTL Freight", "WILLCALL": "Will Call"}
CUSTOMERS = 16
BRANCHES = 4  # the last customers are branch locations of the first ones (parent accounts)
ORDERS_PER_CUSTOMER = 3
WORKERS = 4  # below the default account concurrency limit of 5


@dataclass(frozen=True)
class _OrderPlan:
    external_id: str
    body: dict[str, Any]
    stage: float  # < 0.8 shipped, < 0.65 billed, < 0.4 paid, < 0.1 returned (credited and refunded)


def _in_parallel(work: Callable[[T], R], inputs: Iterable[T], task: str, progress: Progress | None) -> list[R]:
    """``work`` over ``inputs`` on the workers, results in input order, progress as they finish."""
    inputs = list(inputs)
    done = 0
    lock = threading.Lock()

    def run(value: T) -> R:
        nonlocal done
        result = work(value)
        with lock:
            done += 1
            if progress is not None:
                progress(task, done, len(inputs))
        return result

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, inputs))


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
    ship_methods = {
        key: client.upsert("shipItem", f"SHIP-{key}", {"itemId": name}) for key, name in SHIP_METHODS.items()
    }
    if progress is not None:
        progress("reference data", 1, 1)

    catalog = distributor_catalog(seed)
    item_bodies = [
        (
            product.sku,
            {
                "itemId": product.sku,
                "displayName": product.name,
                "salesDescription": f"{product.family}: {product.name}",
                "basePrice": float(product.unit_price),
                "cost": round(float(product.unit_price) * 0.62, 2),
                "subsidiary": {"id": subsidiary},
            },
        )
        for product in catalog
    ]
    items = _in_parallel(lambda pair: client.upsert("inventoryItem", *pair), item_bodies, "items", progress)

    customer_bodies = [
        (
            f"SEED-CUST-{number:03d}",
            {
                "companyName": fake.unique.company(),
                "email": fake.company_email(),
                "phone": fake.numerify("###-###-####"),
                "subsidiary": {"id": subsidiary},
                "currency": {"id": currency},
                "terms": {"id": terms[rng.choice(list(TERMS))]},
                "creditLimit": float(rng.choice([5_000, 10_000, 25_000, 50_000])),
                "shippingItem": {"id": ship_methods[rng.choice(list(SHIP_METHODS))]},
            },
        )
        for number in range(1, CUSTOMERS + 1)
    ]
    parents, branches = customer_bodies[:-BRANCHES], customer_bodies[-BRANCHES:]
    customers = _in_parallel(lambda pair: client.upsert("customer", *pair), parents, "customers", progress)
    for external_id, body in branches:
        body["parent"] = {"id": customers[rng.randrange(BRANCHES)]}
        customers.append(client.upsert("customer", external_id, body))

    activity = NetSuiteActivity(client, rng=random.Random(seed))
    plans = _plan_orders(rng, customers, items, list(ship_methods.values()), activity)
    counts = _in_parallel(lambda plan: _play_order(activity, plan), plans, "order history", progress)
    return {
        "currency": currency,
        "subsidiary": subsidiary,
        "terms": terms,
        "ship_methods": ship_methods,
        "items": len(items),
        "customers": customers,
        **sum(counts, Counter()),
    }


def _plan_orders(
    rng: random.Random, customers: list[str], items: list[str], ship_methods: list[str], activity: NetSuiteActivity
) -> list[_OrderPlan]:
    today = activity.today()
    plans = []
    for index in range(len(customers) * ORDERS_PER_CUSTOMER):
        lines = [
            {
                "item": {"id": rng.choice(items)},
                "quantity": rng.randint(1, 40),
                "price": {"id": "-1"},
                "rate": round(rng.uniform(1, 180), 2),
            }
            for _ in range(rng.randint(1, 4))
        ]
        body = {
            "entity": {"id": customers[index % len(customers)]},
            "tranDate": (today - timedelta(days=rng.randint(1, 60))).isoformat(),
            "otherRefNum": f"PO-{rng.randint(10000, 99999)}",
            "shipMethod": {"id": rng.choice(ship_methods)},
            "item": {"items": lines},
        }
        plans.append(_OrderPlan(f"SEED-SO-{index + 1:04d}", body, rng.random()))
    return plans


def _play_order(activity: NetSuiteActivity, plan: _OrderPlan) -> Counter:
    """Create one past order and take it as far as its plan says: shipped, billed, paid, returned."""
    client = activity.client
    if client.find("salesOrder", plan.external_id) is not None:
        return Counter(sales_orders=1)  # seeded before, history included
    order = client.upsert("salesOrder", plan.external_id, plan.body)
    counts = Counter(sales_orders=1)
    if plan.stage < 0.8:
        activity.fulfil(order)
        counts["fulfilments"] += 1
    if plan.stage < 0.65:
        invoice = activity.bill(order)
        counts["invoices"] += 1
        if plan.stage < 0.4:
            activity.pay(invoice, external_id=f"SEED-PAY-{plan.external_id[8:]}")
            counts["payments"] += 1
        if plan.stage < 0.1:
            activity.refund(activity.credit(invoice, share=0.25))
            counts["credit_memos"] += 1
            counts["refunds"] += 1
    return counts
