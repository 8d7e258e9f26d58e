"""The sandbox org's event bus: durable platform-event streams with replay ids, retention and Avro schemas.

This is the *backend* of the Pub/Sub API emulator (state and rules, no wire): the REST API publishes
into it when a sales user changes data, the gRPC server (``pubsub_server.py``) reads from it. Events
live in SQLite through SQLAlchemy so a restarted sandbox still has its retained stream, and replay
ids continue where they stopped — a sensor's stored cursor stays meaningful across restarts, as it
does against a real org.

Wire facts honoured here (``salesforce-facts.md`` §1.5 and §1.6):

- replay ids are opaque bytes to clients; ours are 8-byte big-endian unsigned longs from one counter
  per org, so one topic's ids are increasing but not contiguous;
- retention is 72 hours (configurable) on the *sandbox* clock; an expired replay id is invalid, never silently
  rounded to the oldest retained event;
- a topic's Avro schema is derived from its fields: ``CreatedDate`` (long, epoch ms), ``CreatedById``
  (string), then each custom field as a nullable union with a null default; the schema id is the
  base64url MD5 fingerprint of the schema's canonical form, so it is stable until the fields change;
- payloads are schemaless Avro binary (no container header); ``EventUuid`` travels as the event id,
  not inside the payload.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import sqlalchemy as sa

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.sqlite import sqlite_engine

AVRO_NAMESPACE = "com.sforce.eventbus"
REPLAY_ID_BYTES = 8
ERROR_CODE_PREFIX = "sfdc.platform.eventbus.grpc."

# Field type -> (Avro type, the `doc` Salesforce writes for it). Dates travel as epoch numbers in Avro.
_AVRO_TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", "Data:Text"),
    "double": ("double", "Data:Double"),
    "int": ("int", "Data:Int"),
    "long": ("long", "Data:Long"),
    "boolean": ("boolean", "Data:Boolean"),
    "datetime": ("long", "Data:DateTime"),
    "date": ("long", "Data:Date"),
}


@dataclass(frozen=True)
class EventField:
    """One custom field of a platform event (``type``: string, double, int, long, boolean, datetime, date)."""

    name: str
    type: str


@dataclass(frozen=True)
class PublishedEvent:
    """An event as the bus stored it: its topic API name, replay id, EventUuid and decoded payload."""

    topic: str
    replay_id: int
    event_uuid: str
    payload: dict


@dataclass(frozen=True)
class StoredEvent:
    """An event as subscribers receive it: the Avro bytes are delivered exactly as published."""

    topic: str
    replay_id: int
    event_uuid: str
    schema_id: str
    payload: bytes
    created_ms: int


# -- errors that know their Pub/Sub wire shape (gRPC status name + `error-code` trailer) --------------


class EventBusError(Exception):
    """A Pub/Sub failure: ``status`` is a ``grpc.StatusCode`` name, ``error_code`` the trailer value."""

    status = "INTERNAL"
    error_code = ERROR_CODE_PREFIX + "service.error"


class TopicNotFound(EventBusError):
    """NOT_FOUND ``topic.not.found``: a topic the org does not have."""

    status = "NOT_FOUND"
    error_code = ERROR_CODE_PREFIX + "topic.not.found"

    def __init__(self, org_id: str, topic: str) -> None:
        super().__init__(
            f"The topic information for org {org_id} and topic {topic} not found. "
            "Ensure the topic name is correct and that the topic exists."
        )


class SchemaNotFound(EventBusError):
    """NOT_FOUND ``schema.validation.failed``: an unknown schema id."""

    status = "NOT_FOUND"
    error_code = ERROR_CODE_PREFIX + "schema.validation.failed"

    def __init__(self, schema_id: str) -> None:
        super().__init__(f"The schema ID {schema_id!r} is invalid or the schema doesn't exist.")


class ReplayIdInvalid(EventBusError):
    """A replay id that is malformed, unknown, or older than the retention window."""

    status = "INVALID_ARGUMENT"
    error_code = ERROR_CODE_PREFIX + "subscription.fetch.replayid.corrupted"

    def __init__(self) -> None:
        super().__init__("The Replay ID validation failed. Ensure that the Replay ID is valid.")


class ReplayIdMissing(EventBusError):
    """``CUSTOM`` replay without a replay id."""

    status = "INVALID_ARGUMENT"
    error_code = ERROR_CODE_PREFIX + "subscription.fetch.replayid.validation.failed"

    def __init__(self) -> None:
        super().__init__("The Replay ID validation failed. A CUSTOM replay preset requires a Replay ID.")


# -- replay ids and schemas -------------------------------------------------------------------------


def encode_replay_id(replay_id: int) -> bytes:
    """The wire form of a replay id (8-byte big-endian unsigned long, as Salesforce's decode in practice)."""
    return replay_id.to_bytes(REPLAY_ID_BYTES, "big")


def decode_replay_id(raw: bytes) -> int:
    """The number behind a wire replay id; anything that is not 8 bytes is corrupted."""
    if len(raw) != REPLAY_ID_BYTES:
        raise ReplayIdInvalid()
    return int.from_bytes(raw, "big")


def event_schema(topic: str, fields: Iterable[EventField]) -> dict:
    """The Avro schema of a platform event, in the compact shape GetSchema returns (with ``uuid``)."""
    schema: dict[str, Any] = {
        "type": "record",
        "name": topic,
        "namespace": AVRO_NAMESPACE,
        "fields": [
            {"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"},
            {"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"},
            *(
                {
                    "name": f.name,
                    "type": ["null", _AVRO_TYPES[f.type][0]],
                    "doc": _AVRO_TYPES[f.type][1],
                    "default": None,
                }
                for f in fields
            ),
        ],
    }
    schema["uuid"] = schema_fingerprint(schema)
    return schema


def schema_fingerprint(schema: dict) -> str:
    """Base64url MD5 of the schema's parsing canonical form (22 characters), like Salesforce's schema ids."""
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(schema))
    digest = hashlib.md5(canonical.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _to_avro(field_type: str, value: Any) -> Any:
    """A field value in its Avro form: numbers as the declared type (the REST layer may hand in
    ``Decimal``), dates and datetimes (objects or ISO strings) as epoch milliseconds."""
    if value is None:
        return None
    if field_type == "double":
        return float(value)
    if field_type not in ("date", "datetime") or isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):  # a date: midnight UTC
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


