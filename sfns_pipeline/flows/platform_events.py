"""The Platform Event sensor shared by the customer, order and payment flows.

Each tick subscribes to the flow's topic from the replay id in the sensor cursor (``EARLIEST`` or
``LATEST`` on first start, a setting), takes what arrives within a short bounded wait (a few seconds,
far below Dagster's 60 s sensor timeout), and turns the events into runs of at most ``batch_size``
events. A run's key is the replay-id range it covers plus the cursor's *generation*, so a tick
evaluated twice never launches the same events twice (Dagster skips a run key it has seen;
dagster-facts §1).

Why a generation: Dagster never launches a run key again, not even after a failed run. When an
operator rewinds the cursor to an earlier replay id (UI: sensor → "Set cursor value", a base64
replay id) the replayed batches could line up with earlier runs and be skipped silently. So every
position set from outside the stream — a first start, an operator's cursor (anything the sensor did
not write itself), a replay id Salesforce rejected — starts a new generation, and with it new keys.

The cursor moves to the last replay id received, also past events that could not be decoded (the
server does not validate payloads, so a garbage event must not stall the stream), and it is only
saved when the tick returns — a tick that raises is repeated from the old cursor.

Salesforce names a position only with an event or a keep-alive, and sends keep-alives only "within
270 s" — longer than a tick waits. A first start from ``LATEST`` that got neither records its start
time instead, and later ticks read from ``EARLIEST``, dropping events created before that moment
(less a clock-skew margin), until the stream has reached it; a few events too many are harmless,
events are only notifications.

An expired (events are kept 72 hours) or corrupted replay id is never silent: the sensor logs an
error, emails the flow's recipients once, records the lost position in the cursor and follows
``on_replay_invalid``:

- ``catch_up`` (default): resume from the earliest retained event and request a *catch-up* run that
  re-reads every record modified since the last event processed — events are only notifications,
  so state read from the source closes the gap;
- ``earliest``: resume from the earliest retained event, nothing more;
- ``stop``: request nothing until an operator resets the cursor (UI: sensor → "Set cursor value").
"""

from __future__ import annotations

import hashlib
import json
import time
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
    Preset,
    PubSubError,
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
# Event CreatedDates are Salesforce's clock, a LATEST start time is ours: keep events a little older.
CLOCK_SKEW_MARGIN = timedelta(minutes=2)
# Dagster cancels a tick after 60 s (dagster-facts §1). Besides the fetches, a tick may log in, look up
# schemas (both bounded by PubSubResource's call timeout) and send one alert (the mailer's timeout), so
# the fetches together wait at most this long; the second one (after a lost replay id) gets what is left.
FETCH_BUDGET_SECONDS = 30.0
MIN_WAIT_SECONDS = 1.0


class EventBatch(dg.Config):
    """Run config of a Platform Event job: the events of this run, or a catch-up window."""

    events: list[dict[str, Any]] = []  # each: the event's fields plus replay_id and event_uuid
    catch_up_since: str | None = None  # ISO UTC: re-read every record modified since then


