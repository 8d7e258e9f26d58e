"""NetSuite invoices and refunds → Salesforce ``NetSuite_Invoice__c`` / ``NetSuite_Refund__c`` (pure).

SuiteQL rows come in as NetSuite sends them (lowercase keys, every value a string, datetimes as
``TO_CHAR(..., 'YYYY-MM-DD HH24:MI:SS')`` in the *account's* time zone). :func:`parse_transaction`
turns one into a :class:`NetSuiteTransaction` with a real UTC instant; the ``*_to_salesforce``
functions turn that into the record the Collections upsert sends, parents linked by external id
(``Account__r: {NetSuite_Customer_Id__c: …}``) so no lookup query is needed per record.

Time zones: SuiteQL renders datetimes in the account's zone, so a watermark needs the zone's rules
(zoneinfo, DST included) both ways:

- reading: local text → UTC. In the repeated hour when clocks fall back the text is ambiguous and
  nothing in the row says which of the two instants it was; we take the earlier one (``fold=0``),
  consistently, so re-reads never flip the value back and forth.
- querying: :func:`account_time_bounds` turns a UTC window into local ``TO_DATE`` bounds that cover
  the window however NetSuite resolves an ambiguous bound — widening by the repeated hour rather than
  ever narrowing. Reading a few extra records is free (the upsert is idempotent); missing one is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from sfns_pipeline.settings import FieldNames

SUITEQL_DATETIME_FORMAT = "YYYY-MM-DD HH24:MI:SS"  # Oracle format model for TO_CHAR / TO_DATE
SUITEQL_DATE_FORMAT = "YYYY-MM-DD"
_LOCAL_DATETIME = "%Y-%m-%d %H:%M:%S"  # the same format for Python
_CENT = Decimal("0.01")
_SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")

INVOICE_TYPES = ("CustInvc",)  # refund types are a setting: SFNS_REFUND_SYNC_TYPES


# -- account time ---------------------------------------------------------------------------------
def account_time_to_utc(text: str, zone: ZoneInfo) -> datetime:
    """``2026-11-01 01:30:00`` in the account's zone → aware UTC (the earlier instant if ambiguous)."""
    local = datetime.strptime(text.strip(), _LOCAL_DATETIME)
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def utc_to_account_time(moment: datetime, zone: ZoneInfo) -> str:
    """An aware instant as the account's local ``YYYY-MM-DD HH:MM:SS`` text."""
    return moment.astimezone(zone).strftime(_LOCAL_DATETIME)


