"""The Pub/Sub API emulator: service ``eventbus.v1.PubSub`` over gRPC with TLS, in front of an :class:`EventBus`.

This is the *protocol layer*: it authenticates the ``accesstoken`` / ``instanceurl`` / ``tenantid``
metadata, applies injected faults, turns bus errors into the status + ``error-code`` trailer
Salesforce sends (``salesforce-facts.md`` §1.9), and implements the Subscribe stream's pull model:

- the first FetchRequest fixes topic and replay start (later replay fields are ignored; a different
  topic is an error);
- events are delivered only against ``num_requested`` (at most 100 outstanding); later FetchRequests
  add to what is owed;
- while there is nothing to deliver the server sends keep-alives (FetchResponse without events,
  carrying ``latest_replay_id``). The first one goes out as soon as the subscription is caught up
  with requests outstanding, then every ``keepalive_interval`` seconds (Salesforce: within 270 s), so
  a bounded client learns promptly that nothing more is pending.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc

from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc
from sfns_pipeline.sandbox.faults import FaultInjector
from sfns_pipeline.sandbox.salesforce.eventbus import (
    ERROR_CODE_PREFIX,
    EventBus,
    EventBusError,
    StoredEvent,
    TopicNotFound,
    encode_replay_id,
)
from sfns_pipeline.sandbox.tls import SandboxTLS

SERVICE = "pubsub"  # the FaultInjector service name
EVENT_TOPIC_PREFIX = "/event/"
MAX_OUTSTANDING = 100  # more requested than this is treated as 100
MAX_EVENT_BYTES = 1_000_000


class AuthHeadersInvalid(EventBusError):
    """UNAUTHENTICATED ``service.auth.headers.invalid``: accesstoken, instanceurl or tenantid metadata missing."""

    status = "UNAUTHENTICATED"
    error_code = ERROR_CODE_PREFIX + "service.auth.headers.invalid"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"The request is missing the authentication headers: {', '.join(missing)}.")


class AuthFailed(EventBusError):
    """UNAUTHENTICATED ``service.auth.error``: credentials that do not name a live session of this org."""

    status = "UNAUTHENTICATED"
    error_code = ERROR_CODE_PREFIX + "service.auth.error"

    def __init__(self) -> None:
        super().__init__(
            "An authentication exception occurred. The session does not have valid authentication credentials."
        )


class RequestedEventsInvalid(EventBusError):
    """INVALID_ARGUMENT ``subscription.fetch.requested.events.invalid``: a FetchRequest asking for no events."""

    status = "INVALID_ARGUMENT"
    error_code = ERROR_CODE_PREFIX + "subscription.fetch.requested.events.invalid"

    def __init__(self, requested: int) -> None:
        super().__init__(f"The number of requested events must be greater than 0, got {requested}.")


class TopicMismatch(EventBusError):
    """INVALID_ARGUMENT ``subscription.fetch.topic.mismatch``: a stream's later request names another topic."""

    status = "INVALID_ARGUMENT"
    error_code = ERROR_CODE_PREFIX + "subscription.fetch.topic.mismatch"

    def __init__(self, first: str, later: str) -> None:
        super().__init__(f"The topic {later} doesn't match the topic {first} of this subscription.")


class PublishEventCountInvalid(EventBusError):
    """INVALID_ARGUMENT ``publish.event.count.invalid``: a publish request without events."""

    status = "INVALID_ARGUMENT"
    error_code = ERROR_CODE_PREFIX + "publish.event.count.invalid"

    def __init__(self) -> None:
        super().__init__("A publish request must contain at least one event.")


class InjectedFault(EventBusError):
    """A fault rule's ``kind`` rendered the way Salesforce reports that failure."""

    # kind -> (status, error code suffix or None, message)
    KINDS: dict[str, tuple[str, str | None, str]] = {
        "UNAVAILABLE": ("UNAVAILABLE", "service.unavailable", "The service is unavailable. Try again later."),
        "UNAUTHENTICATED": ("UNAUTHENTICATED", "service.auth.error", "An authentication exception occurred."),
        "RESOURCE_EXHAUSTED": (
            "RESOURCE_EXHAUSTED",
            "subscription.limit.exceeded",
            "The org has exceeded its event delivery allocation.",
        ),
        "drop": ("UNAVAILABLE", None, "Connection reset by peer"),
    }

    def __init__(self, kind: str) -> None:
        status, code, message = self.KINDS.get(kind, (kind.upper(), None, f"Injected fault {kind}."))
        if status not in grpc.StatusCode.__members__:
            status = "INTERNAL"
        self.status = status
        self.error_code = ERROR_CODE_PREFIX + code if code else None
        super().__init__(message)


