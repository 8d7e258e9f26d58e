"""SuiteQL: Prefer: transient, limit/offset rules, string values, Oracle functions, account time zone."""

import time
from datetime import UTC, datetime

import pytest

from sfns_pipeline.netsuite.transactions import by_id_query
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


def only_row(ns, query, params=None):
    response = ns.suiteql(query, params=params)
    assert response.status_code == 200, response.text
    (row,) = response.json()["items"]
    return row


@pytest.mark.parametrize(
    ("text", "model", "shown"),
    [
        ("2026-03-08 01:30:00", "YYYY-MM-DD HH24:MI:SS", "2026-03-08 01:30:00"),  # just before DST begins
        ("2026-03-08 01:30:00", "yyyy-mm-dd hh24:mi:ss", "2026-03-08 01:30:00"),
        ("03/08/2026 01:30 PM", "MM/DD/YYYY HH:MI AM", "2026-03-08 13:30:00"),  # HH is the 12-hour clock
        ("08-Mar-2026", "DD-Mon-YYYY", "2026-03-08 00:00:00"),
    ],
)
def test_to_date_and_to_char_take_literal_or_bound_format_models(ns, text, model, shown):
    out_model = "YYYY-MM-DD HH24:MI:SS"
    literal = only_row(ns, f"SELECT TO_CHAR(TO_DATE('{text}', '{model}'), '{out_model}') AS d FROM dual")  # noqa: S608
    bound = only_row(ns, "SELECT TO_CHAR(TO_DATE(?, ?), ?) AS d FROM dual", params=[text, model, out_model])
    assert literal["d"] == bound["d"] == shown


def test_to_char_keeps_the_literal_models_case_and_12_hour_clock(ns):
    query = "SELECT TO_CHAR(TO_DATE('2026-07-04 18:05:00', 'YYYY-MM-DD HH24:MI:SS'), 'Mon DD, YYYY HH:MI AM') AS d"
    row = only_row(ns, f"{query} FROM dual")
    assert row["d"] == "Jul 04, 2026 06:05 PM"


def test_to_number_nvl_coalesce_case_concatenation_and_numeric_functions(ns):
    query = (
        "SELECT TO_NUMBER('12.5') + 1 AS plus, TO_NUMBER('1,234', '9G999') AS grouped, "
        "NVL(NULL, 'fallback') AS nvl, COALESCE(NULL, NULL, 3) AS firstset, "
        "CASE WHEN TO_NUMBER('2') > 1 THEN 'big' ELSE 'small' END AS size, "
        "'INV' || '-' || NULL || 7 AS joined, UPPER('ab') AS up, LOWER('AB') AS low, "
        "ROUND(2.567, 2) AS r2, ROUND(2.5) AS r0, ABS(-3) AS abs, TRUNC(15.79, 1) AS t1 FROM dual"
    )
    assert only_row(ns, query) == {
        "links": [],
        "plus": "13.5",
        "grouped": "1234",
        "nvl": "fallback",
        "firstset": "3",
        "size": "big",
        "joined": "INV-7",  # a null operand of || is the empty string, as in Oracle
        "up": "AB",
        "low": "ab",
        "r2": "2.57",
        "r0": "3",
        "abs": "3",
        "t1": "15.7",
    }


def test_to_number_over_a_column_and_invalid_numbers(ns, basics):
    tag = make_customers(ns, basics, 1, phone="0042")
    row = only_row(ns, "SELECT TO_NUMBER(phone) * 2 AS doubled FROM customer WHERE companyname LIKE ?", [f"{tag}%"])
    assert row["doubled"] == "84"
    response = ns.suiteql("SELECT TO_NUMBER('12abc') AS n FROM dual")
    assert response.status_code == 400
    assert "Invalid number" in response.json()["o:errorDetails"][0]["detail"]


def test_sysdate_arithmetic_and_trunc_follow_the_sandbox_clock_in_account_time(ns, ns_sandbox):
    set_clock(ns, ns_sandbox, datetime(2026, 3, 9, 19, 30, 10, tzinfo=UTC))  # 12:30:10 PDT, the day after DST began
    model = "YYYY-MM-DD HH24:MI:SS"
    query = (
        "SELECT TO_CHAR(SYSDATE, ?) AS now, TO_CHAR(SYSDATE - 1, ?) AS yesterday, "
        "TO_CHAR(SYSDATE - (1/24), ?) AS hour_ago, TO_CHAR(TRUNC(SYSDATE), ?) AS midnight, "
        "TO_CHAR(TRUNC(SYSDATE) - 1, ?) AS yesterday_midnight, TO_CHAR(CURRENT_DATE, ?) AS today, "
        "TO_CHAR(SYSDATE + INTERVAL '30' MINUTE, ?) AS later, SYSDATE - TRUNC(SYSDATE - 2) AS days FROM dual"
    )
    row = only_row(ns, query, [model] * 7)
    assert row == {
        "links": [],
        "now": "2026-03-09 12:30:10",
        "yesterday": "2026-03-08 12:30:10",  # a calendar day on the wall clock (23 hours, as clocks sprang forward)
        "hour_ago": "2026-03-09 11:30:10",
        "midnight": "2026-03-09 00:00:00",
        "yesterday_midnight": "2026-03-08 00:00:00",
        "today": "2026-03-09 12:30:10",
        "later": "2026-03-09 13:00:10",
        "days": repr(2 + (12 * 3600 + 30 * 60 + 10) / 86400),
    }


