"""Watermark planning: which windows a tick requests, whatever the clocks say."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from sfns_pipeline.flows.reporting import FLOW_TAG
from sfns_pipeline.flows.watermark import (
    ATTEMPT_TAG,
    WatermarkCursor,
    plan_windows,
    watermark_sensor,
    window_partitions,
)
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

    instance = dg.DagsterInstance.ephemeral()

    def context(cursor=None):
        return dg.build_sensor_context(cursor=cursor, definitions=defs, instance=instance)

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
        dg.build_sensor_context(
            definitions=dg.Definitions(assets=[invoices], sensors=[sensor]), instance=dg.DagsterInstance.ephemeral()
        )
    )
    first = windows.time_window_for_partition_key(result.run_requests[0].partition_key).start
    assert timedelta(hours=23, minutes=45) <= datetime.now(UTC) - first <= timedelta(hours=24, minutes=15)


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 12, 3, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")),  # SFNS_INVOICE_SYNC_START=...T10:00+01:00
        datetime(2026, 12, 3, 1, 0, tzinfo=ZoneInfo("America/Los_Angeles")),
        datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 9, 0),  # naive means UTC
    ],
)
def test_a_start_with_a_time_zone_is_converted_to_utc(start):
    assert window_partitions(start).get_first_partition_key() == "2026-12-03-09:00"


def test_a_replay_date_with_a_time_zone_is_converted_to_utc():
    _, cursor = plan(source_now=at(11, 3))
    berlin = datetime(2026, 12, 3, 10, 20, tzinfo=ZoneInfo("Europe/Berlin"))  # 09:20 UTC
    keys, _ = plan(cursor, source_now=at(11, 3), replay_from=berlin)
    assert keys[0] == "2026-12-03-09:15"


# -- failed windows are requested again: real runs in an ephemeral instance ------------------------------
class Failed:
    """A flow whose runs fail when tagged ``fail=yes``; its sensor watches them through the instance."""

    def __init__(self, **settings) -> None:
        @dg.asset(partitions_def=invoice_windows)
        def invoices(context: dg.AssetExecutionContext) -> None:
            if context.run.tags.get("fail") == "yes":
                raise ConnectionError("NetSuite unreachable")

        self.asset = invoices
        self.settings = InvoiceSyncSettings(**{"start": START, "failed_window_retry_minutes": 0, **settings})
        self.sensor = watermark_sensor(
            flow="invoices",
            target=[invoices],
            partitions_def=invoice_windows,
            settings=self.settings,
            source_clock=lambda context: at(11, 3),
        )
        self.instance = dg.DagsterInstance.ephemeral()
        self.defs = dg.Definitions(assets=[invoices], sensors=[self.sensor])

    def tick(self, cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(cursor=cursor, definitions=self.defs, instance=self.instance)
        return self.sensor.evaluate_tick(context)

    def run(self, request: dg.RunRequest, *, fail: bool) -> bool:
        result = dg.materialize(
            [self.asset],
            partition_key=request.partition_key,
            instance=self.instance,
            tags={**request.tags, "fail": "yes" if fail else "no"},
            raise_on_error=False,
        )
        return result.success


def caught_up() -> str:
    return WatermarkCursor(next_window="2026-12-03-11:00").to_json()  # 09:00-10:45 requested already


def test_a_failed_window_is_requested_again_with_a_new_run_key_until_it_succeeds():
    flow = Failed()
    (first,) = flow.tick(WatermarkCursor(next_window="2026-12-03-10:45").to_json()).run_requests
    assert first.partition_key == "2026-12-03-10:45"
    assert not flow.run(first, fail=True)

    again = flow.tick(caught_up())
    assert [(r.partition_key, r.run_key, r.tags[ATTEMPT_TAG]) for r in again.run_requests] == [
        ("2026-12-03-10:45", "invoices:2026-12-03-10:45:g0:a1", "1")
    ]
    assert not flow.run(again.run_requests[0], fail=True)
    (third,) = flow.tick(caught_up()).run_requests
    assert (third.run_key, third.tags[FLOW_TAG]) == ("invoices:2026-12-03-10:45:g0:a2", "invoices")

    assert flow.run(third, fail=False)  # NetSuite is back
    assert flow.tick(caught_up()).run_requests == []  # the latest run of the window succeeded


def test_re_requests_are_bounded_per_tick_and_per_window_and_skip_windows_ahead_of_the_watermark():
    flow = Failed(max_windows_per_tick=2, failed_window_retries=1)
    keys = ["2026-12-03-09:00", "2026-12-03-09:15", "2026-12-03-09:30", "2026-12-03-11:00"]
    for key in keys:
        assert not flow.run(dg.RunRequest(partition_key=key, tags={FLOW_TAG: "invoices"}), fail=True)
    assert not flow.run(dg.RunRequest(partition_key="2026-12-03-09:45", tags={FLOW_TAG: "other_flow"}), fail=True)

    first = flow.tick(caught_up())
    assert [r.partition_key for r in first.run_requests] == keys[:2]  # oldest first, two per tick
    for request in first.run_requests:
        flow.run(request, fail=True)
    # 11:00 is not behind the watermark (the sensor requests it normally); 09:00 and 09:15 used their one retry.
    assert [r.partition_key for r in flow.tick(caught_up()).run_requests] == ["2026-12-03-09:30"]


def test_a_failed_window_waits_for_the_backoff():
    waiting = Failed(failed_window_retry_minutes=30)
    assert not waiting.run(dg.RunRequest(partition_key="2026-12-03-10:00", tags={FLOW_TAG: "invoices"}), fail=True)
    assert waiting.tick(caught_up()).run_requests == []  # failed just now: asked again 30 minutes later
