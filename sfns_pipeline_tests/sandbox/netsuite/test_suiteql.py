"""SuiteQL: Prefer: transient, limit/offset rules, string values, Oracle functions, account time zone."""

import time
from datetime import UTC, datetime

import pytest

from sfns_pipeline.sandbox.netsuite.suiteql import MAX_RESULTS, QueryPage
from sfns_pipeline_tests.sandbox.netsuite.conftest import tba_auth, unique


def set_clock(ns, sandbox, instant: datetime) -> None:
    """Move the sandbox clock; the client signs with timestamps from that clock, as TBA requires."""
    sandbox.clock.set_offset(instant.timestamp() - time.time())
    ns.session.auth = tba_auth(ns.endpoints, timestamp=str(int(instant.timestamp())))


def make_customers(ns, basics, count, **fields):
    tag = unique("Q")
    for n in range(count):
        ns.create("customer", {"companyName": f"{tag} {n:02d}", "subsidiary": {"id": basics.subsidiary}} | fields)
    return tag


def error_code(response):
    return response.json()["o:errorDetails"][0]["o:errorCode"]


def test_pages_carry_has_more_offset_and_total(ns, basics):
    tag = make_customers(ns, basics, 7)
    query = "SELECT id, companyname FROM customer WHERE companyname LIKE ? ORDER BY id"
    pages = [ns.suiteql(query, params=[f"{tag}%"], limit=3, offset=offset).json() for offset in (0, 3, 6)]
    assert [(p["count"], p["hasMore"], p["offset"], p["totalResults"]) for p in pages] == [
        (3, True, 0, 7),
        (3, True, 3, 7),
        (1, False, 6, 7),
    ]
    names = [item["companyname"] for page in pages for item in page["items"]]
    assert names == [f"{tag} {n:02d}" for n in range(7)]
    assert {link["rel"] for link in pages[1]["links"]} >= {"self", "next", "prev", "first", "last"}


def test_prefer_transient_is_required(ns):
    response = ns.session.post(ns.url("query/v1/suiteql"), json={"q": "SELECT id FROM customer"})
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorHeader"] == "Prefer"


@pytest.mark.parametrize(("limit", "offset"), [(1001, 0), (0, 0), (10, 15), (1000, MAX_RESULTS)])
def test_limit_and_offset_rules(ns, limit, offset):
    response = ns.suiteql("SELECT id FROM customer", limit=limit, offset=offset)
    assert response.status_code == 400
    assert error_code(response) == "INVALID_PARAMETER"


def test_results_stop_at_the_hundred_thousand_row_ceiling():
    last_reachable = QueryPage(items=[{}] * 1000, total=250_000, offset=MAX_RESULTS - 1000, limit=1000)
    assert not last_reachable.has_more
    assert QueryPage(items=[{}] * 1000, total=250_000, offset=0, limit=1000).has_more


def test_values_are_strings_columns_lowercase_and_nulls_left_out(ns, basics):
    tag = make_customers(ns, basics, 1, creditLimit=2500)
    query = "SELECT ID, CompanyName, CreditLimit, Email FROM customer WHERE companyname LIKE ?"
    (row,) = ns.suiteql(query, params=[f"{tag}%"]).json()["items"]
    assert row["links"] == []
    assert set(row) == {"links", "id", "companyname", "creditlimit"}
    assert row["creditlimit"] == "2500" and row["id"].isdigit()


def test_bound_parameters_and_fetch_first(ns, basics):
    tag = make_customers(ns, basics, 4)
    query = (
        "SELECT companyname FROM customer WHERE companyname LIKE ? ORDER BY companyname DESC FETCH FIRST 2 ROWS ONLY"
    )
    body = ns.suiteql(query, params=[f"{tag}%"]).json()
    assert [item["companyname"] for item in body["items"]] == [f"{tag} 03", f"{tag} 02"]


def test_invalid_query_is_a_400_with_netsuites_wording(ns):
    response = ns.suiteql("SELECT id FROM no_such_table")
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["detail"].startswith("Invalid search query")
    assert ns.suiteql("DELETE FROM customer").status_code == 400


