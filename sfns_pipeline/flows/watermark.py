"""Watermark sensors for the scheduled NetSuite → Salesforce flows (invoices, refunds, ship confirms).

Each flow's asset is partitioned into 15-minute UTC windows. A sensor holds the watermark — the
start of the next window to request — in its cursor and requests closed windows oldest first.

Why a sensor and not a schedule: a window is only *closed* once NetSuite's own clock (read from the
server, never the Dagster host's) has passed its end plus the overlap. A host whose clock runs ahead
would otherwise read a window before NetSuite finished writing it, and those records would be lost.

Why a ``generation`` in the run key: Dagster never launches a run key twice (dagster-facts §1), so
rewinding the watermark with ``SFNS_<FLOW>_REPLAY_FROM`` would silently request nothing. Each replay
bumps the generation, which makes fresh run keys for the replayed windows.

Why the sensor also looks back: the cursor moves when a window is *requested*, and a run that then
fails (NetSuite down for longer than every retry) has used its run key for good. So each tick reads
the flow's recent runs (one query) and requests again, under a new run key ``…:a<attempt>``, the
windows behind the watermark whose latest run failed — after a backoff that doubles per attempt, at
most ``failed_window_retries`` times; after that the window waits for an operator (backfill or
re-execution in the UI).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from sfns_pipeline.flows.reporting import FLOW_TAG
from sfns_pipeline.settings import WatermarkFlowSettings

WINDOW_FORMAT = "%Y-%m-%d-%H:%M"
PARTITION_TAG = "dagster/partition"  # set by Dagster on every single-partition run
ATTEMPT_TAG = "sfns/window_attempt"  # on runs that request a failed window again: 1, 2, ...
RUN_HISTORY = 300  # runs read per tick to find failed windows: ~3 days of one flow at 96 windows a day


def window_partitions(start: datetime, *, minute_offset: int = 0) -> dg.TimeWindowPartitionsDefinition:
    """15-minute UTC windows starting at ``minute_offset`` past the quarter (0 → :00/:15/…, 7 → :07/:22/…).

    ``start`` may carry a time zone (``SFNS_<FLOW>_START=2026-03-01T09:00+01:00``): it is converted to
    UTC, never just stripped. A naive ``start`` means UTC.
    """
    if not 0 <= minute_offset < 15:
        raise ValueError("minute_offset must be within a quarter hour (0-14)")
    cron = "*/15 * * * *" if minute_offset == 0 else f"{minute_offset}-59/15 * * * *"
    utc_start = start.astimezone(UTC) if start.tzinfo else start
    aligned = utc_start.replace(second=0, microsecond=0, tzinfo=None)
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
        """The cursor as the string Dagster stores between ticks."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> WatermarkCursor:
        """The cursor from a stored string; a sensor that never ticked starts empty."""
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


@dataclass(frozen=True)
class WindowRetry:
    """A window behind the watermark whose latest run failed, to be requested again."""

    partition_key: str
    attempt: int  # 1 for the first re-request


def plan_retries(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    runs: Iterable[dg.RunRecord],
    *,
    watermark: str | None,
    now: datetime,
    max_attempts: int,
    delay: timedelta,
    limit: int,
) -> list[WindowRetry]:
    """The failed windows to request again now, oldest first, at most ``limit``.

    ``runs`` are the flow's recent runs, newest first: a window's latest run decides (a later success,
    or a run still queued or in progress, means nothing to do). Only windows before ``watermark`` (the
    next window to request) count; a window that failed ``max_attempts`` re-requests is left to an
    operator. Re-request ``n`` waits ``delay`` x 2^(n-1) after the failed run ended.
    """
    if watermark is None or max_attempts <= 0:
        return []
    first_start = partitions_def.time_window_for_partition_key(partitions_def.get_first_partition_key()).start
    watermark_start = partitions_def.time_window_for_partition_key(watermark).start
    latest: dict[str, dg.RunRecord] = {}
    attempts: dict[str, int] = {}  # the highest attempt of each window's runs: run keys never repeat
    for record in runs:
        key = record.dagster_run.tags.get(PARTITION_TAG)
        if key is None:
            continue
        latest.setdefault(key, record)
        attempts[key] = max(attempts.get(key, 0), int(record.dagster_run.tags.get(ATTEMPT_TAG, "0")))
    due: list[tuple[datetime, WindowRetry]] = []
    for key, record in latest.items():
        run = record.dagster_run
        if run.status is not dg.DagsterRunStatus.FAILURE:
            continue
        try:
            start = partitions_def.time_window_for_partition_key(key).start
        except ValueError:  # a key of another window layout (the partitions changed since)
            continue
        attempt = attempts[key] + 1
        ended = datetime.fromtimestamp(record.end_time, UTC) if record.end_time else record.update_timestamp
        if not first_start <= start < watermark_start or attempt > max_attempts:
            continue
        if ended + delay * 2 ** (attempt - 1) <= now:
            due.append((start, WindowRetry(key, attempt)))
    return [retry for _, retry in sorted(due, key=lambda item: item[0])[:limit]]


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
        generation = new_cursor.generation
        requests = [
            dg.RunRequest(partition_key=key, run_key=f"{flow}:{key}:g{generation}", tags={FLOW_TAG: flow})
            for key in keys
        ]
        retries = plan_retries(
            partitions_def,
            # one query per tick, however many windows: the flow's latest runs, newest first
            context.instance.get_run_records(dg.RunsFilter(tags={FLOW_TAG: flow}), limit=RUN_HISTORY),
            watermark=new_cursor.next_window,
            now=datetime.now(UTC),  # run end times are stamped by this host's clock
            max_attempts=settings.failed_window_retries,
            delay=timedelta(minutes=settings.failed_window_retry_minutes),
            limit=settings.max_windows_per_tick,
        )
        for retry in retries:
            context.log.warning(
                f"{flow}: window {retry.partition_key} failed; requesting it again (attempt {retry.attempt})"
            )
        requests += [
            dg.RunRequest(
                partition_key=retry.partition_key,
                run_key=f"{flow}:{retry.partition_key}:g{generation}:a{retry.attempt}",
                tags={FLOW_TAG: flow, ATTEMPT_TAG: str(retry.attempt)},
            )
            for retry in retries
            if retry.partition_key not in keys
        ]
        skip = None if requests else f"no closed window yet (NetSuite time {source_now:%Y-%m-%d %H:%M:%S} UTC)"
        return dg.SensorResult(run_requests=requests, cursor=new_cursor.to_json(), skip_reason=skip)

    return _sensor