def _rpc(handler: Callable) -> Callable:
    """Run an RPC handler after faults and auth; render :class:`EventBusError` as status + trailers."""
    method = handler.__name__

    def fail(context: grpc.ServicerContext, exc: EventBusError, rpc_id: str) -> None:
        trailers = [("rpc-id", rpc_id)]
        if exc.error_code:
            trailers.insert(0, ("error-code", exc.error_code))
        context.set_trailing_metadata(tuple(trailers))
        context.abort(grpc.StatusCode[exc.status], f"{exc} rpcId: {rpc_id}")

    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def streaming(self: PubSubServer, request, context: grpc.ServicerContext) -> Iterator:
            rpc_id = str(uuid.uuid4())
            try:
                self._admit(method, context)
                yield from handler(self, request, context, rpc_id)
            except EventBusError as exc:
                fail(context, exc, rpc_id)

        return streaming

    @functools.wraps(handler)
    def unary(self: PubSubServer, request, context: grpc.ServicerContext):
        rpc_id = str(uuid.uuid4())
        try:
            self._admit(method, context)
            return handler(self, request, context, rpc_id)
        except EventBusError as exc:
            fail(context, exc, rpc_id)

    return unary


class PubSubServer(pb_grpc.PubSubServicer):
    """``eventbus.v1.PubSub`` for the sandbox org: Subscribe, GetSchema, GetTopic, Publish, PublishStream.

    ``authenticate(accesstoken, instanceurl, tenantid)`` says whether a caller's metadata is valid (the
    REST sandbox owns sessions). Faults are looked up with service ``"pubsub"`` and the RPC method name
    (``Subscribe``, ``Publish``, ...) as the path.
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        faults: FaultInjector,
        authenticate: Callable[[str, str, str], bool],
        keepalive_interval: float = 30.0,
        max_workers: int = 64,
    ) -> None:
        self.bus = bus
        self.faults = faults
        self.authenticate = authenticate
        self.keepalive_interval = keepalive_interval
        self.max_workers = max_workers
        self._server: grpc.Server | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, host: str, port: int, tls: SandboxTLS) -> str:
        """Serve over TLS on ``host:port`` (0 = any free port); returns the bound ``host:port``."""
        # Every open Subscribe holds a worker for its lifetime, hence a roomy pool.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="pubsub"))
        pb_grpc.add_PubSubServicer_to_server(self, server)
        address = f"[{host}]" if ":" in host else host
        bound = server.add_secure_port(f"{address}:{port}", tls.grpc_server_credentials())
        server.start()
        self._server = server
        return f"{address}:{bound}"

    def stop(self) -> None:
        """Stop serving; open streams are cancelled."""
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None

    # -- shared checks ------------------------------------------------------------------------------
    def _admit(self, method: str, context: grpc.ServicerContext) -> None:
        fault = self.faults.match(SERVICE, method)
        if fault is not None:
            if fault.latency_ms:
                time.sleep(fault.latency_ms / 1000)
            if fault.kind != "latency":
                raise InjectedFault(fault.kind)
        metadata = {key: value for key, value in context.invocation_metadata()}
        credentials = [metadata.get(key, "") for key in ("accesstoken", "instanceurl", "tenantid")]
        missing = [
            key for key, value in zip(("accesstoken", "instanceurl", "tenantid"), credentials, strict=True) if not value
        ]
        if missing:
            raise AuthHeadersInvalid(missing)
        if not self.authenticate(*credentials):
            raise AuthFailed()

    def _topic(self, wire_name: str) -> str:
        """The event API name behind ``/event/<Name>__e``."""
        name = wire_name.removeprefix(EVENT_TOPIC_PREFIX)
        if name == wire_name or name not in self.bus.topic_names:
            raise TopicNotFound(self.bus.org_id, wire_name)
        return name

    # -- unary RPCs ---------------------------------------------------------------------------------
    @_rpc
    def GetTopic(self, request: pb.TopicRequest, context, rpc_id: str) -> pb.TopicInfo:
        """GetTopic: the topic's schema id and publish/subscribe permissions."""
        topic = self._topic(request.topic_name)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self.bus.org_id,
            can_publish=True,
            can_subscribe=True,
            schema_id=self.bus.schema_id(topic),
            rpc_id=rpc_id,
        )

    @_rpc
    def GetSchema(self, request: pb.SchemaRequest, context, rpc_id: str) -> pb.SchemaInfo:
        """GetSchema: the Avro schema JSON for a schema id."""
        return pb.SchemaInfo(
            schema_json=self.bus.schema_json(request.schema_id), schema_id=request.schema_id, rpc_id=rpc_id
        )

    @_rpc
    def Publish(self, request: pb.PublishRequest, context, rpc_id: str) -> pb.PublishResponse:
        """Publish: one result per event in request order, each with its replay id or error."""
        return self._publish(request, rpc_id)

    def _publish(self, request: pb.PublishRequest, rpc_id: str) -> pb.PublishResponse:
        """Store each event as sent: like Salesforce, payloads are not validated against the schema."""
        topic = self._topic(request.topic_name)
        if not request.events:
            raise PublishEventCountInvalid()
        results = []
        for event in request.events:
            correlation_key = event.id or str(uuid.uuid4())
            if len(event.payload) > MAX_EVENT_BYTES:
                error = pb.Error(code=pb.PUBLISH, msg=f"The event exceeds the maximum size of {MAX_EVENT_BYTES} bytes.")
                results.append(pb.PublishResult(error=error, correlation_key=correlation_key))
                continue
            stored = self.bus.append(
                topic, event.payload, schema_id=event.schema_id or self.bus.schema_id(topic), event_uuid=correlation_key
            )
            results.append(
                pb.PublishResult(replay_id=encode_replay_id(stored.replay_id), correlation_key=correlation_key)
            )
        return pb.PublishResponse(results=results, schema_id=self.bus.schema_id(topic), rpc_id=rpc_id)

    # -- streaming RPCs -----------------------------------------------------------------------------
    @_rpc
    def PublishStream(self, request_iterator, context, rpc_id: str) -> Iterator[pb.PublishResponse]:
        """PublishStream: one PublishResponse per request, all on the topic of the first."""
        first_topic = None
        for request in request_iterator:
            first_topic = first_topic or request.topic_name
            if request.topic_name and request.topic_name != first_topic:
                raise TopicMismatch(first_topic, request.topic_name)
            yield self._publish(request, rpc_id)

    @_rpc
    def Subscribe(self, request_iterator, context, rpc_id: str) -> Iterator[pb.FetchResponse]:
        """Subscribe: events after the replay preset, as many as the client requests, with keep-alives."""
        try:
            first = next(request_iterator)
        except (StopIteration, grpc.RpcError):  # the client left before asking for anything
            return
        topic = self._topic(first.topic_name)
        preset = pb.ReplayPreset.Name(first.replay_preset)
        start = self.bus.start_after(preset, first.replay_id)
        subscription = _Subscription(self.bus, topic, first.topic_name, start, self.keepalive_interval, rpc_id)
        subscription.request(first.num_requested)
        context.add_callback(subscription.close)
        reader = threading.Thread(
            target=subscription.read_requests, args=(request_iterator,), name=f"pubsub-requests-{rpc_id}", daemon=True
        )
        reader.start()
        yield from subscription.responses()