@pytest.mark.parametrize(
    ("instant", "local_date", "local_time"),
    [
        (datetime(2024, 1, 15, 6, 30, 10, tzinfo=UTC), "1/14/2024", "2024-01-14 22:30"),  # PST, UTC-8
        (datetime(2024, 7, 15, 6, 30, 10, tzinfo=UTC), "7/14/2024", "2024-07-14 23:30"),  # PDT, UTC-7
    ],
    ids=["winter", "summer"],
)
def test_dates_show_in_the_account_time_zone(ns, ns_sandbox, basics, instant, local_date, local_time):
    set_clock(ns, ns_sandbox, instant)
    tag = make_customers(ns, basics, 1)
    query = (
        "SELECT lastmodifieddate, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI') AS lm "
        "FROM customer WHERE companyname LIKE ?"
    )
    (row,) = ns.suiteql(query, params=[f"{tag}%"]).json()["items"]
    assert (row["lastmodifieddate"], row["lm"]) == (local_date, local_time)


def test_to_date_filters_in_account_local_time(ns, ns_sandbox, basics):
    set_clock(ns, ns_sandbox, datetime(2024, 3, 10, 12, 0, 10, tzinfo=UTC))  # 05:00:10 PDT, the day DST began
    tag = make_customers(ns, basics, 1)

    def count_since(local):
        query = (
            "SELECT COUNT(*) AS n FROM customer WHERE companyname LIKE ? "
            "AND lastmodifieddate >= TO_DATE(?, 'YYYY-MM-DD HH24:MI:SS')"
        )
        response = ns.suiteql(query, params=[f"{tag}%", local])
        assert response.status_code == 200, response.text
        return response.json()["items"][0]["n"]

    assert (count_since("2024-03-10 05:00:00"), count_since("2024-03-10 05:01:00")) == ("1", "0")


def test_transactions_have_netsuite_type_codes_statuses_and_display_names(ns, ns_sandbox, basics):
    backend = ns_sandbox.components["netsuite"].backend
    order = ns.create(
        "salesOrder",
        {
            "entity": {"id": basics.customer},
            "item": {"items": [{"item": {"id": basics.item}, "quantity": 2, "rate": 10}]},
        },
    )
    backend.fulfill_sales_order(order, tracking_numbers=["1Z999"])
    invoice = backend.bill_sales_order(order)
    query = (
        "SELECT t.id, t.type, t.status, BUILTIN.DF(t.status) AS status_name, BUILTIN.DF(t.entity) AS customer, "
        "BUILTIN.DF(t.createdfrom) AS source, t.foreigntotal, t.foreignamountunpaid "
        "FROM transaction t WHERE t.createdfrom = ? ORDER BY t.id"
    )
    rows = ns.suiteql(query, params=[order]).json()["items"]
    assert [(r["type"], r["status"]) for r in rows] == [("ItemShip", "ItemShip:C"), ("CustInvc", "CustInvc:A")]
    invoice_row = rows[1]
    assert invoice_row["id"] == invoice
    assert invoice_row["status_name"] == "Invoice : Open"
    assert invoice_row["customer"] == ns.get("customer", basics.customer)["companyName"]
    assert invoice_row["source"].startswith("Sales Order #")
    assert (invoice_row["foreigntotal"], invoice_row["foreignamountunpaid"]) == ("20", "20")
    (order_row,) = ns.suiteql("SELECT type, status FROM transaction WHERE id = ?", params=[order]).json()["items"]
    assert (order_row["type"], order_row["status"]) == ("SalesOrd", "SalesOrd:G")


def test_lastmodifieddate_follows_the_sandbox_clock_on_every_change(ns, ns_sandbox, basics):
    set_clock(ns, ns_sandbox, datetime(2025, 2, 1, 20, 0, 10, tzinfo=UTC))
    internal_id = ns.create("customer", {"companyName": unique("Mod "), "subsidiary": {"id": basics.subsidiary}})
    set_clock(ns, ns_sandbox, datetime(2025, 2, 3, 20, 0, 10, tzinfo=UTC))
    ns.session.patch(ns.record(f"customer/{internal_id}"), json={"phone": "555"})
    query = (
        "SELECT TO_CHAR(lastmodifieddate, 'YYYY-MM-DD') AS lm, TO_CHAR(datecreated, 'YYYY-MM-DD') AS c "
        "FROM customer WHERE id = ?"
    )
    (row,) = ns.suiteql(query, params=[internal_id]).json()["items"]
    assert (row["c"], row["lm"]) == ("2025-02-01", "2025-02-03")