@dataclass(frozen=True)
class _Topic:
    name: str
    fields: tuple[EventField, ...]
    schema: dict
    parsed_schema: Any

    @property
    def schema_id(self) -> str:
        return self.schema["uuid"]


# -- storage ----------------------------------------------------------------------------------------

_metadata = sa.MetaData()

_events = sa.Table(
    "pubsub_events",
    _metadata,
    sa.Column("replay_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("topic", sa.String(255), nullable=False, index=True),
    sa.Column("event_uuid", sa.String(64), nullable=False),
    sa.Column("schema_id", sa.String(64), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False, index=True),
)

_schemas = sa.Table(
    "pubsub_schemas",
    _metadata,
    sa.Column("schema_id", sa.String(64), primary_key=True),
    sa.Column("schema_json", sa.Text, nullable=False),
)

# One row: the last replay id handed out and the newest one purged by retention. Both survive the
# events themselves, so ids are never reused and an expired id stays recognisably expired.
_stream_state = sa.Table(
    "pubsub_stream_state",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_replay_id", sa.BigInteger, nullable=False),
    sa.Column("purged_through", sa.BigInteger, nullable=False),
)


class EventBus:
    """The org's platform-event streams (one replay-id sequence for the org, events per topic).

    ``topics`` maps event API names (``AccountsEvent__e``) to their custom fields. Thread-safe:
    publishers and any number of subscriptions share it; subscriptions register a
    ``threading.Condition`` with :meth:`add_listener` and are notified on every publish.
    """

    def __init__(
        self,
        db_url: str,
        clock: SandboxClock,
        org_id: str,
        topics: dict[str, list[EventField]],
        retention: timedelta = timedelta(hours=72),
    ) -> None:
        self.clock = clock
        self.org_id = org_id
        self.retention = retention
        self._topics = {name: self._make_topic(name, fields) for name, fields in topics.items()}
        self._parsed_schemas = {topic.schema_id: topic.parsed_schema for topic in self._topics.values()}
        self._engine = sqlite_engine(db_url)
        _metadata.create_all(self._engine)
        self._lock = threading.Lock()
        self._listeners: set[threading.Condition] = set()
        with self._engine.begin() as conn:
            state = conn.execute(sa.select(_stream_state).where(_stream_state.c.id == 1)).first()
            if state is None:
                conn.execute(sa.insert(_stream_state).values(id=1, last_replay_id=0, purged_through=0))
                state = conn.execute(sa.select(_stream_state).where(_stream_state.c.id == 1)).one()
            known = set(conn.execute(sa.select(_schemas.c.schema_id)).scalars())
            for topic in self._topics.values():
                if topic.schema_id not in known:
                    conn.execute(
                        sa.insert(_schemas).values(schema_id=topic.schema_id, schema_json=json.dumps(topic.schema))
                    )
        self._last_replay_id = int(state.last_replay_id)

    @staticmethod
    def _make_topic(name: str, fields: list[EventField]) -> _Topic:
        unknown = {f.type for f in fields} - _AVRO_TYPES.keys()
        if unknown:
            raise ValueError(f"event {name}: unsupported field types {sorted(unknown)}")
        schema = event_schema(name, fields)
        return _Topic(name, tuple(fields), schema, fastavro.parse_schema(schema))

    # -- topics and schemas -------------------------------------------------------------------------
    @property
    def topic_names(self) -> list[str]:
        """API names of the org's platform events."""
        return list(self._topics)

    def topic(self, name: str) -> _Topic:
        """The topic by API name (``AccountsEvent__e``); :class:`TopicNotFound` otherwise."""
        try:
            return self._topics[name]
        except KeyError:
            raise TopicNotFound(self.org_id, name) from None

    def schema_id(self, topic: str) -> str:
        """The current schema id of a topic."""
        return self.topic(topic).schema_id

    def schema_json(self, schema_id: str) -> str:
        """The Avro schema JSON for a schema id, including those of earlier field sets."""
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(_schemas.c.schema_json).where(_schemas.c.schema_id == schema_id)).scalar()
        if found is None:
            raise SchemaNotFound(schema_id)
        return found

    def encode(self, topic: str, payload: dict) -> bytes:
        """Avro-encode a payload with the topic's current schema (dates become epoch ms)."""
        event = self.topic(topic)
        types = {f.name: f.type for f in event.fields}
        record = {name: _to_avro(types.get(name, ""), value) for name, value in payload.items()}
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, event.parsed_schema, record)
        return buffer.getvalue()

    def decode(self, event: StoredEvent) -> dict:
        """The payload of a stored event, read with the schema it was written with."""
        schema = self._parsed_schemas.get(event.schema_id)
        if schema is None:
            schema = self._parsed_schemas[event.schema_id] = fastavro.parse_schema(
                json.loads(self.schema_json(event.schema_id))
            )
        return fastavro.schemaless_reader(io.BytesIO(event.payload), schema, None)

    # -- publishing ---------------------------------------------------------------------------------
    def publish(self, topic: str, payload: dict) -> PublishedEvent:
        """Publish one event: custom fields plus ``CreatedById``; the bus stamps ``CreatedDate``."""
        record = {f.name: None for f in self.topic(topic).fields} | payload
        record["CreatedDate"] = int(self.clock.now().timestamp() * 1000)
        encoded = self.encode(topic, record)
        stored = self.append(topic, encoded, schema_id=self.schema_id(topic))
        return PublishedEvent(topic, stored.replay_id, stored.event_uuid, self.decode(stored))

    def append(self, topic: str, payload: bytes, *, schema_id: str, event_uuid: str | None = None) -> StoredEvent:
        """Store already-encoded Avro bytes (gRPC Publish does not validate payloads, nor do we)."""
        self.topic(topic)
        created_ms = int(self.clock.now().timestamp() * 1000)
        event_uuid = event_uuid or str(uuid.uuid4())
        with self._lock, self._engine.begin() as conn:
            replay_id = self._last_replay_id + 1
            conn.execute(
                sa.insert(_events).values(
                    replay_id=replay_id,
                    topic=topic,
                    event_uuid=event_uuid,
                    schema_id=schema_id,
                    payload=payload,
                    created_ms=created_ms,
                )
            )
            conn.execute(sa.update(_stream_state).where(_stream_state.c.id == 1).values(last_replay_id=replay_id))
            self._last_replay_id = replay_id
        self._notify()
        return StoredEvent(topic, replay_id, event_uuid, schema_id, payload, created_ms)

    # -- reading ------------------------------------------------------------------------------------
    @property
    def last_replay_id(self) -> int:
        """The newest replay id handed out in the org (0 before the first event)."""
        return self._last_replay_id

    def retained_range(self) -> tuple[int, int]:
        """``(purged_through, last_replay_id)``: the retained events are exactly those in between."""
        purged = self._purge()
        return purged, self._last_replay_id

    def start_after(self, preset: str, replay_id: bytes = b"") -> int:
        """Where a new subscription starts (it delivers events *after* the returned id).

        ``EARLIEST``: before the oldest retained event; ``LATEST``: the tip; ``CUSTOM``: after the given
        replay id (exclusive), which must be well-formed, not in the future and not expired — like
        Salesforce, a sensor whose last event expired must notice, even if nothing after it was lost.
        Two positions stay valid without a retained event, because keep-alives name them: the tip
        (on a quiet stream whose events all expired; otherwise a recovering sensor would be sent back
        to recovery on every tick) and 0 (before the org's first event).
        """
        purged, last = self.retained_range()
        if preset == "EARLIEST":
            return purged
        if preset == "LATEST":
            return last
        if not replay_id:
            raise ReplayIdMissing()
        value = decode_replay_id(replay_id)
        if not (purged < value <= last or value == last or value == purged == 0):
            raise ReplayIdInvalid()
        return value

    def read(self, topic: str, *, after: int, limit: int) -> tuple[list[StoredEvent], int]:
        """Up to ``limit`` events of ``topic`` after replay id ``after``, oldest first.

        Also returns the org's last replay id *as of before the read*: when fewer than ``limit`` events
        come back, the subscription has seen everything of this topic up to that id, which makes it a
        safe ``latest_replay_id`` for keep-alives.
        """
        self.topic(topic)
        purged = self._purge()
        last = self._last_replay_id
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(_events)
                .where(_events.c.topic == topic, _events.c.replay_id > max(after, purged), _events.c.replay_id <= last)
                .order_by(_events.c.replay_id)
                .limit(limit)
            ).all()
        events = [
            StoredEvent(r.topic, int(r.replay_id), r.event_uuid, r.schema_id, bytes(r.payload), int(r.created_ms))
            for r in rows
        ]
        return events, last

    def _purge(self) -> int:
        """Drop events older than the retention window; returns the newest purged replay id.

        Retention removes a prefix of the stream (everything up to the newest expired event), so the
        retained events are always exactly the ids after ``purged_through``.
        """
        cutoff_ms = int((self.clock.now() - self.retention).timestamp() * 1000)
        with self._lock, self._engine.begin() as conn:
            purged = int(conn.execute(sa.select(_stream_state.c.purged_through)).scalar_one())
            expired = conn.execute(sa.select(sa.func.max(_events.c.replay_id)).where(_events.c.created_ms < cutoff_ms))
            newest_expired = expired.scalar()
            if newest_expired is not None and newest_expired > purged:
                purged = int(newest_expired)
                conn.execute(sa.delete(_events).where(_events.c.replay_id <= purged))
                conn.execute(sa.update(_stream_state).where(_stream_state.c.id == 1).values(purged_through=purged))
        return purged

    # -- subscriptions ------------------------------------------------------------------------------
    def add_listener(self, condition: threading.Condition) -> None:
        """Have ``condition`` notified after every publish (a subscription waits on it, no polling)."""
        with self._lock:
            self._listeners.add(condition)

    def remove_listener(self, condition: threading.Condition) -> None:
        """Stop notifying ``condition``."""
        with self._lock:
            self._listeners.discard(condition)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for condition in listeners:
            with condition:
                condition.notify_all()

    def close(self) -> None:
        """Wake every subscription and release the database."""
        self._notify()
        self._engine.dispose()