def _readings(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Both instants NetSuite could mean by a local text (equal unless the text falls in a DST overlap)."""
    local = datetime.strptime(text, _LOCAL_DATETIME)
    first, second = (local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    return min(first, second), max(first, second)


def account_time_bounds(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """Local texts ``(lo, hi)`` such that ``lo <= lastmodifieddate < hi`` covers ``[start, end)`` in UTC.

    Each bound is stepped outwards by an hour until *every* reading of it lies outside the window,
    so the query never narrows, whichever instant NetSuite picks for an ambiguous local time.
    """
    lo_at, hi_at = start, end
    lo = utc_to_account_time(lo_at, zone)
    while _readings(lo, zone)[1] > start:
        lo_at -= timedelta(hours=1)
        lo = utc_to_account_time(lo_at, zone)
    hi = utc_to_account_time(hi_at, zone)
    while _readings(hi, zone)[0] < end:
        hi_at += timedelta(hours=1)
        hi = utc_to_account_time(hi_at, zone)
    return lo, hi


# -- NetSuite side --------------------------------------------------------------------------------
class NetSuiteTransaction(BaseModel):
    """One invoice, credit memo or refund: header values plus a summary of its item lines."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str  # CustInvc, CustCred, CustRfnd, CashRfnd
    tran_id: str | None = None
    tran_date: date | None = None  # a calendar date in the account's zone: never shifted to UTC
    due_date: date | None = None
    customer_id: str | None = None
    order_id: str | None = None  # the sales order it was billed / credited from, if any
    status: str | None = None  # display text: "Open", "Paid In Full", ...
    currency: str | None = None  # ISO code (the currency record's symbol)
    total: Decimal = Decimal(0)
    amount_remaining: Decimal | None = None
    last_modified: datetime  # UTC
    line_count: int = 0
    line_total: Decimal = Decimal(0)


def _text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    return None if value is None or str(value).strip() == "" else str(value).strip()


def _decimal(row: Mapping[str, Any], key: str) -> Decimal | None:
    value = _text(row, key)
    return None if value is None else Decimal(value).quantize(_CENT)


def _status_text(row: Mapping[str, Any]) -> str | None:
    # BUILTIN.DF(status) reads "Invoice : Paid In Full"; Salesforce wants the part after the record type.
    shown = _text(row, "statusname")
    return shown.rsplit(" : ", 1)[-1] if shown else _text(row, "status")


def _order_id(row: Mapping[str, Any]) -> str | None:
    # An invoice is created from its sales order; a credit memo from an invoice, whose own source is the order.
    source_type = _text(row, "createdfromtype")
    if source_type == "SalesOrd":
        return _text(row, "createdfrom")
    if source_type == "CustInvc":
        return _text(row, "createdfromorder")
    return None


def parse_transaction(row: Mapping[str, Any], zone: ZoneInfo) -> NetSuiteTransaction:
    """One SuiteQL row of :mod:`sfns_pipeline.netsuite.transactions` as a :class:`NetSuiteTransaction`."""
    trandate, duedate = _text(row, "trandate"), _text(row, "duedate")
    return NetSuiteTransaction(
        id=str(row["id"]),
        type=str(row["type"]),
        tran_id=_text(row, "tranid"),
        tran_date=date.fromisoformat(trandate) if trandate else None,
        due_date=date.fromisoformat(duedate) if duedate else None,
        customer_id=_text(row, "entity"),
        order_id=_order_id(row),
        status=_status_text(row),
        currency=_text(row, "currency"),
        total=_decimal(row, "foreigntotal") or Decimal(0),
        amount_remaining=_decimal(row, "foreignamountunpaid"),
        last_modified=account_time_to_utc(str(row["lastmodified"]), zone),
        line_count=int(_text(row, "linecount") or 0),
        line_total=_decimal(row, "lineamount") or Decimal(0),
    )


# -- Salesforce side ------------------------------------------------------------------------------
def _salesforce_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _relationship(lookup: str) -> str:
    """The relationship name of a custom lookup field: ``Account__c`` is read and linked as ``Account__r``."""
    return lookup.removesuffix("__c") + "__r"


def _parent(lookup: str, key: str, netsuite_id: str | None) -> dict[str, Any]:
    """A parent by its NetSuite id (an external-id reference); an absent parent clears the lookup."""
    return {_relationship(lookup): {key: netsuite_id}} if netsuite_id else {lookup: None}


def _common(tx: NetSuiteTransaction, fields: FieldNames) -> dict[str, Any]:
    return {
        fields.record_netsuite_id: tx.id,
        "Name": tx.tran_id or f"{tx.type} {tx.id}",
        **_parent(fields.record_account, fields.account_netsuite_id, tx.customer_id),
        **_parent(fields.record_order, fields.order_netsuite_id, tx.order_id),
        fields.record_status: tx.status,
        fields.record_currency: tx.currency,
        fields.record_last_modified: _salesforce_datetime(tx.last_modified),
    }


def invoice_to_salesforce(tx: NetSuiteTransaction, fields: FieldNames) -> dict[str, Any]:
    """The ``NetSuite_Invoice__c`` record for an invoice (upserted by ``fields.record_netsuite_id``)."""
    return _common(tx, fields) | {
        fields.invoice_date: tx.tran_date.isoformat() if tx.tran_date else None,
        fields.invoice_due_date: tx.due_date.isoformat() if tx.due_date else None,
        fields.record_total: float(tx.total),
        fields.record_amount_remaining: float(tx.amount_remaining) if tx.amount_remaining is not None else None,
    }


def refund_to_salesforce(tx: NetSuiteTransaction, fields: FieldNames) -> dict[str, Any]:
    """The ``NetSuite_Refund__c`` record for a customer refund, credit memo or cash refund.

    Amounts are stored positive: NetSuite may sign credits negative, a refund of 40 is 40 to a sales rep.
    """
    return _common(tx, fields) | {
        fields.refund_type: tx.type,
        fields.refund_date: tx.tran_date.isoformat() if tx.tran_date else None,
        fields.record_total: float(abs(tx.total)),
        fields.record_amount_remaining: float(abs(tx.amount_remaining)) if tx.amount_remaining is not None else None,
    }


def salesforce_fields(record: Mapping[str, Any]) -> list[str]:
    """The SOQL columns that read back what ``record`` writes (parents through their external id)."""
    columns: list[str] = []
    for name, value in record.items():
        if isinstance(value, Mapping):  # Account__r: {NetSuite_Customer_Id__c: ...}
            columns += [f"{name}.{key}" for key in value]
        else:
            columns.append(name)
    return sorted(columns)


def _normalised(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).quantize(_CENT)
    if isinstance(value, str) and _SF_DATETIME.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00")).astimezone(UTC)
    return value


def differs(desired: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """True when the Salesforce record ``current`` (as SOQL returned it) is not already ``desired``.

    Unchanged records are then skipped: a re-run of a window writes nothing.
    """
    if current is None:
        return True
    for name, value in desired.items():
        if isinstance(value, Mapping):
            parent = current.get(name) or {}
            if any(parent.get(key) != expected for key, expected in value.items()):
                return True
        elif _normalised(current.get(name)) != _normalised(value):
            return True
    return False
