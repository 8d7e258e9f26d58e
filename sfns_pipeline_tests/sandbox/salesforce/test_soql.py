"""SOQL on the Salesforce sandbox: parent paths, child subqueries, filters, ordering, paging and errors."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfns_pipeline.sandbox.salesforce.errors import MalformedQuery
from sfns_pipeline.sandbox.salesforce.soql import Comparison, InList, parse
from sfns_pipeline_tests.sandbox.salesforce.conftest import first_error, integration_client


@pytest.fixture(scope="module")
def distributor(sf) -> dict:
    """Two accounts (parent and child), products with SKUs, an order with two lines; names carry a tag."""
    tag = uuid.uuid4().hex[:8]
    parent = sf.Account.create({"Name": f"{tag} Holding", "NetSuite_Customer_Id__c": f"{tag}-1", "Industry": "Retail"})
    child = sf.Account.create({"Name": f"{tag} Branch", "ParentId": parent["id"], "BillingCity": "Denver"})
    standard = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    lines = []
    for n, price in ((1, 10.0), (2, 2.5)):
        product = sf.Product2.create(
            {"Name": f"{tag} item {n}", "StockKeepingUnit": f"{tag}-SKU-{n}", "IsActive": True}
        )
        entry = sf.PricebookEntry.create(
            {"Pricebook2Id": standard, "Product2Id": product["id"], "UnitPrice": price, "IsActive": True}
        )
        lines.append((entry["id"], price))
    order = sf.Order.create(
        {
            "AccountId": child["id"],
            "EffectiveDate": "2026-11-30",
            "Status": "Draft",
            "Pricebook2Id": standard,
            "PoNumber": f"PO-{tag}",
        }
    )
    for quantity, (entry, price) in enumerate(lines, start=2):
        sf.OrderItem.create(
            {"OrderId": order["id"], "PricebookEntryId": entry, "Quantity": quantity, "UnitPrice": price}
        )
    return {"tag": tag, "parent": parent["id"], "child": child["id"], "order": order["id"]}


def test_order_with_parent_paths_and_child_subquery(sf, distributor):
    soql = format_soql(
        "SELECT Id, OrderNumber, AccountId, Account.Name, Account.Parent.NetSuite_Customer_Id__c, Status, "
        "EffectiveDate, TotalAmount, (SELECT Id, Product2.StockKeepingUnit, Quantity, UnitPrice, TotalPrice "
        "FROM OrderItems ORDER BY Product2.StockKeepingUnit) FROM Order WHERE Id = {}",
        distributor["order"],
    )
    result = sf.query(soql)
    assert result["totalSize"] == 1 and result["done"] is True
    order = result["records"][0]
    tag = distributor["tag"]
    assert order["attributes"]["type"] == "Order"
    assert order["Account"]["attributes"]["type"] == "Account"
    assert order["Account"]["Name"] == f"{tag} Branch"
    assert order["Account"]["Parent"]["NetSuite_Customer_Id__c"] == f"{tag}-1"
    assert order["EffectiveDate"] == "2026-11-30" and order["TotalAmount"] == 27.5
    items = order["OrderItems"]
    assert (items["totalSize"], items["done"]) == (2, True)
    assert [(i["Product2"]["StockKeepingUnit"], i["Quantity"], i["TotalPrice"]) for i in items["records"]] == [
        (f"{tag}-SKU-1", 2.0, 20.0),
        (f"{tag}-SKU-2", 3.0, 7.5),
    ]
    assert all(i["attributes"]["type"] == "OrderItem" for i in items["records"])


def test_null_lookup_and_empty_child_set(sf, distributor):
    soql = format_soql(
        "SELECT Name, Parent.Name, (SELECT Id FROM Orders) FROM Account WHERE Id = {}", distributor["parent"]
    )
    (parent,) = sf.query(soql)["records"]
    assert parent["Parent"] is None
    assert parent["Orders"] is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = '{tag} holding'", ["Holding"]),  # text comparisons ignore case
        ("Name IN ('{tag} Holding', '{tag} Branch')", ["Branch", "Holding"]),
        ("Name LIKE '{tag}%' AND NOT Name LIKE '%Branch'", ["Holding"]),
        ("Name LIKE '{tag}%' AND ParentId = null", ["Holding"]),
        ("Name LIKE '{tag}%' AND ParentId != null", ["Branch"]),
        ("Name LIKE '{tag}%' AND (Industry = 'Retail' OR BillingCity = 'Denver')", ["Branch", "Holding"]),
        ("Name LIKE '{tag}%' AND Parent.NetSuite_Customer_Id__c = '{tag}-1'", ["Branch"]),
        ("Name LIKE '{tag}%' AND Industry NOT IN ('Retail')", []),
        ("Name LIKE '{tag}%' AND CreatedDate > 2020-01-01T00:00:00Z", ["Branch", "Holding"]),
        ("Name LIKE '{tag}%' AND CreatedDate < 2020-01-01T00:00:00.000+0000", []),
    ],
)
def test_where(sf, distributor, where, expected):
    tag = distributor["tag"]
    soql = f"SELECT Name FROM Account WHERE {where.format(tag=tag)} ORDER BY Name"  # noqa: S608 - test constants
    records = sf.query(soql)["records"]
    assert [r["Name"].removeprefix(f"{tag} ") for r in records] == expected


def _pin_clock_at_noon(sandbox, days_later: int = 0) -> None:
    """Hold the org's clock near noon UTC (today + ``days_later``), so no date literal meets a midnight mid-test."""
    now = datetime.now(UTC)
    noon = datetime.combine(now.date() + timedelta(days=days_later), time(12), tzinfo=UTC)
    sandbox.clock.set_offset((noon - now).total_seconds())


