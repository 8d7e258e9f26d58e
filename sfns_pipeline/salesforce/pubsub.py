"""Salesforce Pub/Sub API client (gRPC over TLS, Avro payloads), shaped for Dagster sensors.

A sensor tick must finish well inside Dagster's 60 s evaluation timeout and must not lose its
place, so this client offers one *bounded* fetch instead of a long-lived subscription:

- **Flow control.** Pub/Sub is pull-based: the server sends only as many events as the client has
  asked for with ``num_requested`` (at most 100 outstanding). :meth:`PubSubClient.fetch` asks for
  no more than ``max_events`` in total, so a tick never receives events it cannot hand to a run.
- **Keep-alives.** When nothing is left to deliver the server sends a FetchResponse without events
  that carries ``latest_replay_id``. The fetch stops at the first one: everything pending has
  arrived. The whole fetch is also capped by a gRPC deadline (``wait_seconds``), whichever is first.
- **Replay is exclusive.** Resuming with ``CUSTOM`` delivers events strictly *after* the given id,
  so the cursor is simply the replay id of the last event handed on (or a keep-alive's
  ``latest_replay_id``). Events received after a deadline cut are not lost: they are not in the
  result, so the next fetch from the stored cursor receives them again.
- **Replay ids are opaque bytes.** Store them as they came (base64 in a JSON cursor, see
  :func:`replay_id_to_cursor`), never compute with them. An id older than the 72-hour retention (or
  mangled) ends the stream with ``INVALID_ARGUMENT`` and an ``error-code`` trailer; that becomes
  :class:`ReplayIdInvalid` so the sensor can apply its policy (e.g. restart from ``EARLIEST``).

Pipeline code: talks to the API only through the generated stubs; never imports the sandbox.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import fastavro
import grpc

from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

MAX_REQUESTED = 100  # the server treats larger num_requested as 100
EVENT_TOPIC_PREFIX = "/event/"
_REPLAY_ERROR_CODES = frozenset(
    {
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted",
        "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed",
    }
)
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.ABORTED,
    }
)

Preset = Literal["EARLIEST", "LATEST"]


# -- errors -----------------------------------------------------------------------------------------


class PubSubError(Exception):
    """A failed Pub/Sub call: the gRPC status, Salesforce's ``error-code`` trailer and the rpc id."""

    def __init__(self, message: str, *, status: str = "", error_code: str = "", rpc_id: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.rpc_id = rpc_id

    @classmethod
    def from_rpc_error(cls, exc: grpc.RpcError) -> PubSubError:
        """The typed error for a failed call (replay id, auth, transient, or other)."""
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        trailers = dict(exc.trailing_metadata() or ()) if isinstance(exc, grpc.Call) else {}
        error_code = str(trailers.get("error-code", ""))
        if error_code in _REPLAY_ERROR_CODES:
            kind = ReplayIdInvalid
        elif code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            kind = PubSubAuthError
        elif code in _TRANSIENT:
            kind = PubSubUnavailable
        else:
            kind = PubSubError
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        return kind(
            f"{code.name}: {details}" + (f" [{error_code}]" if error_code else ""),
            status=code.name,
            error_code=error_code,
            rpc_id=str(trailers.get("rpc-id", "")),
        )


class ReplayIdInvalid(PubSubError):
    """The stored replay id is corrupted or past retention: the sensor must choose where to restart."""


class PubSubAuthError(PubSubError):
    """The access token, instance URL or org id was refused: re-authenticate, retrying won't help."""


class PubSubUnavailable(PubSubError):
    """The service could not be reached or failed transiently: retry later (with backoff)."""


class PublishFailed(PubSubError):
    """Salesforce refused some events of a Publish; ``failures`` maps correlation key -> message."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(f"{len(failures)} event(s) not published: {failures}")
        self.failures = failures


# -- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedEvent:
    """One delivered event: its replay id (opaque), EventUuid, writer schema id and decoded payload."""

    replay_id: bytes
    event_uuid: str
    schema_id: str
    payload: dict


@dataclass(frozen=True)
class FetchResult:
    """What one bounded fetch got, and where the next one should resume (``latest_replay_id``).

    ``latest_replay_id`` is None only when the server has never named a position (an empty org);
    ``undecodable`` lists events whose payload could not be read with their schema — the server does
    not validate payloads on publish, so a subscriber must step over them rather than stall.
    """

    events: list[ReceivedEvent]
    latest_replay_id: bytes | None
    undecodable: list[ReceivedEvent] = field(default_factory=list)


@dataclass(frozen=True)
class TopicInfo:
    """A topic as GetTopic describes it."""

    topic_name: str
    tenant_guid: str
    schema_id: str
    can_publish: bool
    can_subscribe: bool


def replay_id_to_cursor(replay_id: bytes) -> str:
    """A replay id as text for a JSON sensor cursor (standard base64, the bytes unchanged)."""
    return base64.b64encode(replay_id).decode("ascii")


def replay_id_from_cursor(text: str) -> bytes:
    """The replay id stored by :func:`replay_id_to_cursor`."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def topic_path(topic: str) -> str:
    """``/event/<Name>__e`` for a platform event API name; channel paths pass through unchanged."""
    return topic if topic.startswith("/") else EVENT_TOPIC_PREFIX + topic


# -- client -----------------------------------------------------------------------------------------


class PubSubClient:
    """A Pub/Sub API connection for one org.

    ``access_token`` is called for every RPC, so a caller holding an expiring OAuth session can hand
    in a function that returns a fresh token. ``ca_file`` pins the CA that signs the server's
    certificate (the sandbox's local CA); None trusts the system roots, as for
    ``api.pubsub.salesforce.com:7443``.
    """

    def __init__(
        self,
        target: str,
        *,
        access_token: Callable[[], str],
        instance_url: str,
        tenant_id: str,
        ca_file: Path | str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        root_certificates = Path(ca_file).read_bytes() if ca_file is not None else None
        self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root_certificates))
        self._stub = pb_grpc.PubSubStub(self._channel)
        self._access_token = access_token
        self._instance_url = instance_url
        self._tenant_id = tenant_id
        self._timeout = timeout_seconds
        self._schemas: dict[str, Any] = {}
        self._schemas_lock = threading.Lock()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> PubSubClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            ("accesstoken", self._access_token()),
            ("instanceurl", self._instance_url),
            ("tenantid", self._tenant_id),
        )

    # -- topics and schemas -------------------------------------------------------------------------
    def get_topic(self, topic: str) -> TopicInfo:
        """GetTopic: permissions and the current schema id of a topic (API name or ``/event/...`` path)."""
        try:
            info = self._stub.GetTopic(
                pb.TopicRequest(topic_name=topic_path(topic)), metadata=self._metadata(), timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise PubSubError.from_rpc_error(exc) from None
        return TopicInfo(info.topic_name, info.tenant_guid, info.schema_id, info.can_publish, info.can_subscribe)

    def schema(self, schema_id: str) -> Any:
        """The parsed Avro schema for ``schema_id``; fetched once, since a schema id never changes meaning."""
        with self._schemas_lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            info = self._stub.GetSchema(
                pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata(), timeout=self._timeout
            )
        except grpc.RpcError as exc:
            raise PubSubError.from_rpc_error(exc) from None
        parsed = fastavro.parse_schema(json.loads(info.schema_json))
        with self._schemas_lock:
            self._schemas[schema_id] = parsed
        return parsed

    def _receive(self, consumer_event: pb.ConsumerEvent) -> tuple[ReceivedEvent, bool]:
        """The event with its payload read by its writer schema, and whether it could be read.

        Not retried: a payload that cannot be read now will not be readable later either. Failures to
        *reach* GetSchema (auth, outage) are raised, since they say nothing about the event.
        """
        event = consumer_event.event
        unreadable = ReceivedEvent(consumer_event.replay_id, event.id, event.schema_id, {})
        try:
            schema = self.schema(event.schema_id)
        except PubSubError as exc:
            if exc.status not in ("NOT_FOUND", "INVALID_ARGUMENT"):
                raise
            log.warning("Pub/Sub event %s names unknown schema %s: %s", event.id, event.schema_id, exc)
            return unreadable, False
        try:
            payload = fastavro.schemaless_reader(io.BytesIO(event.payload), schema, None)
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
            log.warning("Pub/Sub event %s (schema %s) cannot be decoded: %s", event.id, event.schema_id, exc)
            return unreadable, False
        return ReceivedEvent(consumer_event.replay_id, event.id, event.schema_id, payload), True

    # -- subscribe ----------------------------------------------------------------------------------
    def fetch(
        self,
        topic: str,
        *,
        replay_id: bytes | None = None,
        preset: Preset = "LATEST",
        max_events: int = 100,
        wait_seconds: float = 10.0,
    ) -> FetchResult:
        """Receive up to ``max_events`` events of ``topic``, waiting at most ``wait_seconds``.

        With ``replay_id`` the stream resumes strictly after it (``CUSTOM``); without, it starts at
        ``preset``: ``EARLIEST`` (oldest retained event) or ``LATEST`` (only events published from now
        on). Returns as soon as ``max_events`` arrived or a keep-alive says nothing more is pending.

        Raises :class:`ReplayIdInvalid`, :class:`PubSubAuthError`, :class:`PubSubUnavailable` (or
        :class:`PubSubError` for anything else, e.g. an unknown topic).
        """
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        wire_topic = topic_path(topic)
        first = pb.FetchRequest(
            topic_name=wire_topic,
            replay_preset=pb.CUSTOM if replay_id is not None else pb.ReplayPreset.Value(preset),
            replay_id=replay_id or b"",
            num_requested=min(max_events, MAX_REQUESTED),
        )
        requests: queue.SimpleQueue[pb.FetchRequest | None] = queue.SimpleQueue()
        requests.put(first)
        requested = first.num_requested
        events: list[ReceivedEvent] = []
        undecodable: list[ReceivedEvent] = []
        latest: bytes | None = None
        call = self._stub.Subscribe(_drain(requests), metadata=self._metadata(), timeout=wait_seconds)
        try:
            for response in call:
                for consumer_event in response.events:
                    received, readable = self._receive(consumer_event)
                    (events if readable else undecodable).append(received)
                    latest = received.replay_id
                if not response.events:  # keep-alive: caught up with the stream
                    latest = response.latest_replay_id or latest
                    break
                delivered = len(events) + len(undecodable)
                if delivered >= max_events:
                    break
                if response.pending_num_requested == 0 and requested <= delivered:
                    top_up = min(max_events - delivered, MAX_REQUESTED)
                    requests.put(pb.FetchRequest(topic_name=wire_topic, num_requested=top_up))
                    requested += top_up
        except grpc.RpcError as exc:
            # The deadline is the bound we asked for, not a failure: return what arrived before it.
            if call.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PubSubError.from_rpc_error(exc) from None
        finally:
            requests.put(None)
            call.cancel()
        return FetchResult(events, latest, undecodable)

    # -- publish ------------------------------------------------------------------------------------
    def publish(self, topic: str, payloads: Iterable[dict]) -> list[bytes]:
        """Publish events (custom fields plus ``CreatedById``) with the topic's current schema.

        ``CreatedDate`` defaults to now (epoch ms, as the schema expects). Returns the replay ids in
        order; raises :class:`PublishFailed` if Salesforce refused any event.
        """
        info = self.get_topic(topic)
        schema = self.schema(info.schema_id)
        now_ms = int(time.time() * 1000)
        events = []
        for payload in payloads:
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, schema, {"CreatedDate": now_ms, **payload})
            events.append(pb.ProducerEvent(id=str(uuid.uuid4()), schema_id=info.schema_id, payload=buffer.getvalue()))
        try:
            response = self._stub.Publish(
                pb.PublishRequest(topic_name=topic_path(topic), events=events),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        except grpc.RpcError as exc:
            raise PubSubError.from_rpc_error(exc) from None
        failures = {r.correlation_key: r.error.msg for r in response.results if r.HasField("error")}
        if failures:
            raise PublishFailed(failures)
        return [r.replay_id for r in response.results]


def _drain(requests: queue.SimpleQueue) -> Iterator[pb.FetchRequest]:
    """The request side of a Subscribe stream: FetchRequests as the fetch loop queues them, until None."""
    while (request := requests.get()) is not None:
        yield request
