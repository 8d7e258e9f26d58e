"""Seed the Salesforce sandbox with a believable wholesale distributor, through the REST API as the sales user.

Everything goes over the wire (sObject Collections, 200 records a call), so seeding exercises the same
validation and triggers as real use: new accounts publish ``AccountsEvent__e`` and activated orders
``Create_NS_Order__e``. The same seed gives the same companies, products, prices and orders.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from faker import Faker
from simple_salesforce import Salesforce, format_soql

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox.catalog import distributor_catalog

Progress = Callable[[str, int, int], None]  # (stage, done, total)

PARENT_ACCOUNTS = 12
BRANCHES_PER_PARENT = (2, 5)
STANDALONE_ACCOUNTS = 14
ORDERS = 80
ACTIVATED_SHARE = 0.25
BATCH = 200

_INDUSTRIES = ["Construction", "Manufacturing", "Retail", "Hospitality", "Healthcare", "Education", "Utilities"]
_TERMS = ["Due on receipt", "Net 15", "Net 30", "Net 60"]
_CARRIERS = ["UPS", "FedEx", "USPS", "DHL"]


def seed_salesforce(endpoints: dict, seed: int, progress: Progress | None = None) -> dict[str, int]:
    """Load accounts (with parents and branches), the catalogue's products, standard prices and orders.

    ``endpoints`` is the content of ``endpoints.json``; ``progress(stage, done, total)`` is called as each
    batch lands. Seeding an org that already holds this seed's accounts adds nothing. Returns counts.
    """
    sf = sales_user_client(endpoints)
    marker = _account_number(seed, 1)
    existing = sf.query(format_soql("SELECT COUNT() FROM Account WHERE AccountNumber = {}", marker))["totalSize"]
    if existing:
        return {"accounts": 0, "products": 0, "pricebook_entries": 0, "orders": 0, "order_items": 0, "activated": 0}
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    report = progress or (lambda stage, done, total: None)

    accounts = _create_accounts(sf, fake, rng, seed, report)
    products = _create_products(sf, seed, report)
    standard = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    entries = _create(
        sf,
        [
            {"attributes": {"type": "PricebookEntry"}, "Pricebook2Id": standard, "Product2Id": product_id,
             "UnitPrice": float(product.unit_price), "IsActive": True}
            for product, product_id in products
        ],
        "price book entries",
        report,
    )  # fmt: skip
    priced = [(product, entry_id) for (product, _), entry_id in zip(products, entries, strict=True)]
    orders, lines, activated = _create_orders(sf, rng, accounts, priced, standard, report)
    return {
        "accounts": len(accounts),
        "products": len(products),
        "pricebook_entries": len(entries),
        "orders": len(orders),
        "order_items": lines,
        "activated": activated,
    }


def sales_user_client(endpoints: dict) -> Salesforce:
    """simple-salesforce logged in as the org's sales user (password grant): its changes fire the triggers."""
    section = endpoints["salesforce"]
    user = section["sales_user"]
    session = make_session(endpoints["ca_cert"])
    token = session.post(
        section["token_url"],
        data={
            "grant_type": "password",
            "client_id": user["client_id"],
            "client_secret": user["client_secret"],
            "username": user["username"],
            "password": user["password"],
        },
        timeout=30,
    )
    token.raise_for_status()
    return Salesforce(
        instance_url=section["instance_url"],
        session_id=token.json()["access_token"],
        session=session,
        version=section["api_version"],
    )


def _account_number(seed: int, n: int) -> str:
    return f"S{seed}-{n:04d}"