def test_relative_date_literals_follow_the_org_clock(sandbox, endpoints, tag):
    _pin_clock_at_noon(sandbox)
    sf = integration_client(endpoints)  # a token issued on the pinned clock
    sf.Account.create({"Name": f"Dated {tag}"})
    soql = "SELECT Name FROM Account WHERE Name = {} AND CreatedDate = {:literal}"

    def found(literal: str, client) -> bool:
        return client.query(format_soql(soql, f"Dated {tag}", literal))["totalSize"] == 1

    assert [found(literal, sf) for literal in ("TODAY", "LAST_N_DAYS:2", "YESTERDAY", "TOMORROW")] == [
        True,
        True,
        False,
        False,
    ]
    _pin_clock_at_noon(sandbox, days_later=1)
    next_day = integration_client(endpoints)
    assert [found(literal, next_day) for literal in ("TODAY", "YESTERDAY", "LAST_N_DAYS:1", "NEXT_N_DAYS:3")] == [
        False,
        True,
        True,
        False,
    ]
    _pin_clock_at_noon(sandbox, days_later=3)
    assert not found("LAST_N_DAYS:2", integration_client(endpoints))


def test_date_field_filters(sf, distributor):
    tag = distributor["tag"]
    on_or_after = format_soql("SELECT Id FROM Order WHERE PoNumber = {} AND EffectiveDate >= 2026-11-30", f"PO-{tag}")
    after = format_soql("SELECT Id FROM Order WHERE PoNumber = {} AND EffectiveDate > 2026-11-30", f"PO-{tag}")
    assert (sf.query(on_or_after)["totalSize"], sf.query(after)["totalSize"]) == (1, 0)
    listed = format_soql(
        "SELECT Id FROM Order WHERE PoNumber = {} AND EffectiveDate IN (2026-11-29, 2026-11-30)", f"PO-{tag}"
    )
    assert sf.query(listed)["totalSize"] == 1


def test_order_limit_offset_and_count(sf, distributor):
    tag = distributor["tag"]
    descending = sf.query(format_soql("SELECT Name FROM Account WHERE Name LIKE {} ORDER BY Name DESC", f"{tag}%"))
    assert [r["Name"] for r in descending["records"]] == [f"{tag} Holding", f"{tag} Branch"]
    page = sf.query(
        format_soql("SELECT Name FROM Account WHERE Name LIKE {} ORDER BY Name LIMIT 1 OFFSET 1", f"{tag}%")
    )
    assert [r["Name"] for r in page["records"]] == [f"{tag} Holding"]
    counted = sf.query(format_soql("SELECT COUNT() FROM Account WHERE Name LIKE {}", f"{tag}%"))
    assert (counted["totalSize"], counted["records"]) == (2, [])
    at_the_maximum = sf.query(format_soql("SELECT Name FROM Account WHERE Name LIKE {} OFFSET 2000", f"{tag}%"))
    assert at_the_maximum["records"] == []  # 2000 is still a valid offset