@dataclass(frozen=True)
class EventCursor:
    """Sensor cursor: where to resume the subscription, the run-key generation, what happened to a lost position."""

    replay_id: str | None = None  # base64 of the opaque replay id bytes
    last_event_time: str | None = None  # ISO CreatedDate of the last event received: a catch-up starts here
    generation: int = 0  # part of every run key; see next_generation
    start_from: Preset | None = None  # without a replay id: where to subscribe (None: the initial_replay setting)
    skip_before: str | None = None  # ISO UTC: drop events created earlier (a LATEST start without a position)
    lost_position: str | None = None  # the last replay-id problem, when and why (kept for the UI)
    stopped: bool = False  # policy "stop": no runs until an operator resets the cursor

    def _seal(self) -> str:
        # Not a secret, a checksum: an operator who edits the replay id inside the JSON rewinds the
        # stream just like one who pastes a bare replay id, and must get a new generation too.
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        """The cursor as the sensor stores it, sealed: an edited copy no longer matches its seal."""
        return json.dumps({**asdict(self), "seal": self._seal()}, sort_keys=True)

    @classmethod
    def read(cls, raw: str | None) -> tuple[EventCursor, bool]:
        """The stored cursor, and whether the sensor wrote it as it is.

        False for an empty cursor (first start, or an operator cleared it), for an edited cursor (its
        seal does not match) and for any other text, which is taken as a replay id: an operator may set
        the cursor to a base64 replay id in the UI, and garbage is then rejected by Salesforce and
        handled like any lost position.
        """
        if not raw or not raw.strip():
            return cls(), False
        try:
            stored = json.loads(raw)
            seal = stored.pop("seal", None)
            cursor = cls(**stored)
        except (ValueError, TypeError, AttributeError):
            return cls(replay_id=raw.strip()), False
        return cursor, seal == cursor._seal()

    @property
    def replay_bytes(self) -> bytes | None:
        """The stored replay id, or None; a cursor that is not base64 counts as a corrupted replay id."""
        if not self.replay_id:
            return None
        try:
            return replay_id_from_cursor(self.replay_id)
        except ValueError:
            return self.replay_id.encode()  # let the server call it corrupted: one path for every bad id


