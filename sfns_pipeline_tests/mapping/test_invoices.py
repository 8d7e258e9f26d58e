"""Invoice/refund mapping: SuiteQL rows → models → Salesforce records, and account time ↔ UTC (DST included)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sfns_pipeline.mapping.invoices import (
    account_time_bounds,
    account_time_to_utc,
    differs,
    invoice_to_salesforce,
    parse_transaction,
    refund_to_salesforce,
    salesforce_fields,
)
from sfns_pipeline.settings import FieldNames

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
FIELDS = FieldNames()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("America/Los_Angeles", "2026-07-01 10:00:00", utc(2026, 7, 1, 17, 0)),  # PDT, UTC-7
        ("America/Los_Angeles", "2026-12-01 10:00:00", utc(2026, 12, 1, 18, 0)),  # PST, UTC-8
        ("America/Los_Angeles", "2026-11-01 00:59:59", utc(2026, 11, 1, 7, 59, 59)),  # last second before the repeat
        ("America/Los_Angeles", "2026-11-01 01:30:00", utc(2026, 11, 1, 8, 30)),  # repeated hour: the earlier one
        ("America/Los_Angeles", "2026-11-01 02:00:00", utc(2026, 11, 1, 10, 0)),
        ("America/Los_Angeles", "2026-03-08 03:30:00", utc(2026, 3, 8, 10, 30)),  # just after spring forward
        ("Europe/Berlin", "2026-10-25 02:30:00", utc(2026, 10, 25, 0, 30)),
        ("Australia/Sydney", "2026-10-04 03:30:00", utc(2026, 10, 3, 16, 30)),  # southern spring forward
    ],
)
def test_account_time_to_utc(zone, local, expected):
    assert account_time_to_utc(local, ZoneInfo(zone)) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (utc(2026, 12, 3, 18, 0), ("2026-12-03 10:00:00", "2026-12-03 10:15:00")),  # an ordinary window: exact
        # 08:30-08:45 UTC is 01:30-01:45 PDT; "01:30" could be read as 09:30 UTC (PST), so start an hour earlier
        (utc(2026, 11, 1, 8, 30), ("2026-11-01 00:30:00", "2026-11-01 01:45:00")),
        # 09:30-09:45 UTC is 01:30-01:45 PST; "01:45" could be read as 08:45 UTC (PDT), so end an hour later
        (utc(2026, 11, 1, 9, 30), ("2026-11-01 01:30:00", "2026-11-01 02:45:00")),
        (utc(2026, 3, 8, 9, 45), ("2026-03-08 01:45:00", "2026-03-08 03:00:00")),  # the skipped hour: exact
    ],
)
def test_account_time_bounds(start, expected):
    assert account_time_bounds(start, start + timedelta(minutes=15), LOS_ANGELES) == expected


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Europe/Berlin", "Australia/Sydney", "America/New_York"])
@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 3, 29), date(2026, 4, 5), date(2026, 10, 4),
                                 date(2026, 10, 25), date(2026, 11, 1)])  # fmt: skip
def test_bounds_cover_every_window_around_dst_changes_whichever_reading_netsuite_picks(zone, day):
    tz = ZoneInfo(zone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=14)
    for step in range(4 * 40):  # every 15-minute window across the 40 hours around the change
        begin = start + timedelta(minutes=15 * step) - timedelta(minutes=2)  # with the overlap
        end = begin + timedelta(minutes=17)
        lo, hi = account_time_bounds(begin, end, tz)
        lo_local, hi_local = (datetime.strptime(text, "%Y-%m-%d %H:%M:%S") for text in (lo, hi))
        lo_readings = {lo_local.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)}
        hi_readings = {hi_local.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)}
        assert max(lo_readings) <= begin and min(hi_readings) >= end
        assert begin - min(lo_readings) <= timedelta(hours=1) and max(hi_readings) - end <= timedelta(hours=1)


# -- rows as the NetSuite sandbox's SuiteQL returns them ------------------------------------------------
INVOICE_ROW = {
    "id": "3", "type": "CustInvc", "tranid": "INV1001", "trandate": "2026-11-01", "duedate": "2026-12-01",
    "entity": "41", "status": "CustInvc:A", "statusname": "Invoice : Open", "currency": "USD",
    "foreigntotal": "30", "foreignamountunpaid": "12.5", "lastmodified": "2026-11-01 01:30:05",
    "createdfrom": "1", "createdfromtype": "SalesOrd", "linecount": "2", "lineamount": "30",
}  # fmt: skip
CREDIT_MEMO_ROW = {
    "id": "4", "type": "CustCred", "tranid": "CM1001", "trandate": "2026-12-03", "entity": "41",
    "status": "CustCred:B", "statusname": "Credit Memo : Fully Applied", "currency": "USD", "foreigntotal": "-15",
    "foreignamountunpaid": "0", "lastmodified": "2026-12-03 08:32:59", "createdfrom": "3",
    "createdfromtype": "CustInvc", "createdfromorder": "1", "linecount": "1", "lineamount": "15",
}  # fmt: skip
REFUND_ROW = {
    "id": "5", "type": "CustRfnd", "tranid": "RFND1001", "trandate": "2026-12-03", "entity": "41",
    "status": "CustRfnd:A", "statusname": "Customer Refund : Open", "currency": "USD", "foreigntotal": "15",
    "lastmodified": "2026-12-03 08:32:59", "linecount": "0",
}  # fmt: skip


def test_parse_invoice_row_keeps_dates_as_dates_and_converts_the_timestamp():
    tx = parse_transaction(INVOICE_ROW, LOS_ANGELES)
    assert tx.tran_date == date(2026, 11, 1)  # a calendar date in the account's zone, never shifted
    assert tx.last_modified == utc(2026, 11, 1, 8, 30, 5)
    assert (tx.total, tx.amount_remaining, tx.status, tx.order_id) == (Decimal("30.00"), Decimal("12.50"), "Open", "1")
    assert (tx.line_count, tx.line_total) == (2, Decimal("30.00"))


@pytest.mark.parametrize(
    ("row", "to_salesforce", "expected"),
    [
        (
            INVOICE_ROW,
            invoice_to_salesforce,
            {
                "NetSuite_Id__c": "3", "Name": "INV1001",
                "Account__r": {"NetSuite_Customer_Id__c": "41"}, "Order__r": {"NetSuite_Order_Id__c": "1"},
                "Status__c": "Open", "Currency__c": "USD", "NetSuite_Last_Modified__c": "2026-11-01T08:30:05.000Z",
                "Invoice_Date__c": "2026-11-01", "Due_Date__c": "2026-12-01",
                "Total__c": 30.0, "Amount_Remaining__c": 12.5,
            },
        ),
        (
            CREDIT_MEMO_ROW,  # credit memo → its invoice → the sales order; a negative total is stored positive
            refund_to_salesforce,
            {
                "NetSuite_Id__c": "4", "Name": "CM1001",
                "Account__r": {"NetSuite_Customer_Id__c": "41"}, "Order__r": {"NetSuite_Order_Id__c": "1"},
                "Status__c": "Fully Applied", "Currency__c": "USD",
                "NetSuite_Last_Modified__c": "2026-12-03T16:32:59.000Z",
                "Refund_Type__c": "CustCred", "Refund_Date__c": "2026-12-03",
                "Total__c": 15.0, "Amount_Remaining__c": 0.0,
            },
        ),
        (
            REFUND_ROW,  # a customer refund has no sales order: the Order lookup is cleared, not left stale
            refund_to_salesforce,
            {
                "NetSuite_Id__c": "5", "Name": "RFND1001",
                "Account__r": {"NetSuite_Customer_Id__c": "41"}, "Order__c": None,
                "Status__c": "Open", "Currency__c": "USD", "NetSuite_Last_Modified__c": "2026-12-03T16:32:59.000Z",
                "Refund_Type__c": "CustRfnd", "Refund_Date__c": "2026-12-03",
                "Total__c": 15.0, "Amount_Remaining__c": None,
            },
        ),
    ],
)  # fmt: skip
def test_salesforce_records(row, to_salesforce, expected):
    assert to_salesforce(parse_transaction(row, LOS_ANGELES), FIELDS) == expected


@pytest.mark.parametrize(
    ("setting", "api_name", "row", "to_salesforce", "written", "selected"),
    [
        ("record_netsuite_id", "NS_Key__c", INVOICE_ROW, invoice_to_salesforce, {"NS_Key__c": "3"}, "NS_Key__c"),
        ("record_status", "Stage__c", INVOICE_ROW, invoice_to_salesforce, {"Stage__c": "Open"}, "Stage__c"),
        ("record_currency", "Ccy__c", INVOICE_ROW, invoice_to_salesforce, {"Ccy__c": "USD"}, "Ccy__c"),
        ("record_total", "Gross__c", INVOICE_ROW, invoice_to_salesforce, {"Gross__c": 30.0}, "Gross__c"),
        ("record_total", "Gross__c", CREDIT_MEMO_ROW, refund_to_salesforce, {"Gross__c": 15.0}, "Gross__c"),
        ("record_amount_remaining", "Open__c", INVOICE_ROW, invoice_to_salesforce, {"Open__c": 12.5}, "Open__c"),
        ("record_last_modified", "NS_Changed__c", INVOICE_ROW, invoice_to_salesforce,
         {"NS_Changed__c": "2026-11-01T08:30:05.000Z"}, "NS_Changed__c"),
        ("invoice_date", "Billed_On__c", INVOICE_ROW, invoice_to_salesforce, {"Billed_On__c": "2026-11-01"},
         "Billed_On__c"),
        ("invoice_due_date", "Due__c", INVOICE_ROW, invoice_to_salesforce, {"Due__c": "2026-12-01"}, "Due__c"),
        ("refund_type", "Kind__c", REFUND_ROW, refund_to_salesforce, {"Kind__c": "CustRfnd"}, "Kind__c"),
        ("refund_date", "Paid_On__c", REFUND_ROW, refund_to_salesforce, {"Paid_On__c": "2026-12-03"}, "Paid_On__c"),
        ("record_account", "Customer__c", INVOICE_ROW, invoice_to_salesforce,
         {"Customer__r": {"NetSuite_Customer_Id__c": "41"}}, "Customer__r.NetSuite_Customer_Id__c"),
        ("record_order", "Sales_Order__c", INVOICE_ROW, invoice_to_salesforce,
         {"Sales_Order__r": {"NetSuite_Order_Id__c": "1"}}, "Sales_Order__r.NetSuite_Order_Id__c"),
        ("record_order", "Sales_Order__c", REFUND_ROW, refund_to_salesforce, {"Sales_Order__c": None},
         "Sales_Order__c"),
        ("account_netsuite_id", "NS_Cust__c", INVOICE_ROW, invoice_to_salesforce,
         {"Account__r": {"NS_Cust__c": "41"}}, "Account__r.NS_Cust__c"),
        ("order_netsuite_id", "NS_SO__c", INVOICE_ROW, invoice_to_salesforce, {"Order__r": {"NS_SO__c": "1"}},
         "Order__r.NS_SO__c"),
    ],
)  # fmt: skip
def test_renamed_fields_are_written_and_read_back(setting, api_name, row, to_salesforce, written, selected):
    record = to_salesforce(parse_transaction(row, LOS_ANGELES), FieldNames(**{setting: api_name}))
    assert written.items() <= record.items()
    default = FieldNames.model_fields[setting].default
    columns = salesforce_fields(record)
    assert selected in columns and not any(default in column.split(".") for column in columns)


def soql_copy(record: dict) -> dict:
    """``record`` as SOQL returns it after the upsert: parents as nested records, datetimes with +0000."""
    out = {"Id": "a025Hs000000001QAA", "attributes": {"type": "NetSuite_Invoice__c"}}
    for name, value in record.items():
        if isinstance(value, dict):
            out[name] = {"attributes": {"type": "Account"}, **value}
        elif name == "NetSuite_Last_Modified__c":
            out[name] = value.replace(".000Z", ".000+0000")
        else:
            out[name] = value
    return out


def test_differs_only_when_salesforce_holds_something_else():
    desired = invoice_to_salesforce(parse_transaction(INVOICE_ROW, LOS_ANGELES), FIELDS)
    current = soql_copy(desired)
    current["Total__c"] = 30  # Salesforce may return a currency as an integer
    assert not differs(desired, current)
    assert differs(desired, None)
    assert differs(desired, current | {"Amount_Remaining__c": 0.0})
    assert differs(desired, current | {"Status__c": "Paid In Full"})
    assert differs(desired, current | {"NetSuite_Last_Modified__c": "2026-11-01T09:30:05.000+0000"})
    assert differs(desired, current | {"Order__r": None})
    assert differs(desired, current | {"Account__r": {"NetSuite_Customer_Id__c": "99"}})


def test_salesforce_fields_read_back_parents_by_their_netsuite_id():
    desired = refund_to_salesforce(parse_transaction(REFUND_ROW, LOS_ANGELES), FIELDS)
    assert "Account__r.NetSuite_Customer_Id__c" in salesforce_fields(desired)
    assert "Order__c" in salesforce_fields(desired) and "Refund_Type__c" in salesforce_fields(desired)