def test_paging_with_batch_size_next_records_url_and_query_all(sf, tag):
    for chunk in range(3):  # 450 accounts: three Collections calls
        records = [
            {"attributes": {"type": "Account"}, "Name": f"Page {tag} {chunk}{n:03d}"}
            for n in range(200 if chunk < 2 else 50)
        ]
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    soql = format_soql("SELECT Id, Name FROM Account WHERE Name LIKE {} ORDER BY Name", f"Page {tag}%")
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert (first["totalSize"], first["done"], len(first["records"])) == (450, False, 200)
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)  # the cursor keeps its batch size
    assert (second["done"], len(second["records"])) == (False, 200)
    last = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert (last["done"], len(last["records"])) == (True, 50)
    assert "nextRecordsUrl" not in last
    names = [r["Name"] for page in (first, second, last) for r in page["records"]]
    assert names == sorted(names) and len(set(names)) == 450
    everything = sf.query_all(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert len(everything["records"]) == 450 == everything["totalSize"]
    assert everything["records"][0]["Name"] == names[0]


def test_unknown_query_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query_more("01g5Hs000000000AAA-200")
    assert first_error(refused.value)["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_includes_deleted_records(sf, tag):
    record_id = sf.Account.create({"Name": f"Deleted {tag}"})["id"]
    sf.Account.delete(record_id)
    soql = format_soql("SELECT Id, IsDeleted FROM Account WHERE Name = {}", f"Deleted {tag}")
    assert sf.query(soql)["totalSize"] == 0
    assert sf.query(soql, include_deleted=True)["records"][0]["IsDeleted"] is True


def test_datetimes_are_formatted_like_salesforce(sf, distributor):
    (record,) = sf.query(format_soql("SELECT CreatedDate FROM Account WHERE Id = {}", distributor["parent"]))["records"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000", record["CreatedDate"])


@pytest.mark.parametrize(
    ("soql", "code", "detail"),
    [
        ("SELECT Id, Nmae FROM Account", "INVALID_FIELD", "No such column 'Nmae' on entity 'Account'."),
        ("SELECT Id FROM Acount", "INVALID_TYPE", "sObject type 'Acount' is not supported."),
        ("SELECT Id, Acount.Name FROM Contact__x", "INVALID_TYPE", "sObject type 'Contact__x' is not supported."),
        (
            "SELECT Id, Acount.Name FROM Order",
            "INVALID_FIELD",
            "Didn't understand relationship 'Acount' in field path.",
        ),
        ("SELECT Id, (SELECT Id FROM Items) FROM Order", "INVALID_TYPE", "Didn't understand relationship 'Items'"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD", "must be of type string and should be enclosed"),
        ("SELECT Id FROM Account WHERE CreatedDate > '2020-01-01'", "INVALID_FIELD", "must be of type datetime"),
        ("SELECT Id FROM Account WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
        ("SELECT Id FROM Account ORDER BY", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY", "COUNT() must be the only element"),
        ("SELECT Name, COUNT() FROM Account", "MALFORMED_QUERY", "COUNT() must be the only element"),
        (
            "SELECT Id FROM Account LIMIT 5 OFFSET 2001",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "maximum SOQL offset allowed is 2000",
        ),
    ],
)
def test_bad_queries(sf, soql, code, detail):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query(soql)
    error = first_error(refused.value)
    assert error["errorCode"] == code
    assert detail in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_error_caret_points_at_the_bad_column(sf):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query("SELECT Id, Nmae FROM Account")
    lines = first_error(refused.value)["message"].split("\n")
    assert lines[1:4] == ["SELECT Id, Nmae FROM Account", "           ^", "ERROR at Row:1:Column:12"]


@pytest.mark.parametrize(
    ("soql", "check"),
    [
        (
            "select id from account where name = 'O\\'Brien'",
            lambda q: q.where == Comparison(q.where.field, "=", q.where.value) and q.where.value.value == "O'Brien",
        ),
        (
            "SELECT Id FROM Order WHERE Status NOT IN ('Draft')",
            lambda q: isinstance(q.where, InList) and q.where.negated,
        ),
        ("SELECT Id FROM Order WHERE Amount <> -1.5", lambda q: q.where.op == "!=" and q.where.value.value == -1.5),
    ],
)
def test_parser(soql, check):
    assert check(parse(soql))


def test_parser_rejects_garbage():
    with pytest.raises(MalformedQuery):
        parse("SELECT Id FROM Account WHERE Name = = 'x'")