def _chunks(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create(sf: Salesforce, records: list[dict[str, Any]], stage: str, report: Progress) -> list[str]:
    """Insert through sObject Collections (all-or-none per call: seed data must be valid); returns ids."""
    ids: list[str] = []
    for chunk in _chunks(records):
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": chunk})
        failed = [r["errors"] for r in results if not r["success"]]
        if failed:
            raise RuntimeError(f"seeding {stage} failed: {failed[0]}")
        ids += [r["id"] for r in results]
        report(stage, len(ids), len(records))
    return ids


def _account(fake: Faker, rng: random.Random, number: str, name: str, account_type: str) -> dict[str, Any]:
    street, city, state, postal = fake.street_address(), fake.city(), fake.state_abbr(), fake.postcode()
    return {
        "attributes": {"type": "Account"},
        "Name": name,
        "AccountNumber": number,
        "Type": account_type,
        "Industry": rng.choice(_INDUSTRIES),
        "Phone": fake.numerify("(###) ###-####"),
        "Website": f"https://www.{fake.domain_name()}",
        "BillingStreet": street,
        "BillingCity": city,
        "BillingState": state,
        "BillingPostalCode": postal,
        "BillingCountry": "United States",
        "ShippingStreet": street,
        "ShippingCity": city,
        "ShippingState": state,
        "ShippingPostalCode": postal,
        "ShippingCountry": "United States",
        "Payment_Terms__c": rng.choice(_TERMS),
        "Credit_Limit__c": float(rng.randrange(5, 250) * 1000),
        "Tax_Id__c": fake.numerify("##-#######"),
        "DUNS_Number__c": fake.numerify("#########"),
        "Shipping_Carrier__c": rng.choice(_CARRIERS),
    }


def _create_accounts(sf: Salesforce, fake: Faker, rng: random.Random, seed: int, report: Progress) -> list[str]:
    """Parent companies first (branches point at them), then branches and independent customers."""
    names: set[str] = set()

    def company() -> str:
        name = fake.company()
        while name in names:
            name = f"{fake.company()} {fake.city_suffix()}"
        names.add(name)
        return name

    counter = iter(range(1, 10_000))
    parents = [
        _account(fake, rng, _account_number(seed, next(counter)), company(), "Customer - Channel")
        for _ in range(PARENT_ACCOUNTS)
    ]
    parent_ids = _create(sf, parents, "parent accounts", report)
    children: list[dict[str, Any]] = []
    for parent, parent_id in zip(parents, parent_ids, strict=True):
        for _ in range(rng.randint(*BRANCHES_PER_PARENT)):
            branch = _account(fake, rng, _account_number(seed, next(counter)), "", "Customer - Direct")
            branch["Name"] = f"{parent['Name']} - {branch['BillingCity']}"
            branch["ParentId"] = parent_id
            children.append(branch)
    children += [
        _account(fake, rng, _account_number(seed, next(counter)), company(), "Customer - Direct")
        for _ in range(STANDALONE_ACCOUNTS)
    ]
    return parent_ids + _create(sf, children, "accounts", report)


def _create_products(sf: Salesforce, seed: int, report: Progress) -> list[tuple[Any, str]]:
    catalog = distributor_catalog(seed)
    records = [
        {"attributes": {"type": "Product2"}, "Name": p.name, "ProductCode": p.sku, "StockKeepingUnit": p.sku,
         "Family": p.family, "IsActive": True, "QuantityUnitOfMeasure": "Each"}
        for p in catalog
    ]  # fmt: skip
    return list(zip(catalog, _create(sf, records, "products", report), strict=True))


def _create_orders(
    sf: Salesforce,
    rng: random.Random,
    accounts: list[str],
    priced: list[tuple[Any, str]],
    standard: str,
    report: Progress,
) -> tuple[list[str], int, int]:
    """Draft orders with 1-6 lines from the standard price book; a share of them activated (sent to fulfilment)."""
    today = date.today()
    orders = []
    for n in range(ORDERS):
        effective = today - timedelta(days=rng.randrange(0, 60))
        orders.append(
            {
                "attributes": {"type": "Order"},
                "AccountId": rng.choice(accounts),
                "EffectiveDate": effective.isoformat(),
                "Status": "Draft",
                "Pricebook2Id": standard,
                "PoNumber": f"PO-{rng.randrange(10_000, 99_999)}-{n:03d}",
                "Description": "Replenishment order",
            }
        )
    order_ids = _create(sf, orders, "orders", report)
    lines = []
    for order_id in order_ids:
        for product, entry_id in rng.sample(priced, rng.randint(1, 6)):
            expected = today + timedelta(days=rng.randrange(2, 21))
            lines.append(
                {
                    "attributes": {"type": "OrderItem"},
                    "OrderId": order_id,
                    "PricebookEntryId": entry_id,
                    "Quantity": float(rng.choice([1, 2, 5, 10, 12, 24, 50, 100])),
                    "UnitPrice": float(product.unit_price),
                    "Discount__c": float(rng.choice([0, 0, 0, 5, 10])),
                    "Expected_Ship_Date__c": expected.isoformat(),
                }
            )
    _create(sf, lines, "order lines", report)
    activate = [order_id for order_id in order_ids if rng.random() < ACTIVATED_SHARE]
    for chunk in _chunks(activate):
        records = [{"attributes": {"type": "Order"}, "Id": order_id, "Status": "Activated"} for order_id in chunk]
        sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records})
    report("activated orders", len(activate), len(activate))
    return order_ids, len(lines), len(activate)
