"""Watermark sensors for the scheduled NetSuite → Salesforce flows (invoices, refunds, ship confirms).

Each flow's asset is partitioned into 15-minute UTC windows. A sensor holds the watermark — the
start of the next window to request — in its cursor and requests closed windows oldest first.

Why a sensor and not a schedule: a window is only *closed* once NetSuite's own clock (read from the
server, never the Dagster host's) has passed its end plus the overlap. A host whose clock runs ahead
would otherwise read a window before NetSuite finished writing it, and those records would be lost.

Why a ``generation`` in the run key: Dagster never launches a run key twice (dagster-facts §1), so
rewinding the watermark with ``SFNS_<FLOW>_REPLAY_FROM`` would silently request nothing. Each replay
bumps the generation, which makes fresh run keys for the replayed windows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from sfns_pipeline.flows.reporting import FLOW_TAG
from sfns_pipeline.settings import WatermarkFlowSettings

WINDOW_FORMAT = "%Y-%m-%d-%H:%M"


def window_partitions(start: datetime, *, minute_offset: int = 0) -> dg.TimeWindowPartitionsDefinition:
    """15-minute UTC windows starting at ``minute_offset`` past the quarter (0 → :00/:15/…, 7 → :07/:22/…)."""
    if not 0 <= minute_offset < 15:
        raise ValueError("minute_offset must be within a quarter hour (0-14)")
    cron = "*/15 * * * *" if minute_offset == 0 else f"{minute_offset}-59/15 * * * *"
    aligned = start.replace(second=0, microsecond=0, tzinfo=None)
    return dg.TimeWindowPartitionsDefinition(
        start=aligned.strftime(WINDOW_FORMAT), fmt=WINDOW_FORMAT, cron_schedule=cron, timezone="UTC"
    )


@dataclass(frozen=True)
class WatermarkCursor:
    """What the sensor remembers between ticks (stored as JSON in the sensor cursor)."""

    next_window: str | None = None  # partition key of the next window to request
    generation: int = 0  # bumped by each replay, part of the run keys
    replay_applied: str | None = None  # the SFNS_<FLOW>_REPLAY_FROM value already applied

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> WatermarkCursor:
        return cls(**json.loads(raw)) if raw else cls()


def _window_key_at(partitions_def: dg.TimeWindowPartitionsDefinition, moment: datetime) -> str:
    """The key of the window that contains ``moment`` (clamped to the first window); naive means UTC."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    first = partitions_def.get_first_partition_key()
    first_start = partitions_def.time_window_for_partition_key(first).start
    if moment.astimezone(UTC) <= first_start:
        return first
    return partitions_def.get_partition_key_for_timestamp(moment.timestamp())


def plan_windows(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    cursor: WatermarkCursor,
    *,
    source_now: datetime,
    overlap: timedelta,
    limit: int,
    replay_from: datetime | None = None,
    host_now: datetime | None = None,
    first_window_at: datetime | None = None,
) -> tuple[list[str], WatermarkCursor]:
    """The closed windows to request now (oldest first, at most ``limit``) and the cursor after them.

    On a fresh cursor the sensor begins at the window containing ``first_window_at`` (default: the
    first window that exists).

    A window is requested only when ``source_now`` (NetSuite's clock) is past its end plus the
    overlap *and* Dagster already knows the partition (its end is past the host's clock).
    """
    if replay_from is not None and cursor.replay_applied != replay_from.isoformat():
        cursor = WatermarkCursor(
            next_window=_window_key_at(partitions_def, replay_from),
            generation=cursor.generation + 1,
            replay_applied=replay_from.isoformat(),
        )
    key = cursor.next_window or (
        _window_key_at(partitions_def, first_window_at) if first_window_at else partitions_def.get_first_partition_key()
    )
    with dg.partition_loading_context(effective_dt=host_now):  # None = the host's clock
        last_known = partitions_def.get_last_partition_key()
    if last_known is None:
        return [], replace(cursor, next_window=key)
    last_known_start = partitions_def.time_window_for_partition_key(last_known).start
    keys: list[str] = []
    while key is not None and len(keys) < limit:
        window = partitions_def.time_window_for_partition_key(key)
        if window.end + overlap > source_now or window.start > last_known_start:
            break
        keys.append(key)
        key = partitions_def.get_next_partition_key(key)
    return keys, replace(cursor, next_window=key)


def watermark_sensor(
    *,
    flow: str,
    target: Sequence[dg.AssetsDefinition] | dg.JobDefinition | Any,  # Any: what dg.define_asset_job returns
    partitions_def: dg.TimeWindowPartitionsDefinition,
    settings: WatermarkFlowSettings,
    source_clock: Callable[..., datetime],
    required_resource_keys: set[str] | None = None,
) -> dg.SensorDefinition:
    """A sensor requesting ``flow``'s closed windows; ``source_clock(context)`` returns NetSuite's now."""

    @dg.sensor(
        name=f"{flow}_watermark_sensor",
        target=target,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys=required_resource_keys,
        description=f"Requests closed 15-minute windows of the {flow} flow; the cursor is the watermark.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = WatermarkCursor.from_json(context.cursor)
        source_now = source_clock(context)
        keys, new_cursor = plan_windows(
            partitions_def,
            cursor,
            source_now=source_now,
            overlap=timedelta(minutes=settings.overlap_minutes),
            limit=settings.max_windows_per_tick,
            replay_from=settings.replay_from,
            first_window_at=settings.start or source_now - timedelta(minutes=settings.first_run_lookback_minutes),
        )
        if new_cursor.generation != cursor.generation:
            context.log.warning(f"{flow}: replaying from {settings.replay_from} (generation {new_cursor.generation})")
        requests = [
            dg.RunRequest(
                partition_key=key,
                run_key=f"{flow}:{key}:g{new_cursor.generation}",
                tags={FLOW_TAG: flow},
            )
            for key in keys
        ]
        skip = None if requests else f"no closed window yet (NetSuite time {source_now:%Y-%m-%d %H:%M:%S} UTC)"
        return dg.SensorResult(run_requests=requests, cursor=new_cursor.to_json(), skip_reason=skip)

    return _sensor