def next_generation(previous: int) -> int:
    """A generation above ``previous`` and above every earlier one, even when ``previous`` is lost (an
    operator's cursor carries none): the current Unix time in microseconds, or ``previous + 1`` if higher."""
    # Microseconds: two generation starts that cannot see each other (an operator pastes a bare replay id
    # moments after the first start) must still differ.
    return max(previous + 1, time.time_ns() // 1000)


def event_created_at(event: ReceivedEvent) -> str | None:
    """The event's CreatedDate (epoch ms in the Avro payload) as ISO UTC."""
    created = event.payload.get("CreatedDate")
    return datetime.fromtimestamp(created / 1000, UTC).isoformat() if isinstance(created, int) else None


def created_before(event: ReceivedEvent, moment: str) -> bool:
    """True if the event was created before ``moment`` (ISO UTC); False when it carries no CreatedDate."""
    created = event_created_at(event)
    return created is not None and datetime.fromisoformat(created) < datetime.fromisoformat(moment)


def event_to_config(event: ReceivedEvent) -> dict[str, Any]:
    """What a run needs of one event: its fields (nulls dropped: run config has no null map values),
    its replay id and uuid."""
    fields = {key: value for key, value in event.payload.items() if value is not None}
    return {**fields, "replay_id": replay_id_to_cursor(event.replay_id), "event_uuid": event.event_uuid}


def batched(events: Sequence[ReceivedEvent], size: int) -> list[list[ReceivedEvent]]:
    """Consecutive groups of at most ``size`` events, in replay order."""
    return [list(events[start : start + size]) for start in range(0, len(events), size)]


def run_key_for(flow: Flow, generation: int, batch: Sequence[ReceivedEvent]) -> str:
    """The idempotency key of a batch: the cursor's generation and the replay-id range it covers."""
    return f"{flow.name}:g{generation}:{batch[0].replay_id.hex()}-{batch[-1].replay_id.hex()}"


def catch_up_key_for(flow: Flow, generation: int, since: str) -> str:
    """The idempotency key of a catch-up run: a new generation (a lost position) asks for a new one."""
    return f"{flow.name}:g{generation}:catch-up:{since}"


def advance(
    cursor: EventCursor, result: FetchResult, *, preset: Preset, started_at: datetime
) -> tuple[list[ReceivedEvent], EventCursor]:
    """The events of a fetch to hand to runs, and the cursor after them.

    While ``skip_before`` is set, older events are dropped (they predate a ``LATEST`` start); it is
    cleared once an event at or after it arrives, or a keep-alive says the stream has nothing older
    left. A first ``LATEST`` fetch that named no position sets it: Salesforce sends keep-alives only
    within 270 s, so the next tick would otherwise subscribe at ``LATEST`` again and miss whatever
    was published in between; it reads from ``EARLIEST`` instead.
    """
    events, skip_before = result.events, cursor.skip_before
    if skip_before is not None:
        events = [event for event in result.events if not created_before(event, skip_before)]
        if events or (result.latest_replay_id is not None and not result.events):
            skip_before = None
    if result.latest_replay_id is not None:
        last_time = event_created_at(result.events[-1]) if result.events else None
        return events, replace(
            cursor,
            replay_id=replay_id_to_cursor(result.latest_replay_id),
            start_from=None,
            skip_before=skip_before,
            # a position pinned without events (first start from LATEST, a keep-alive) starts any
            # later catch-up at the moment it was pinned
            last_event_time=last_time or cursor.last_event_time or started_at.isoformat(),
        )
    if cursor.replay_id is None and preset == "LATEST":
        return events, replace(cursor, start_from="EARLIEST", skip_before=(started_at - CLOCK_SKEW_MARGIN).isoformat())
    return events, cursor


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

    def fetch(pubsub: PubSubResource, cursor: EventCursor, preset: Preset, began: float) -> FetchResult:
        left = FETCH_BUDGET_SECONDS - (time.monotonic() - began)
        return pubsub.fetch(
            settings.topic,
            replay_id=cursor.replay_bytes,
            preset=preset,
            max_events=max_events,
            wait_seconds=max(MIN_WAIT_SECONDS, min(settings.receive_timeout_seconds, left)),
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
        began, started_at = time.monotonic(), datetime.now(UTC)
        cursor, own = EventCursor.read(context.cursor)
        if not own:
            cursor = replace(cursor, generation=next_generation(cursor.generation))
            context.log.info(
                f"{flow.title}: first start or a cursor set by an operator; run keys are now generation "
                f"{cursor.generation}"
            )
        if cursor.stopped:
            return dg.SkipReason(f"stopped after a lost replay id ({cursor.lost_position}); reset the cursor to resume")
        requests: list[dg.RunRequest] = []
        preset = cursor.start_from or settings.initial_replay
        try:
            result = fetch(pubsub, cursor, preset, began)
        except ReplayIdInvalid as exc:
            cursor, catch_up = _lost_position(context, flow, settings, cursor, exc, mailer, sensor_name)
            if cursor.stopped:
                return dg.SensorResult(cursor=cursor.to_json(), skip_reason=cursor.lost_position)
            if catch_up is not None:
                requests.append(
                    run_request(catch_up, catch_up_key_for(flow, cursor.generation, catch_up.catch_up_since))
                )
            preset = "EARLIEST"
            try:
                result = fetch(pubsub, cursor, preset, began)
            except PubSubError as retry_error:
                # Return rather than raise: a raising tick keeps the old cursor, and the next tick would
                # hit the rejected replay id (and send the alert) again. This cursor resumes from EARLIEST.
                context.log.error(
                    f"{flow.title}: reading from the earliest retained event failed ({retry_error}); "
                    "the next tick tries again"
                )
                return dg.SensorResult(run_requests=requests, cursor=cursor.to_json())

        if result.undecodable:
            context.log.warning(
                f"{flow.title}: skipped {len(result.undecodable)} event(s) whose payload cannot be decoded: "
                + ", ".join(event.event_uuid for event in result.undecodable[:10])
            )
        events, cursor = advance(cursor, result, preset=preset, started_at=started_at)
        if cursor.skip_before and not cursor.replay_id:
            context.log.info(f"{flow.title}: no position on {settings.topic} yet; events since {cursor.skip_before}")
        for batch in batched(events, settings.batch_size):
            config = EventBatch(events=[event_to_config(event) for event in batch])
            requests.append(run_request(config, run_key_for(flow, cursor.generation, batch)))
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
    """Apply ``on_replay_invalid``: the cursor to continue from and the catch-up run to request, if any.

    The returned cursor no longer holds the rejected replay id, so the alert is sent once per lost position.
    """
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
    restarted = EventCursor(
        last_event_time=cursor.last_event_time,
        generation=next_generation(cursor.generation),  # the restart may deliver ranges seen before
        start_from="EARLIEST",
        lost_position=note,
    )
    catch_up = EventBatch(catch_up_since=since.isoformat()) if policy == "catch_up" and since is not None else None
    return restarted, catch_up
