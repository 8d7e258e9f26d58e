"""Invoice sync (flow 3a) against both sandboxes: windows land once, re-runs are free, nothing is lost.

Each test places its NetSuite activity in its own past window (by moving the sandbox clock), so tests
sharing the module's sandbox never see each other's records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sfns_pipeline.flows.dead_letters import ReplayRegistry, build_replay_job
from sfns_pipeline.flows.failures import TRANSIENT_RETRY_POLICY
from sfns_pipeline.flows.invoices import INVOICE_SYNC, invoice_defs, invoice_sync, invoice_windows
from sfns_pipeline.flows.transaction_sync import build_transaction_sync
from sfns_pipeline.flows.watermark import WatermarkCursor, plan_windows
from sfns_pipeline.settings import InvoiceSyncSettings
from sfns_pipeline_tests.flows.transaction_harness import Harness, check_result, metadata

INVOICES = "NetSuite_Invoice__c"
ASSET = "salesforce_invoices"
# The production policy's shape without its minutes of waiting.
QUICK_RETRY = dg.RetryPolicy(max_retries=1, delay=0.1, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def key(moment: datetime) -> str:
    return invoice_windows.get_partition_key_for_timestamp(moment.timestamp())


@pytest.fixture
def harness(module_sandbox, tmp_path, monkeypatch) -> Iterator[Harness]:
    harness = Harness.start(module_sandbox, tmp_path, monkeypatch)
    yield harness
    harness.close()


def test_window_of_120_invoices_lands_once_and_a_later_payment_updates_it(harness):
    window = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    harness.at(window + timedelta(minutes=3))
    customer = harness.customer()
    billed = harness.bill(customer, 120)

    with harness.salesforce_requests() as requests:
        first = harness.materialize(invoice_defs, key(window))
        first_requests = requests()
    stats = metadata(first, ASSET)
    assert (stats["fetched"], stats["pages"], stats["created"], stats["failed"]) == (120, 3, 120, 0)
    assert stats["max_last_modified"].startswith("2026-03-02T10:0")
    assert "| NetSuite id |" in stats["preview"]
    records = harness.records(INVOICES, [b.invoice_id for b in billed])
    assert len(records) == 120
    for b in billed:
        record = records[b.invoice_id]
        assert record["Account__r"]["NetSuite_Customer_Id__c"] == customer
        assert record["Order__r"]["NetSuite_Order_Id__c"] == b.order_id
        assert (record["Total__c"], record["Amount_Remaining__c"], record["Status__c"]) == (25.0, 25.0, "Open")
        assert record["Currency__c"] == "USD"
    assert check_result(first).passed

    with harness.salesforce_requests() as requests:
        again = harness.materialize(invoice_defs, key(window))
        again_requests = requests()
    stats_again = metadata(again, ASSET)
    assert (stats_again["unchanged"], stats_again["created"], stats_again["updated"]) == (120, 0, 0)
    # Salesforce's allowance, counted on the wire: 120 records are one SOQL read and one Collections upsert
    # (plus the reconciliation check's one SOQL); the re-run reads the same and writes nothing.
    assert first_requests == {"soql": 2, "upsert": 1}
    assert again_requests == {"soql": 2, "upsert": 0}
    # The run's metadata reports the asset's calls (a login only when no token was cached in this process).
    assert stats["salesforce_api_calls"] in (2, 3) and stats_again["salesforce_api_calls"] in (1, 2)
    assert len(harness.records(INVOICES, [b.invoice_id for b in billed])) == 120  # no duplicates

    paid = billed[7]
    harness.at(window + timedelta(minutes=47))
    harness.pay(customer, paid.invoice_id, 25.0)
    later = harness.materialize(invoice_defs, key(window + timedelta(minutes=47)))
    assert (metadata(later, ASSET)["updated"], metadata(later, ASSET)["created"]) == (1, 0)
    record = harness.records(INVOICES, [paid.invoice_id])[paid.invoice_id]
    assert (record["Status__c"], record["Amount_Remaining__c"]) == ("Paid In Full", 0.0)
    assert check_result(later).passed


def test_salesforce_rejecting_2_of_50_lands_48_mails_once_and_retries_them(harness):
    window = datetime(2026, 3, 3, 14, 15, tzinfo=UTC)
    harness.at(window + timedelta(minutes=5))
    known = harness.customer()
    billed = harness.bill(known, 48)
    unknown = harness.customer(in_salesforce=False)  # its Account is not in Salesforce yet
    billed_unknown = harness.bill(unknown, 2, in_salesforce=False)
    rejected = [b.invoice_id for b in billed_unknown]

    first = harness.materialize(invoice_defs, key(window))
    stats = metadata(first, ASSET)
    assert (stats["fetched"], stats["created"], stats["failed"]) == (50, 48, 2)
    assert set(harness.records(INVOICES, [b.invoice_id for b in billed])) == {b.invoice_id for b in billed}
    assert harness.records(INVOICES, rejected) == {}
    entries = harness.resources["ledger"].ledger().entries("invoice_sync")
    assert sorted(e.source_id for e in entries) == sorted(rejected)
    (mail,) = harness.mails()
    body = mail.get_body(("html",)).get_content()
    assert all(invoice_id in body for invoice_id in rejected)
    check = check_result(first)
    assert not check.passed and check.severity is dg.AssetCheckSeverity.WARN
    assert check.metadata["drifted_ids"].value == sorted(rejected, key=int)

    # The Account and its Orders arrive in Salesforce; the next run of any window retries the dead letters.
    harness.sync_parents(unknown, billed_unknown)
    retry = harness.materialize(invoice_defs, key(window + timedelta(hours=1)))
    retry_stats = metadata(retry, ASSET)
    assert (retry_stats["dead_letters_retried"], retry_stats["created"], retry_stats["failed"]) == (2, 2, 0)
    assert set(harness.records(INVOICES, rejected)) == set(rejected)
    assert all(e.status == "resolved" for e in harness.resources["ledger"].ledger().entries("invoice_sync"))
    assert len(harness.mails()) == 1  # nothing failed on the retry: no second email


def test_single_run_backfill_over_a_range_of_windows(harness):
    start = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
    customer = harness.customer()
    billed = []
    for offset in (5, 35, 65):  # three different windows
        harness.at(start + timedelta(minutes=offset))
        billed += harness.bill(customer, 2)
    result = harness.materialize(
        invoice_defs,
        tags={
            "dagster/asset_partition_range_start": key(start),
            "dagster/asset_partition_range_end": key(start + timedelta(minutes=75)),
        },
    )
    assert len(result.asset_materializations_for_node(ASSET)) == 6  # one per window of the range
    assert metadata(result, ASSET)["created"] == 6
    assert set(harness.records(INVOICES, [b.invoice_id for b in billed])) == {b.invoice_id for b in billed}


@pytest.mark.parametrize("netsuite_ahead_minutes", [10, -10])
def test_netsuite_clock_skew_never_loses_records(harness, netsuite_ahead_minutes):
    """Ticks close windows by NetSuite's clock (its Date header), never the host's: no invoice is read too early."""
    skew = timedelta(minutes=netsuite_ahead_minutes)
    host = datetime(2026, 3, 5 if netsuite_ahead_minutes > 0 else 6, 9, 20, 30, tzinfo=UTC)
    customer = harness.customer()
    netsuite = harness.netsuite()
    cursor = WatermarkCursor(next_window=key(host + skew))
    billed: list[str] = []
    requested: list[str] = []
    for minute in range(0, 36, 4):  # NetSuite activity every four minutes, a sensor tick after each
        harness.at(host + skew + timedelta(minutes=minute))
        billed += [b.invoice_id for b in harness.bill(customer, 1)]
        keys, cursor = plan_windows(
            invoice_windows,
            cursor,
            source_now=netsuite.server_time(),
            host_now=host + timedelta(minutes=minute),
            overlap=timedelta(minutes=2),
            limit=8,
        )
        requested += keys
        for window_key in keys:
            harness.materialize(invoice_defs, window_key)
    assert len(requested) == len(set(requested)) >= 1
    # Every invoice whose window was read is in Salesforce, including those NetSuite wrote late in the window.
    read_windows = {invoice_windows.time_window_for_partition_key(k) for k in requested}
    expected = [i for i in billed if any(w.start <= last_modified(harness, i) < w.end for w in read_windows)]
    assert len(expected) >= 3
    assert set(harness.records(INVOICES, expected)) == set(expected)


def last_modified(harness, invoice_id: str) -> datetime:
    stamp = harness.backend.get("invoice", internal_id=invoice_id)["lastModifiedDate"]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_a_record_committed_after_its_window_was_read_is_caught_by_the_next_windows_overlap(harness):
    customer = harness.customer()
    window = DAY + timedelta(hours=10)  # 10:00-10:15 of 2026-03-06
    harness.at(window + timedelta(minutes=17, seconds=30))  # closed: past its end plus the 2-minute overlap
    assert metadata(harness.materialize(invoice_defs, key(window)), ASSET)["fetched"] == 0
    # An invoice stamped 10:14 by a transaction that commits only now, after 10:00-10:15 was read:
    harness.at(window + timedelta(minutes=14))
    (late,) = harness.bill(customer, 1)
    assert window <= last_modified(harness, late.invoice_id) < window + timedelta(minutes=15)
    assert harness.records(INVOICES, [late.invoice_id]) == {}

    harness.at(window + timedelta(minutes=32, seconds=30))
    next_window = harness.materialize(invoice_defs, key(window + timedelta(minutes=15)))  # reads from 10:13
    assert (metadata(next_window, ASSET)["fetched"], metadata(next_window, ASSET)["created"]) == (1, 1)
    assert set(harness.records(INVOICES, [late.invoice_id])) == {late.invoice_id}


def test_dst_fall_back_hour_in_the_account_time_zone(harness):
    """2026-11-01 01:00-02:00 happens twice in Los Angeles; records from both hours land in their windows."""
    customer = harness.customer()
    first_pass = datetime(2026, 11, 1, 8, 40, tzinfo=UTC)  # 01:40 PDT
    second_pass = datetime(2026, 11, 1, 9, 40, tzinfo=UTC)  # 01:40 PST: the same local time
    harness.at(first_pass)
    (early,) = harness.bill(customer, 1)
    harness.at(second_pass)
    (late,) = harness.bill(customer, 1)
    for moment in (first_pass, second_pass):
        assert metadata(harness.materialize(invoice_defs, key(moment)), ASSET)["failed"] == 0
    records = harness.records(INVOICES, [early.invoice_id, late.invoice_id])
    assert set(records) == {early.invoice_id, late.invoice_id}
    assert records[early.invoice_id]["NetSuite_Last_Modified__c"].startswith("2026-11-01T08:40")


# -- the watermark sensor, evaluated with build_sensor_context against NetSuite's (moved) clock ---------------
DAY = datetime(2026, 3, 6, tzinfo=UTC)


def sensor_defs(retry_policy=TRANSIENT_RETRY_POLICY, **settings):
    return build_transaction_sync(
        replace(
            invoice_sync,
            settings=InvoiceSyncSettings(start=datetime(2026, 3, 6, 9, 0), **settings),
            retry_policy=retry_policy,
        )
    )


def test_sensor_first_start_steady_state_and_a_tick_evaluated_twice(harness):
    defs = sensor_defs()
    harness.at(DAY + timedelta(hours=10, minutes=8, seconds=30))
    first = sensor_tick(harness, defs)
    assert [r.partition_key for r in first.run_requests] == [
        "2026-03-06-09:00", "2026-03-06-09:15", "2026-03-06-09:30", "2026-03-06-09:45"
    ]  # fmt: skip
    assert first.run_requests[0].run_key == "invoice_sync:2026-03-06-09:00:g0"
    # The cursor was not saved (say the tick timed out): evaluated again, it asks for the same run keys,
    # which Dagster launches only once.
    twice = sensor_tick(harness, defs)
    assert [r.run_key for r in twice.run_requests] == [r.run_key for r in first.run_requests]

    harness.at(DAY + timedelta(hours=10, minutes=16, seconds=30))  # 10:00-10:15 closes at 10:17 NetSuite time
    quiet = sensor_tick(harness, defs, first.cursor)
    assert quiet.run_requests == [] and "no closed window" in quiet.skip_message
    harness.at(DAY + timedelta(hours=10, minutes=17, seconds=30))
    steady = sensor_tick(harness, defs, quiet.cursor)
    assert [r.partition_key for r in steady.run_requests] == ["2026-03-06-10:00"]


def test_sensor_replay_from_setting_rewinds_once_with_fresh_run_keys(harness):
    defs = sensor_defs(replay_from=datetime(2026, 3, 6, 9, 20), max_windows_per_tick=3)
    harness.at(DAY + timedelta(hours=11, minutes=3))
    caught_up = WatermarkCursor(next_window="2026-03-06-11:00").to_json()  # everything up to 11:00 was read
    replayed = sensor_tick(harness, defs, caught_up)
    assert replayed.run_requests[0].partition_key == "2026-03-06-09:15"
    assert replayed.run_requests[0].run_key == "invoice_sync:2026-03-06-09:15:g1"  # never launched before
    cursor = WatermarkCursor.from_json(replayed.cursor)
    assert cursor.replay_applied == "2026-03-06T09:20:00"
    # Applied once: the next tick carries on from where the replay got to.
    after = sensor_tick(harness, defs, replayed.cursor)
    assert after.run_requests[0].partition_key == invoice_windows.get_next_partition_key(
        replayed.run_requests[-1].partition_key
    )


def sensor_tick(harness, defs, cursor=None, instance=None):
    definitions = dg.Definitions(
        assets=[defs.source, defs.asset], asset_checks=[defs.check], sensors=[defs.sensor], resources=harness.resources
    )
    with dg.build_sensor_context(
        cursor=cursor,
        definitions=definitions,
        resources=harness.resources,
        instance=instance or dg.DagsterInstance.ephemeral(),
    ) as context:
        return defs.sensor.evaluate_tick(context)


# -- outages: the step retries them; a window whose run still failed is requested again ---------------------
def step_retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(event.event_type is dg.DagsterEventType.STEP_UP_FOR_RETRY for event in result.all_events)


def test_an_outage_longer_than_the_client_retries_is_retried_by_the_step(harness):
    assert invoice_defs.asset.op.retry_policy == TRANSIENT_RETRY_POLICY  # what production runs with
    window = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    harness.at(window + timedelta(minutes=5))
    billed = harness.bill(harness.customer(), 2)
    harness.reconfigure_netsuite(max_attempts=2)
    with harness.netsuite_outage(requests=2):  # both of the client's attempts at the first page: 503
        result = harness.materialize(
            build_transaction_sync(replace(invoice_sync, retry_policy=QUICK_RETRY)), key(window)
        )
    assert result.success and step_retries(result) == 1
    assert metadata(result, ASSET)["created"] == 2
    assert set(harness.records(INVOICES, [b.invoice_id for b in billed])) == {b.invoice_id for b in billed}


def test_refused_credentials_fail_the_window_at_once_without_retries(harness):
    harness.reconfigure_netsuite(token_secret="not-the-secret")
    defs = build_transaction_sync(replace(invoice_sync, retry_policy=QUICK_RETRY))
    result = harness.materialize(defs, key(datetime(2026, 3, 7, 11, 0, tzinfo=UTC)), raise_on_error=False)
    assert not result.success and step_retries(result) == 0
    (failure,) = [event for event in result.all_events if event.event_type is dg.DagsterEventType.STEP_FAILURE]
    assert "Authentication failed, check the credentials" in failure.step_failure_data.error.message


def test_a_window_whose_run_failed_is_requested_again_and_lands_once_netsuite_is_back(harness):
    defs = sensor_defs(retry_policy=QUICK_RETRY, failed_window_retry_minutes=0)
    instance = dg.DagsterInstance.ephemeral()
    window = DAY + timedelta(hours=12)  # 12:00-12:15 of 2026-03-06
    harness.at(window + timedelta(minutes=5))
    (billed,) = harness.bill(harness.customer(), 1)
    harness.at(window + timedelta(minutes=17, seconds=30))
    tick = sensor_tick(harness, defs, WatermarkCursor(next_window="2026-03-06-12:00").to_json(), instance)
    (request,) = tick.run_requests

    harness.reconfigure_netsuite(max_attempts=2)
    with harness.netsuite_outage():  # longer than the client's retries and the step's
        failed = harness.materialize(
            defs, request.partition_key, instance=instance, tags=request.tags, raise_on_error=False
        )
    assert not failed.success and step_retries(failed) == 1
    assert harness.records(INVOICES, [billed.invoice_id]) == {}

    again = sensor_tick(harness, defs, tick.cursor, instance)  # the watermark has moved on; the window has not
    (retry,) = again.run_requests
    assert (retry.partition_key, retry.run_key) == ("2026-03-06-12:00", "invoice_sync:2026-03-06-12:00:g0:a1")
    landed = harness.materialize(defs, retry.partition_key, instance=instance, tags=retry.tags)
    assert metadata(landed, ASSET)["created"] == 1
    assert set(harness.records(INVOICES, [billed.invoice_id])) == {billed.invoice_id}
    assert sensor_tick(harness, defs, again.cursor, instance).run_requests == []  # its latest run succeeded


def test_operator_retry_of_dead_letters_through_the_replay_job(harness):
    window = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    harness.at(window + timedelta(minutes=5))
    unknown = harness.customer(in_salesforce=False)
    billed = harness.bill(unknown, 2, in_salesforce=False)
    assert metadata(harness.materialize(invoice_defs, key(window)), ASSET)["failed"] == 2
    harness.sync_parents(unknown, billed)

    registry = ReplayRegistry()  # only this flow's handler: other flows' resources are not configured here
    registry.register(INVOICE_SYNC, resource_keys=("netsuite", "salesforce"))(invoice_defs.replay)
    result = build_replay_job(registry).execute_in_process(
        run_config={"ops": {"replay": {"config": {"flow": "invoice_sync", "all": True}}}},
        resources=harness.resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    ids = [b.invoice_id for b in billed]
    assert set(harness.records(INVOICES, ids)) == set(ids)
    assert {e.status for e in harness.resources["ledger"].ledger().entries("invoice_sync")} == {"resolved"}