def test_date_arithmetic_filters_recent_records(ns, ns_sandbox, basics):
    set_clock(ns, ns_sandbox, datetime(2026, 5, 1, 12, 0, 10, tzinfo=UTC))
    old = make_customers(ns, basics, 1)
    set_clock(ns, ns_sandbox, datetime(2026, 5, 3, 12, 0, 10, tzinfo=UTC))
    new = make_customers(ns, basics, 1)
    query = (
        "SELECT COUNT(*) AS n FROM customer WHERE (companyname LIKE ? OR companyname LIKE ?) "
        "AND lastmodifieddate >= SYSDATE - 1"
    )
    assert only_row(ns, query, [f"{old}%", f"{new}%"])["n"] == "1"
    assert only_row(ns, query.replace("SYSDATE - 1", "TRUNC(SYSDATE) - 2"), [f"{old}%", f"{new}%"])["n"] == "2"


def test_transactionline_has_a_mainline_row_per_transaction(ns, ns_sandbox, basics):
    backend = ns_sandbox.components["netsuite"].backend
    lines = [{"item": {"id": basics.item}, "quantity": q, "rate": 10} for q in (1, 2)]
    order = ns.create("salesOrder", {"entity": {"id": basics.customer}, "memo": "two lines", "item": {"items": lines}})
    backend.fulfill_sales_order(order)
    invoice = backend.bill_sales_order(order)
    query = (
        "SELECT tl.mainline, tl.linesequencenumber, tl.entity, tl.subsidiary, tl.createdfrom, "
        "BUILTIN.DF(tl.createdfrom) AS source, tl.foreignamount FROM transactionline tl "
        "WHERE tl.transaction = ? ORDER BY tl.linesequencenumber"
    )
    rows = ns.suiteql(query, params=[invoice]).json()["items"]
    header, *items = rows
    assert header["mainline"] == "T" and header["linesequencenumber"] == "0"
    assert (header["entity"], header["subsidiary"], header["createdfrom"]) == (
        basics.customer,
        basics.subsidiary,
        order,
    )
    assert header["source"].startswith("Sales Order #")
    assert header["foreignamount"] == "30"  # the transaction's total
    assert [(r["mainline"], r["foreignamount"]) for r in items] == [("F", "10"), ("F", "20")]


def test_rewriting_lines_keeps_one_mainline_row_and_the_pipelines_line_summary(ns, basics):
    order = ns.create(
        "salesOrder",
        {"entity": {"id": basics.customer}, "item": {"items": [{"item": {"id": basics.item}, "quantity": 1}]}},
    )
    three = [{"item": {"id": basics.item}, "quantity": 1, "rate": r} for r in (1, 2, 3)]
    assert ns.session.patch(ns.record(f"salesOrder/{order}"), json={"item": {"items": three}}).status_code == 204
    query = (
        "SELECT mainline, COUNT(*) AS n FROM transactionline WHERE transaction = ? GROUP BY mainline ORDER BY mainline"
    )
    counts = {r["mainline"]: r["n"] for r in ns.suiteql(query, params=[order]).json()["items"]}
    assert counts == {"F": "3", "T": "1"}
    (row,) = ns.suiteql(by_id_query(1, 1), params=["SalesOrd", order]).json()["items"]
    assert (row["linecount"], row["lineamount"], row["foreigntotal"]) == ("3", "6", "6")


def test_payments_have_a_mainline_row_too(ns, ns_sandbox, basics):
    backend = ns_sandbox.components["netsuite"].backend
    order = ns.create(
        "salesOrder",
        {"entity": {"id": basics.customer}, "item": {"items": [{"item": {"id": basics.item}, "quantity": 2}]}},
    )
    backend.fulfill_sales_order(order)
    invoice = backend.bill_sales_order(order)
    payment = ns.create(
        "customerPayment",
        {
            "customer": {"id": basics.customer},
            "payment": 25,
            "apply": {"items": [{"doc": {"id": invoice}, "apply": True, "amount": 25}]},
        },
    )
    query = "SELECT mainline, entity, foreignamount FROM transactionline WHERE transaction = ?"
    (row,) = ns.suiteql(query, params=[payment]).json()["items"]
    assert (row["mainline"], row["entity"], row["foreignamount"]) == ("T", basics.customer, "25")
