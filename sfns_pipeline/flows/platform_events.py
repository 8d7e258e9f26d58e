"""The Platform Event sensor shared by the customer, order and payment flows.

Each tick subscribes to the flow's topic from the replay id in the sensor cursor (``EARLIEST`` or
``LATEST`` on first start, a setting), takes what arrives within a short bounded wait (a few seconds,
far below Dagster's 60 s sensor timeout), and turns the events into runs of at most ``batch_size``
events. A run's key is the replay-id range it covers, so a tick evaluated twice never launches the
same events twice (Dagster skips a run key it has seen; dagster-facts §1).

The cursor moves to the last replay id received, also past events that could not be decoded (the
server does not validate payloads, so a garbage event must not stall the stream), and it is only
saved when the tick returns — a tick that raises is repeated from the old cursor.

An expired (events are kept 72 hours) or corrupted replay id is never silent: the sensor logs an
error, emails the flow's recipients, records the lost position in the cursor and follows
``on_replay_invalid``:

- ``catch_up`` (default): resume from the earliest retained event and request a *catch-up* run that
  re-reads every record modified since the last event processed — events are only notifications,
  so state read from the source closes the gap;
- ``earliest``: resume from the earliest retained event, nothing more;
- ``stop``: request nothing until an operator resets the cursor (UI: sensor → "Set cursor value").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import dagster as dg

from sfns_pipeline.flows.reporting import flow_tags
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.outcomes import Flow
from sfns_pipeline.salesforce.pubsub import (
    FetchResult,
    ReceivedEvent,
    ReplayIdInvalid,
    replay_id_from_cursor,
    replay_id_to_cursor,
)
from sfns_pipeline.salesforce.resource import PubSubResource
from sfns_pipeline.settings import PlatformEventFlowSettings

MAX_RUNS_PER_TICK = 10  # bounds one tick's work; the next tick continues from the cursor
# A catch-up re-reads from a little before the last processed event: the record change that
# published it may be committed with an earlier LastModifiedDate than the event's CreatedDate.
CATCH_UP_OVERLAP = timedelta(minutes=5)


class EventBatch(dg.Config):
    """Run config of a Platform Event job: the events of this run, or a catch-up window."""

    events: list[dict[str, Any]] = []  # each: the event's fields plus replay_id and event_uuid
    catch_up_since: str | None = None  # ISO UTC: re-read every record modified since then


@dataclass(frozen=True)
class EventCursor:
    """Sensor cursor: where to resume the subscription, and what happened to a lost position."""

    replay_id: str | None = None  # base64 of the opaque replay id bytes
    last_event_time: str | None = None  # ISO CreatedDate of the last event received: a catch-up starts here
    lost_position: str | None = None  # the last replay-id problem, when and why (kept for the UI)
    stopped: bool = False  # policy "stop": no runs until an operator resets the cursor

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | None) -> EventCursor:
        """The cursor stored by :meth:`to_json`; empty starts afresh (``initial_replay``).

        Any other text is taken as a replay id: an operator may set the cursor to a base64 replay id
        in the UI, and garbage is then rejected by Salesforce and handled like any lost position.
        """
        if not raw:
            return cls()
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return cls(replay_id=raw.strip())

    @property
    def replay_bytes(self) -> bytes | None:
        """The stored replay id, or None; a cursor that is not base64 counts as a corrupted replay id."""
        if not self.replay_id:
            return None
        try:
            return replay_id_from_cursor(self.replay_id)
        except ValueError:
            return self.replay_id.encode()  # let the server call it corrupted: one path for every bad id


def event_created_at(event: ReceivedEvent) -> str | None:
    """The event's CreatedDate (epoch ms in the Avro payload) as ISO UTC."""
    created = event.payload.get("CreatedDate")
    return datetime.fromtimestamp(created / 1000, UTC).isoformat() if isinstance(created, int) else None


def event_to_config(event: ReceivedEvent) -> dict[str, Any]:
    """What a run needs of one event: its fields (nulls dropped: run config has no null map values),
    its replay id and uuid."""
    fields = {key: value for key, value in event.payload.items() if value is not None}
    return {**fields, "replay_id": replay_id_to_cursor(event.replay_id), "event_uuid": event.event_uuid}


def batched(events: Sequence[ReceivedEvent], size: int) -> list[list[ReceivedEvent]]:
    """Consecutive groups of at most ``size`` events, in replay order."""
    return [list(events[start : start + size]) for start in range(0, len(events), size)]


def run_key_for(flow: Flow, batch: Sequence[ReceivedEvent]) -> str:
    """The idempotency key of a batch: the replay-id range it covers."""
    return f"{flow.name}:{batch[0].replay_id.hex()}-{batch[-1].replay_id.hex()}"


def replay_id_alert(flow: Flow, topic: str, error: Exception, action: str, sensor_name: str) -> EmailMessage:
    """The email telling operators that a sensor lost its place in the event stream, and what it did."""
    message = EmailMessage()
    message["Subject"] = f"[sfns] {flow.title}: stored replay id rejected on {topic}"
    message.set_content(
        f"The {sensor_name} sensor could not resume {topic} from its stored replay id.\n\n"
        f"Salesforce said: {error}\n\n"
        "Platform events are kept for 72 hours; an older (or corrupted) replay id cannot be resumed.\n"
        f"What the sensor did: {action}\n"
    )
    return message


