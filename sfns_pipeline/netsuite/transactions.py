"""SuiteQL reads of invoices and refunds: header fields plus a summary of their item lines.

Paging is by keyset on the internal id, inside a window that is fixed for the whole read:
``lastmodifieddate`` in ``[since, until)`` and ``id > <last id of the previous page>``, ordered by id.
Why not ``ORDER BY lastmodifieddate, id`` with a keyset on both, nor offset paging:

- offset paging over live data skips rows: a record on page 1 that is modified while page 2 is read
  leaves the window, every later row moves up one place, and one of them is never returned;
- a keyset on ``lastmodifieddate`` has to send the last timestamp back as account-local text, which
  is ambiguous for the repeated hour when clocks fall back — NetSuite may read it an hour off and
  skip or repeat a page's worth of records.

The id is unique and immutable, so every record matching the window when its page is read is
returned exactly once, also when several share one ``lastmodifieddate`` across a page boundary. A
record modified while we page leaves this window for the window of its modification, which reads it
then. Every value reaches NetSuite as a bound parameter; nothing is spliced into the query text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from sfns_pipeline.mapping.invoices import SUITEQL_DATE_FORMAT, SUITEQL_DATETIME_FORMAT
from sfns_pipeline.netsuite.rest import SUITEQL_MAX_PAGE, NetSuiteRestClient

_TYPE_CODE = re.compile(r"^[A-Za-z]{2,20}$")
_INTERNAL_ID = re.compile(r"^\d{1,19}$")

_COLUMNS = f"""
    t.id, t.type, t.tranid,
    TO_CHAR(t.trandate, '{SUITEQL_DATE_FORMAT}') AS trandate,
    TO_CHAR(t.duedate, '{SUITEQL_DATE_FORMAT}') AS duedate,
    t.entity, t.status, BUILTIN.DF(t.status) AS statusname,
    cur.symbol AS currency, t.foreigntotal, t.foreignamountunpaid,
    TO_CHAR(t.lastmodifieddate, '{SUITEQL_DATETIME_FORMAT}') AS lastmodified,
    t.createdfrom, src.type AS createdfromtype, src.createdfrom AS createdfromorder,
    (SELECT COUNT(*) FROM transactionline tl WHERE tl.transaction = t.id AND tl.mainline = 'F') AS linecount,
    (SELECT SUM(tl.foreignamount) FROM transactionline tl WHERE tl.transaction = t.id AND tl.mainline = 'F')
        AS lineamount
"""  # noqa: S608 - constant text: only the format models are interpolated
_FROM = """
FROM transaction t
LEFT JOIN currency cur ON cur.id = t.currency
LEFT JOIN transaction src ON src.id = t.createdfrom
"""


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


def _type_codes(types: Sequence[str]) -> list[str]:
    codes = list(dict.fromkeys(types))
    if not codes or not all(_TYPE_CODE.match(code) for code in codes):
        raise ValueError(f"transaction types must be NetSuite type codes like CustInvc, got {types!r}")
    return codes


def modified_query(type_count: int) -> str:
    """Transactions of the given types modified in ``[?, ?)`` (account-local text) with ``id > ?``.

    The ``TO_DATE`` format models are bound too (Oracle accepts a bind variable there), which keeps the
    query text constant.
    """
    return (
        f"SELECT {_COLUMNS} {_FROM}"
        f"WHERE t.type IN ({_placeholders(type_count)})"
        " AND t.lastmodifieddate >= TO_DATE(?, ?) AND t.lastmodifieddate < TO_DATE(?, ?)"
        " AND t.id > ? ORDER BY t.id"
    )


def by_id_query(type_count: int, id_count: int) -> str:
    """Transactions of the given types with the given internal ids."""
    return (
        f"SELECT {_COLUMNS} {_FROM}"
        f"WHERE t.type IN ({_placeholders(type_count)}) AND t.id IN ({_placeholders(id_count)}) ORDER BY t.id"
    )


def transactions_modified(
    client: NetSuiteRestClient, *, types: Sequence[str], since: str, until: str, page_size: int = 50
) -> Iterator[list[dict[str, Any]]]:
    """Pages of rows whose ``lastmodifieddate`` is in ``[since, until)`` (``YYYY-MM-DD HH:MM:SS``, account time).

    One SuiteQL call per page; the generator reads the next page only when asked.
    """
    if not 1 <= page_size <= SUITEQL_MAX_PAGE:
        raise ValueError("page_size must be within 1-1000")
    codes = _type_codes(types)
    query = modified_query(len(codes))
    after = "0"
    while True:
        params = [*codes, since, SUITEQL_DATETIME_FORMAT, until, SUITEQL_DATETIME_FORMAT, after]
        page = client.suiteql(query, params, limit=page_size)
        if page.items:
            yield page.items
        if not page.has_more or len(page.items) < page_size:
            return
        after = str(page.items[-1]["id"])


def transactions_by_id(
    client: NetSuiteRestClient, *, types: Sequence[str], ids: Sequence[str], page_size: int = 50
) -> Iterator[list[dict[str, Any]]]:
    """Pages of rows for the given internal ids (e.g. dead letters due for a retry); unknown ids are absent."""
    codes = _type_codes(types)
    wanted = list(dict.fromkeys(str(i) for i in ids))
    bad = [i for i in wanted if not _INTERNAL_ID.match(i)]
    if bad:
        raise ValueError(f"not NetSuite internal ids: {bad[:5]!r}")
    for start in range(0, len(wanted), page_size):
        chunk = wanted[start : start + page_size]
        page = client.suiteql(by_id_query(len(codes), len(chunk)), [*codes, *chunk], limit=page_size)
        if page.items:
            yield page.items