class _Subscription:
    """One Subscribe stream's state: what the client still asks for, and how far it has been served.

    Two threads meet on ``condition``: the reader adds requested events, the bus announces new events,
    and the serving generator sleeps on it until one of them (or the keep-alive timer) wakes it.
    """

    def __init__(
        self, bus: EventBus, topic: str, wire_topic: str, start_after: int, keepalive_interval: float, rpc_id: str
    ) -> None:
        self.bus = bus
        self.topic = topic
        self.wire_topic = wire_topic
        self.keepalive_interval = keepalive_interval
        self.rpc_id = rpc_id
        self.condition = threading.Condition()
        self.pending = 0
        self.closed = False
        self.requests_done = False
        self.error: EventBusError | None = None
        self.delivered_through = start_after  # last replay id delivered (or the start point)
        self.scanned_through = start_after  # every event of the topic up to here has been delivered

    # -- the client's side --------------------------------------------------------------------------
    def request(self, num_requested: int) -> None:
        """Add to the events owed (capped at 100 outstanding)."""
        if num_requested <= 0:
            raise RequestedEventsInvalid(num_requested)
        with self.condition:
            self.pending = min(self.pending + num_requested, MAX_OUTSTANDING)
            self.condition.notify_all()

    def read_requests(self, request_iterator: Iterator[pb.FetchRequest]) -> None:
        """Consume later FetchRequests (their replay fields are ignored, as Salesforce does)."""
        try:
            for request in request_iterator:
                if request.topic_name and request.topic_name != self.wire_topic:
                    raise TopicMismatch(self.wire_topic, request.topic_name)
                self.request(request.num_requested)
        except EventBusError as exc:
            with self.condition:
                self.error = exc
                self.condition.notify_all()
        except grpc.RpcError:
            self.close()  # the client went away
        finally:
            with self.condition:
                self.requests_done = True
                self.condition.notify_all()

    def close(self) -> None:
        """The RPC ended (client cancel, deadline, server stop): stop serving."""
        with self.condition:
            self.closed = True
            self.condition.notify_all()

    # -- the server's side --------------------------------------------------------------------------
    def _has_work(self) -> bool:
        return self.pending > 0 and self.bus.last_replay_id > self.scanned_through

    def responses(self) -> Iterator[pb.FetchResponse]:
        """FetchResponses until the client cancels: events against requests, keep-alives while idle."""
        self.bus.add_listener(self.condition)
        told_idle = False  # has the client heard "caught up" since the last delivery?
        last_sent = time.monotonic()
        try:
            while True:
                with self.condition:
                    while True:
                        if self.error is not None or self.closed:
                            break
                        if self._has_work() or (self.requests_done and self.pending == 0):
                            break
                        if self.pending > 0 and not told_idle:
                            break
                        remaining = last_sent + self.keepalive_interval - time.monotonic()
                        if remaining <= 0:
                            break
                        self.condition.wait(remaining)
                    if self.error is not None:
                        raise self.error
                    if self.closed or (self.requests_done and self.pending == 0):
                        return
                    has_work, limit = self._has_work(), self.pending
                if has_work:
                    events, last = self.bus.read(self.topic, after=self.delivered_through, limit=limit)
                    self.scanned_through = last if len(events) < limit else events[-1].replay_id
                    if events:
                        yield self._deliver(events)
                        told_idle, last_sent = False, time.monotonic()
                    continue
                yield self._keepalive()
                told_idle, last_sent = True, time.monotonic()
        finally:
            self.bus.remove_listener(self.condition)

    def _deliver(self, events: list[StoredEvent]) -> pb.FetchResponse:
        with self.condition:
            self.pending -= len(events)
            pending = self.pending
        self.delivered_through = events[-1].replay_id
        return pb.FetchResponse(
            events=[
                pb.ConsumerEvent(
                    event=pb.ProducerEvent(id=e.event_uuid, schema_id=e.schema_id, payload=e.payload),
                    replay_id=encode_replay_id(e.replay_id),
                )
                for e in events
            ],
            latest_replay_id=encode_replay_id(events[-1].replay_id),
            rpc_id=self.rpc_id,
            pending_num_requested=pending,
        )

    def _keepalive(self) -> pb.FetchResponse:
        with self.condition:
            pending = self.pending
        # Always a position, even in an org without events yet: a client that pins it at its first
        # (LATEST) fetch keeps every event published before its next one.
        latest = encode_replay_id(self.scanned_through)
        return pb.FetchResponse(latest_replay_id=latest, rpc_id=self.rpc_id, pending_num_requested=pending)
