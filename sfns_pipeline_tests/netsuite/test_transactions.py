"""SuiteQL reads of invoices/refunds against the NetSuite sandbox: keyset paging loses and repeats nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sfns_pipeline.mapping.invoices import INVOICE_TYPES, SUITEQL_DATETIME_FORMAT, account_time_bounds
from sfns_pipeline.netsuite.transactions import by_id_query, modified_query, transactions_by_id, transactions_modified
from sfns_pipeline_tests.flows.transaction_harness import Harness

ZONE = ZoneInfo("America/Los_Angeles")  # the sandbox account's time zone


@pytest.fixture
def harness(module_sandbox, tmp_path, monkeypatch) -> Iterator[Harness]:
    harness = Harness.start(module_sandbox, tmp_path, monkeypatch)
    yield harness
    harness.close()


def read(harness: Harness, start: datetime, *, page_size: int, minutes: int = 15):
    since, until = account_time_bounds(start, start + timedelta(minutes=minutes), ZONE)
    return transactions_modified(harness.netsuite(), types=INVOICE_TYPES, since=since, until=until, page_size=page_size)


def test_records_sharing_one_lastmodifieddate_across_page_boundaries_are_read_once(harness):
    start = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    harness.at(start + timedelta(minutes=1))
    invoices = [b.invoice_id for b in harness.bill(harness.customer(), 7)]
    harness.set_last_modified(invoices, start + timedelta(minutes=5))  # one bulk update: one timestamp

    pages = list(read(harness, start, page_size=3))
    assert [len(page) for page in pages] == [3, 3, 1]
    ids = Counter(row["id"] for page in pages for row in page)
    assert ids == Counter(invoices)
    assert {row["lastmodified"] for page in pages for row in page} == {"2026-05-04 03:05:00"}  # PDT, to the second


def test_a_record_modified_while_pages_are_read_is_neither_skipped_nor_repeated(harness):
    start = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)
    harness.at(start + timedelta(minutes=1))
    customer = harness.customer()
    invoices = [b.invoice_id for b in harness.bill(customer, 9)]
    since, until = account_time_bounds(start, start + timedelta(minutes=15), ZONE)

    keyset = read(harness, start, page_size=3)
    # For contrast, the same filter paged by offset (what suiteql_pages does):
    params = [*INVOICE_TYPES, since, SUITEQL_DATETIME_FORMAT, until, SUITEQL_DATETIME_FORMAT, "0"]
    by_offset = harness.netsuite().suiteql_pages(modified_query(1), params, page_size=3)
    first, offset_first = next(keyset), next(by_offset)
    # While we page, someone pays an invoice we already read and one we have not read yet: both move
    # out of this window into the window of their modification.
    harness.at(start + timedelta(minutes=40))
    harness.pay(customer, first[0]["id"], 25.0)
    harness.pay(customer, invoices[-1], 25.0)

    read_ids = Counter(row["id"] for row in [*first, *(row for page in keyset for row in page)])
    assert read_ids == Counter(invoices[:-1])  # each unmodified invoice once; the one paid later is not here ...
    later = [row["id"] for page in read(harness, start + timedelta(minutes=30), page_size=3) for row in page]
    assert set(later) == {first[0]["id"], invoices[-1]}  # ... but in the window of its modification
    # Offset paging shifts every later row up one place: an unmodified invoice is never returned.
    offset_ids = {row["id"] for row in [*offset_first.items, *(row for page in by_offset for row in page.items)]}
    assert set(invoices[:-1]) - offset_ids


def test_dead_letters_are_read_back_by_id(harness):
    harness.at(datetime(2026, 5, 4, 12, 1, tzinfo=UTC))
    invoices = [b.invoice_id for b in harness.bill(harness.customer(), 3)]
    pages = list(transactions_by_id(harness.netsuite(), types=INVOICE_TYPES, ids=[*invoices, "999999"], page_size=2))
    assert [row["id"] for page in pages for row in page] == invoices  # an unknown id is simply absent


@pytest.mark.parametrize("types", [(), ("CustInvc'; DROP",)])
def test_only_type_codes_reach_the_query(types):
    with pytest.raises(ValueError):
        next(transactions_modified(None, types=types, since="x", until="y"))


def test_only_internal_ids_reach_the_query():
    with pytest.raises(ValueError):
        next(transactions_by_id(None, types=INVOICE_TYPES, ids=["12 OR 1=1"]))


def test_queries_bind_every_value():
    assert "'" not in modified_query(1).rsplit("WHERE", 1)[1]  # the filter is all placeholders
    assert by_id_query(2, 3).count("?") == 5


@pytest.mark.parametrize("minutes", [10, -10])
def test_server_time_is_netsuites_clock_and_a_skewed_host_still_signs_in(harness, minutes):
    netsuite = harness.netsuite()
    harness.sandbox.clock.set_offset(minutes * 60)
    netsuite_now = netsuite.server_time()  # TBA allows 5 minutes of skew: the client re-syncs from Date
    assert abs(netsuite_now - (datetime.now(UTC) + timedelta(minutes=minutes))) < timedelta(seconds=5)
    assert netsuite.suiteql("SELECT id FROM currency", limit=1).items is not None
