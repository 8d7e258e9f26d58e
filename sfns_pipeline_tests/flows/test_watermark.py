"""Watermark planning: which windows a tick requests, whatever the clocks say."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sfns_pipeline.flows.watermark import WatermarkCursor, plan_windows, watermark_sensor, window_partitions
from sfns_pipeline.settings import InvoiceSyncSettings

START = datetime(2026, 12, 3, 9, 0)
OVERLAP = timedelta(minutes=2)
invoice_windows = window_partitions(START)
refund_windows = window_partitions(START, minute_offset=7)


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, 3, hour, minute, second, tzinfo=UTC)


def plan(cursor=WatermarkCursor(), *, source_now, host_now=None, limit=8, replay_from=None, windows=invoice_windows):
    return plan_windows(
        windows,
        cursor,
        source_now=source_now,
        host_now=host_now or source_now,
        overlap=OVERLAP,
        limit=limit,
        replay_from=replay_from,
    )


@pytest.mark.parametrize(
    ("source_now", "host_now", "expected"),
    [
        # first start: every closed window from the configured start, oldest first
        (at(10, 3), at(10, 3), ["2026-12-03-09:00", "2026-12-03-09:15", "2026-12-03-09:30", "2026-12-03-09:45"]),
        # the window 09:45-10:00 is not closed until NetSuite's clock passes 10:02 (overlap)
        (at(10, 1, 59), at(10, 1, 59), ["2026-12-03-09:00", "2026-12-03-09:15", "2026-12-03-09:30"]),
        # NetSuite 10 minutes behind the host: NetSuite's clock decides
        (at(9, 46), at(10, 3), ["2026-12-03-09:00", "2026-12-03-09:15"]),
        # NetSuite 10 minutes ahead: still no window Dagster does not know yet
        (at(10, 13), at(10, 3), ["2026-12-03-09:00", "2026-12-03-09:15", "2026-12-03-09:30", "2026-12-03-09:45"]),
    ],
)
def test_closed_windows_follow_netsuite_clock(source_now, host_now, expected):
    keys, cursor = plan(source_now=source_now, host_now=host_now)
    assert keys == expected
    assert cursor.next_window == invoice_windows.get_next_partition_key(expected[-1])


def test_steady_state_requests_only_new_windows():
    _, cursor = plan(source_now=at(10, 3))
    assert plan(cursor, source_now=at(10, 10))[0] == []
    keys, cursor = plan(cursor, source_now=at(10, 17, 30))
    assert keys == ["2026-12-03-10:00"]


def test_catch_up_is_bounded_per_tick_and_resumes():
    keys, cursor = plan(source_now=at(12, 3), limit=3)
    assert keys == ["2026-12-03-09:00", "2026-12-03-09:15", "2026-12-03-09:30"]
    keys, _ = plan(cursor, source_now=at(12, 3), limit=3)
    assert keys == ["2026-12-03-09:45", "2026-12-03-10:00", "2026-12-03-10:15"]


def test_replay_rewinds_once_with_a_new_generation():
    _, cursor = plan(source_now=at(11, 3))
    keys, replayed = plan(cursor, source_now=at(11, 3), replay_from=datetime(2026, 12, 3, 9, 20, tzinfo=UTC))
    assert keys[0] == "2026-12-03-09:15"
    assert replayed.generation == cursor.generation + 1
    again, _ = plan(replayed, source_now=at(11, 3), replay_from=datetime(2026, 12, 3, 9, 20, tzinfo=UTC))
    assert again == []  # applied once, not on every tick


def test_refund_windows_are_staggered_by_seven_minutes():
    keys, _ = plan(source_now=at(9, 38), windows=refund_windows)
    assert keys == ["2026-12-03-09:07"]
    assert refund_windows.time_window_for_partition_key(keys[0]).end == at(9, 22)


def test_sensor_run_keys_are_stable_and_cursor_advances():
    @dg.asset(partitions_def=invoice_windows)
    def invoices():
        return None

    settings = InvoiceSyncSettings(start=START)
    sensor = watermark_sensor(
        flow="invoices",
        target=[invoices],
        partitions_def=invoice_windows,
        settings=settings,
        source_clock=lambda context: datetime.now(UTC),
    )
    defs = dg.Definitions(assets=[invoices], sensors=[sensor])

    def context(cursor=None):
        return dg.build_sensor_context(cursor=cursor, definitions=defs)

    first = sensor.evaluate_tick(context())
    assert len(first.run_requests) == settings.max_windows_per_tick
    assert first.run_requests[0].run_key == "invoices:2026-12-03-09:00:g0"
    # the same tick evaluated twice (cursor not saved) asks for the same run keys: Dagster dedupes them
    assert [r.run_key for r in sensor.evaluate_tick(context()).run_requests] == [r.run_key for r in first.run_requests]
    second = sensor.evaluate_tick(context(first.cursor))
    assert second.run_requests[0].partition_key == invoice_windows.get_next_partition_key(
        first.run_requests[-1].partition_key
    )


def test_a_naive_replay_date_means_utc_whatever_the_host_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        _, cursor = plan(source_now=at(11, 3))
        keys, _ = plan(cursor, source_now=at(11, 3), replay_from=datetime(2026, 12, 3, 9, 20))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert keys[0] == "2026-12-03-09:15"


def test_fresh_install_without_start_looks_back_only_a_day():
    @dg.asset(partitions_def=window_partitions(datetime(2026, 1, 1)))
    def invoices():
        return None

    windows = invoices.partitions_def
    sensor = watermark_sensor(
        flow="invoices",
        target=[invoices],
        partitions_def=windows,
        settings=InvoiceSyncSettings(),  # no SFNS_INVOICE_SYNC_START
        source_clock=lambda context: datetime.now(UTC),
    )
    result = sensor.evaluate_tick(
        dg.build_sensor_context(definitions=dg.Definitions(assets=[invoices], sensors=[sensor]))
    )
    first = windows.time_window_for_partition_key(result.run_requests[0].partition_key).start
    assert timedelta(hours=23, minutes=45) <= datetime.now(UTC) - first <= timedelta(hours=24, minutes=15)
