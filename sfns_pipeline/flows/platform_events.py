"""The Platform Event sensor shared by the customer, order and payment flows.

Each tick subscribes to the flow's topic from the replay id in the sensor cursor, takes what arrives
within a short bounded wait (far below Dagster's 60 s sensor timeout), and turns the events into runs
of at most ``batch_size`` events. A run's key is the replay-id range it covers, so a tick evaluated
twice (the cursor is not saved when a tick fails) never launches the same events twice.

An expired or corrupted replay id (events are kept 72 hours) must not be silent: the sensor logs an
error, resumes from the earliest retained event, and requests a *catch-up* run that re-reads every
record modified since the last event it had processed — events are only notifications, so state
read from the source closes the gap.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import dagster as dg

from sfns_pipeline.settings import PlatformEventFlowSettings

MAX_RUNS_PER_TICK = 10  # bounds one tick's work; the next tick continues from the cursor


class ReceivedEventLike(Protocol):
    replay_id: bytes
    event_uuid: str
    payload: dict[str, Any]


class EventBatch(dg.Config):
    """Run config of a Platform Event job: the events of this run, or a catch-up window."""

    events: list[dict[str, Any]] = []
    catch_up_since: str | None = None  # ISO time: re-read every record modified since then


@dataclass(frozen=True)
class EventCursor:
    """Sensor cursor: where to resume the subscription, and when the last processed event was created."""

    replay_id: str | None = None  # base64 of the opaque replay id bytes
    last_event_time: str | None = None  # ISO CreatedDate of the last event, start of any catch-up

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> EventCursor:
        return cls(**json.loads(raw)) if raw else cls()

    @property
    def replay_bytes(self) -> bytes | None:
        return base64.b64decode(self.replay_id) if self.replay_id else None


def encode_replay_id(replay_id: bytes) -> str:
    """A replay id as cursor/run-config text."""
    return base64.b64encode(replay_id).decode("ascii")


def event_created_at(event: ReceivedEventLike) -> str | None:
    """The event's CreatedDate (epoch ms in the Avro payload) as ISO UTC."""
    created = event.payload.get("CreatedDate")
    return datetime.fromtimestamp(created / 1000, UTC).isoformat() if isinstance(created, int) else None


def event_to_config(event: ReceivedEventLike) -> dict[str, Any]:
    """What a run needs of one event: its fields plus replay id and uuid (never secrets)."""
    return {**event.payload, "replay_id": encode_replay_id(event.replay_id), "event_uuid": event.event_uuid}


def batched(events: Sequence[ReceivedEventLike], size: int) -> list[list[ReceivedEventLike]]:
    """Consecutive groups of at most ``size`` events, in replay order."""
    return [list(events[start : start + size]) for start in range(0, len(events), size)]


def run_key_for(flow: str, batch: Sequence[ReceivedEventLike]) -> str:
    """The idempotency key of a batch: the replay-id range it covers."""
    return f"{flow}:{batch[0].replay_id.hex()}-{batch[-1].replay_id.hex()}"


def platform_event_sensor(
    *,
    flow: str,
    job: dg.JobDefinition,
    config_op: str,
    settings: PlatformEventFlowSettings,
    fetch_events: Callable[..., Any],
    replay_invalid: type[Exception],
    required_resource_keys: set[str],
) -> dg.SensorDefinition:
    """A sensor launching ``job`` for new events on ``settings.topic``.

    ``fetch_events(context, topic=, replay_id=, preset=, max_events=, wait_seconds=)`` returns an
    object with ``events`` and ``latest_replay_id``; it raises ``replay_invalid`` when the stored
    replay id is expired or corrupted.
    """

    def request(batch_config: EventBatch, run_key: str) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=run_key,
            run_config={"ops": {config_op: {"config": batch_config.model_dump()}}},
            tags={"sfns/flow": flow},
        )

    @dg.sensor(
        name=f"{flow}_event_sensor",
        job=job,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys=required_resource_keys,
        description=f"Subscribes to {settings.topic}; the cursor holds the last replay id.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = EventCursor.from_json(context.cursor)
        fetch = dict(
            topic=settings.topic,
            max_events=settings.batch_size * MAX_RUNS_PER_TICK,
            wait_seconds=settings.receive_timeout_seconds,
        )
        requests: list[dg.RunRequest] = []
        position_lost = False
        try:
            result = fetch_events(context, replay_id=cursor.replay_bytes, preset=settings.initial_replay, **fetch)
        except replay_invalid as exc:
            since = cursor.last_event_time or datetime.now(UTC).isoformat()
            context.log.error(
                f"{flow}: stored replay id is no longer valid ({exc}); resuming from the earliest retained event "
                f"and catching up on records modified since {since}"
            )
            requests.append(request(EventBatch(catch_up_since=since), f"{flow}:catch-up:{since}"))
            result = fetch_events(context, replay_id=None, preset="EARLIEST", **fetch)
            position_lost = True

        for batch in batched(result.events, settings.batch_size):
            requests.append(request(EventBatch(events=[event_to_config(e) for e in batch]), run_key_for(flow, batch)))

        if result.events:
            last = result.events[-1]
            cursor = EventCursor(encode_replay_id(last.replay_id), event_created_at(last) or cursor.last_event_time)
        elif (cursor.replay_id is None or position_lost) and result.latest_replay_id:
            # Pin the position (first start from LATEST, or after a lost replay id) so that events
            # published before the next tick are kept.
            cursor = EventCursor(encode_replay_id(result.latest_replay_id), datetime.now(UTC).isoformat())
        skip = None if requests else f"no new events on {settings.topic}"
        return dg.SensorResult(run_requests=requests, cursor=cursor.to_json(), skip_reason=skip)

    return _sensor