def platform_event_sensor(
    *, flow: Flow, job: dg.JobDefinition, config_op: str, settings: PlatformEventFlowSettings
) -> dg.SensorDefinition:
    """A sensor launching ``job`` for new events on ``settings.topic``, with ``EventBatch`` as ``config_op``'s config.

    Needs the resources ``pubsub`` (:class:`PubSubResource`) and ``mailer`` (:class:`MailerResource`).
    """
    sensor_name = f"{flow.name}_event_sensor"
    max_events = settings.batch_size * MAX_RUNS_PER_TICK

    def run_request(batch: EventBatch, run_key: str) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=run_key, run_config={"ops": {config_op: {"config": batch.model_dump()}}}, tags=flow_tags(flow)
        )

    def fetch(pubsub: PubSubResource, cursor: EventCursor, preset: str) -> FetchResult:
        return pubsub.fetch(
            settings.topic,
            replay_id=cursor.replay_bytes,
            preset=preset,
            max_events=max_events,
            wait_seconds=settings.receive_timeout_seconds,
        )

    @dg.sensor(
        name=sensor_name,
        job=job,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Subscribes to {settings.topic}; the cursor holds the last replay id received.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, pubsub: PubSubResource, mailer: MailerResource
    ) -> dg.SensorResult | dg.SkipReason:
        cursor = EventCursor.from_json(context.cursor)
        if cursor.stopped:
            return dg.SkipReason(f"stopped after a lost replay id ({cursor.lost_position}); reset the cursor to resume")
        requests: list[dg.RunRequest] = []
        try:
            result = fetch(pubsub, cursor, settings.initial_replay)
        except ReplayIdInvalid as exc:
            cursor, catch_up = _lost_position(context, flow, settings, cursor, exc, mailer, sensor_name)
            if cursor.stopped:
                return dg.SensorResult(cursor=cursor.to_json(), skip_reason=cursor.lost_position)
            if catch_up is not None:
                requests.append(run_request(catch_up, f"{flow.name}:catch-up:{catch_up.catch_up_since}"))
            result = fetch(pubsub, cursor, "EARLIEST")

        if result.undecodable:
            context.log.warning(
                f"{flow.title}: skipped {len(result.undecodable)} event(s) whose payload cannot be decoded: "
                + ", ".join(event.event_uuid for event in result.undecodable[:10])
            )
        for batch in batched(result.events, settings.batch_size):
            config = EventBatch(events=[event_to_config(event) for event in batch])
            requests.append(run_request(config, run_key_for(flow, batch)))

        if result.latest_replay_id is not None:
            last_time = event_created_at(result.events[-1]) if result.events else None
            cursor = replace(
                cursor,
                replay_id=replay_id_to_cursor(result.latest_replay_id),
                # a position pinned without events (first start from LATEST, a keep-alive) starts any
                # later catch-up at the moment it was pinned
                last_event_time=last_time or cursor.last_event_time or datetime.now(UTC).isoformat(),
            )
        skip = None if requests else f"no new events on {settings.topic}"
        return dg.SensorResult(run_requests=requests, cursor=cursor.to_json(), skip_reason=skip)

    return _sensor


def _lost_position(
    context: dg.SensorEvaluationContext,
    flow: Flow,
    settings: PlatformEventFlowSettings,
    cursor: EventCursor,
    error: ReplayIdInvalid,
    mailer: MailerResource,
    sensor_name: str,
) -> tuple[EventCursor, EventBatch | None]:
    """Apply ``on_replay_invalid``: the cursor to continue from and the catch-up run to request, if any."""
    now = datetime.now(UTC)
    since = datetime.fromisoformat(cursor.last_event_time) - CATCH_UP_OVERLAP if cursor.last_event_time else None
    policy = settings.on_replay_invalid
    if policy == "stop":
        action = "stopped: no runs until an operator resets the sensor's cursor"
    elif policy == "catch_up" and since is not None:
        action = (
            f"resumed from the earliest retained event and requested a catch-up run for records modified "
            f"since {since.isoformat()}"
        )
    else:
        action = "resumed from the earliest retained event (no catch-up)"
    note = f"{now.isoformat()}: replay id {cursor.replay_id} rejected ({error.error_code or error}); {action}"
    context.log.error(f"{flow.title}: {note}")
    mailer.mailer(log=context.log).send(
        replay_id_alert(flow, settings.topic, error, action, sensor_name), mailer.recipients_for(flow.name)
    )
    if policy == "stop":
        return replace(cursor, lost_position=note, stopped=True), None
    restarted = EventCursor(last_event_time=cursor.last_event_time, lost_position=note)
    catch_up = EventBatch(catch_up_since=since.isoformat()) if policy == "catch_up" and since is not None else None
    return restarted, catch_up
