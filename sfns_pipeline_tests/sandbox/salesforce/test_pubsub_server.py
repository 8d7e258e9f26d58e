"""The Pub/Sub API emulator over real gRPC + TLS, driven with the generated stubs (salesforce-facts.md §1)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import fastavro
import grpc
import pytest

from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc
from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.faults import FaultInjector
from sfns_pipeline.sandbox.salesforce.eventbus import EventBus, EventField
from sfns_pipeline.sandbox.salesforce.pubsub_server import PubSubServer
from sfns_pipeline.sandbox.tls import SandboxTLS
from sfns_pipeline_tests.sandbox.salesforce.conftest import Subscription

ORG_ID = "00D5g00000ABCDEFGH"
TOKEN = "00D5g00000ABCDEF!sandbox-session"
INSTANCE_URL = "https://sandbox.my.salesforce.com"
ACCOUNTS = "/event/AccountsEvent__e"
TOPICS = {
    "AccountsEvent__e": [EventField("Account_Id__c", "string"), EventField("Change_Type__c", "string")],
    "Payment_and_Refund_Event__e": [
        EventField("Payment_Id__c", "string"),
        EventField("Amount__c", "double"),
        EventField("Payment_Date__c", "date"),
    ],
}
METADATA = (("accesstoken", TOKEN), ("instanceurl", INSTANCE_URL), ("tenantid", ORG_ID))
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


@dataclass
class RunningPubSub:
    """An event bus and its gRPC server on a free port, with state in a temporary directory."""

    bus: EventBus
    server: PubSubServer
    target: str
    tls: SandboxTLS
    clock: SandboxClock
    faults: FaultInjector

    def stub(self) -> pb_grpc.PubSubStub:
        channel = grpc.secure_channel(self.target, grpc.ssl_channel_credentials(self.tls.ca_cert.read_bytes()))
        return pb_grpc.PubSubStub(channel)

    def publish_accounts(self, count: int) -> list[int]:
        return [
            self.bus.publish(
                "AccountsEvent__e", {"Account_Id__c": f"001{n:015d}", "CreatedById": "005000000000001AAA"}
            ).replay_id
            for n in range(count)
        ]


def _authenticate(token: str, instance_url: str, tenant_id: str) -> bool:
    return token == TOKEN and tenant_id == ORG_ID


@contextmanager
def running_pubsub(directory: Path, *, keepalive_interval: float = 30.0) -> Iterator[RunningPubSub]:
    """Start bus + server (TLS from a local CA in ``directory``); stop both on exit."""
    clock, faults = SandboxClock(), FaultInjector()
    tls = SandboxTLS.load_or_create(directory / "tls")
    bus = EventBus(f"sqlite:///{directory / 'eventbus.db'}", clock, ORG_ID, TOPICS)
    server = PubSubServer(bus, faults=faults, authenticate=_authenticate, keepalive_interval=keepalive_interval)
    target = server.start("127.0.0.1", 0, tls)
    try:
        yield RunningPubSub(bus, server, target, tls, clock, faults)
    finally:
        server.stop()
        bus.close()


@pytest.fixture
def pubsub(tmp_path) -> Iterator[RunningPubSub]:
    with running_pubsub(tmp_path) as running:
        yield running


@contextmanager
def subscribed(stub, preset=pb.EARLIEST, replay_id=b"", num_requested=100) -> Iterator[Subscription]:
    first = pb.FetchRequest(topic_name=ACCOUNTS, replay_preset=preset, replay_id=replay_id, num_requested=num_requested)
    subscription = Subscription(stub, first, METADATA)
    try:
        yield subscription
    finally:
        subscription.close()


def _decode(stub, event: pb.ConsumerEvent) -> dict:
    info = stub.GetSchema(pb.SchemaRequest(schema_id=event.event.schema_id), metadata=METADATA)
    schema = fastavro.parse_schema(json.loads(info.schema_json))
    return fastavro.schemaless_reader(io.BytesIO(event.event.payload), schema, None)


def _rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def _error_code(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata())["error-code"]


def test_subscribe_from_earliest_delivers_retained_events_in_order_with_avro_payloads(pubsub):
    replay_ids = pubsub.publish_accounts(3)
    stub = pubsub.stub()
    with subscribed(stub, pb.EARLIEST) as subscription:
        events, keepalive = subscription.until_keepalive()
    assert [int.from_bytes(e.replay_id, "big") for e in events] == replay_ids
    assert all(len(e.replay_id) == 8 for e in events)
    assert len({e.event.id for e in events}) == 3  # EventUuid travels as the event id
    payload = _decode(stub, events[0])
    assert payload["Account_Id__c"] == "001000000000000000"
    assert payload["CreatedById"] == "005000000000001AAA"
    assert payload["Change_Type__c"] is None
    assert isinstance(payload["CreatedDate"], int) and payload["CreatedDate"] > 1_600_000_000_000  # epoch ms
    assert keepalive.latest_replay_id == events[-1].replay_id


def test_custom_replay_starts_strictly_after_the_given_id(pubsub):
    first, second, third = pubsub.publish_accounts(3)
    stub = pubsub.stub()
    with subscribed(stub, pb.CUSTOM, replay_id=first.to_bytes(8, "big")) as subscription:
        events, _ = subscription.until_keepalive()
    assert [int.from_bytes(e.replay_id, "big") for e in events] == [second, third]


def test_latest_sees_only_events_published_after_subscribing(pubsub):
    earlier = pubsub.publish_accounts(2)
    stub = pubsub.stub()
    with subscribed(stub, pb.LATEST) as subscription:
        nothing, keepalive = subscription.until_keepalive()
        [new] = pubsub.publish_accounts(1)
        delivered = subscription.next()
    assert nothing == []
    assert [int.from_bytes(e.replay_id, "big") for e in delivered.events] == [new]
    assert int.from_bytes(keepalive.latest_replay_id, "big") == earlier[-1]


def test_flow_control_never_sends_more_than_requested(tmp_path):
    with running_pubsub(tmp_path, keepalive_interval=0.2) as pubsub:
        replay_ids = pubsub.publish_accounts(5)
        with subscribed(pubsub.stub(), pb.EARLIEST, num_requested=2) as subscription:
            first, keepalive = subscription.until_keepalive()
            subscription.request(2)
            second, _ = subscription.until_keepalive()
    assert [int.from_bytes(e.replay_id, "big") for e in first] == replay_ids[:2]
    assert keepalive.pending_num_requested == 0
    assert [int.from_bytes(e.replay_id, "big") for e in second] == replay_ids[2:4]


def test_idle_stream_gets_keepalives_with_the_latest_replay_id(tmp_path):
    with running_pubsub(tmp_path, keepalive_interval=0.2) as pubsub:
        [only] = pubsub.publish_accounts(1)
        with subscribed(pubsub.stub(), pb.EARLIEST, num_requested=1) as subscription:
            delivered = subscription.next()
            keepalives = [subscription.next(), subscription.next()]
    assert delivered.pending_num_requested == 0
    assert all(not k.events and k.latest_replay_id == only.to_bytes(8, "big") for k in keepalives)
    assert all(k.rpc_id for k in keepalives)


def test_get_topic_and_get_schema_describe_the_event(pubsub):
    stub = pubsub.stub()
    topic = stub.GetTopic(pb.TopicRequest(topic_name=ACCOUNTS), metadata=METADATA)
    assert (topic.topic_name, topic.tenant_guid, topic.can_subscribe, topic.can_publish) == (
        ACCOUNTS,
        ORG_ID,
        True,
        True,
    )
    info = stub.GetSchema(pb.SchemaRequest(schema_id=topic.schema_id), metadata=METADATA)
    schema = json.loads(info.schema_json)
    assert (schema["name"], schema["namespace"], schema["uuid"]) == (
        "AccountsEvent__e",
        "com.sforce.eventbus",
        topic.schema_id,
    )
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["CreatedDate"]["type"] == "long"
    assert fields["CreatedById"]["type"] == "string"
    assert fields["Account_Id__c"]["type"] == ["null", "string"] and fields["Account_Id__c"]["default"] is None
    assert len(topic.schema_id) == 22
    missing = _rpc_error(lambda: stub.GetTopic(pb.TopicRequest(topic_name="/event/Nope__e"), metadata=METADATA))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


def test_schema_id_is_stable_for_the_same_fields(tmp_path):
    with running_pubsub(tmp_path / "a") as one, running_pubsub(tmp_path / "b") as two:
        assert one.bus.schema_id("AccountsEvent__e") == two.bus.schema_id("AccountsEvent__e")
        assert one.bus.schema_id("AccountsEvent__e") != one.bus.schema_id("Payment_and_Refund_Event__e")


def test_grpc_publish_assigns_replay_ids_and_echoes_correlation_keys(pubsub):
    stub = pubsub.stub()
    topic = stub.GetTopic(pb.TopicRequest(topic_name=ACCOUNTS), metadata=METADATA)
    schema = fastavro.parse_schema(
        json.loads(stub.GetSchema(pb.SchemaRequest(schema_id=topic.schema_id), metadata=METADATA).schema_json)
    )
    ids = [str(uuid.uuid4()) for _ in range(2)]
    events = []
    for n, event_id in enumerate(ids):
        buffer = io.BytesIO()
        record = {"CreatedDate": 1_700_000_000_000, "CreatedById": "005000000000001AAA", "Account_Id__c": f"acct-{n}"}
        fastavro.schemaless_writer(buffer, schema, record)
        events.append(pb.ProducerEvent(id=event_id, schema_id=topic.schema_id, payload=buffer.getvalue()))
    response = stub.Publish(pb.PublishRequest(topic_name=ACCOUNTS, events=events), metadata=METADATA)
    assert [r.correlation_key for r in response.results] == ids
    assert response.schema_id == topic.schema_id
    published = [r.replay_id for r in response.results]
    assert published == sorted(published) and all(not r.HasField("error") for r in response.results)
    with subscribed(stub, pb.EARLIEST) as subscription:
        received, _ = subscription.until_keepalive()
    assert [(e.replay_id, e.event.id) for e in received] == list(zip(published, ids, strict=True))
    assert _decode(stub, received[1])["Account_Id__c"] == "acct-1"


def test_expired_replay_id_is_refused_with_the_documented_error_code(pubsub):
    old, _newer = pubsub.publish_accounts(2)
    pubsub.clock.set_offset(timedelta(hours=73).total_seconds())
    stub = pubsub.stub()
    with subscribed(stub, pb.CUSTOM, replay_id=old.to_bytes(8, "big")) as subscription:
        error = _rpc_error(subscription.next)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(error) == REPLAY_CORRUPTED
    assert "rpcId:" in error.details()
    with subscribed(stub, pb.EARLIEST) as subscription:
        retained, _ = subscription.until_keepalive()
    assert retained == []  # the expired event is gone


@pytest.mark.parametrize(
    ("replay_id", "preset", "error_code"),
    [
        (b"not-a-replay-id", pb.CUSTOM, REPLAY_CORRUPTED),
        ((10**9).to_bytes(8, "big"), pb.CUSTOM, REPLAY_CORRUPTED),  # never handed out
        (b"", pb.CUSTOM, "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"),
    ],
)
def test_invalid_replay_ids_are_refused(pubsub, replay_id, preset, error_code):
    pubsub.publish_accounts(1)
    with subscribed(pubsub.stub(), preset, replay_id=replay_id) as subscription:
        error = _rpc_error(subscription.next)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(error) == error_code


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("accesstoken", TOKEN), ("instanceurl", INSTANCE_URL)),
        (("accesstoken", "stolen"), ("instanceurl", INSTANCE_URL), ("tenantid", ORG_ID)),
    ],
    ids=["no-metadata", "no-tenantid", "bad-token"],
)
def test_calls_without_valid_auth_metadata_are_refused(pubsub, metadata):
    stub = pubsub.stub()
    error = _rpc_error(lambda: stub.GetTopic(pb.TopicRequest(topic_name=ACCOUNTS), metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _error_code(error).startswith("sfdc.platform.eventbus.grpc.service.auth.")
    first = pb.FetchRequest(topic_name=ACCOUNTS, replay_preset=pb.EARLIEST, num_requested=1)
    subscription = Subscription(stub, first, metadata=metadata)
    try:
        assert _rpc_error(subscription.next).code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        subscription.close()


def test_injected_fault_renders_as_grpc_status(pubsub):
    pubsub.faults.add({"service": "pubsub", "kind": "UNAVAILABLE", "path": "^GetTopic$", "count": 1})
    stub = pubsub.stub()
    error = _rpc_error(lambda: stub.GetTopic(pb.TopicRequest(topic_name=ACCOUNTS), metadata=METADATA))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert _error_code(error) == "sfdc.platform.eventbus.grpc.service.unavailable"
    assert stub.GetTopic(
        pb.TopicRequest(topic_name=ACCOUNTS), metadata=METADATA
    ).schema_id  # count=1: next call is fine


def test_events_and_replay_ids_survive_a_restart(tmp_path):
    with running_pubsub(tmp_path) as pubsub:
        before = pubsub.publish_accounts(2)
    with running_pubsub(tmp_path) as pubsub:
        [after] = pubsub.publish_accounts(1)
        with subscribed(pubsub.stub(), pb.CUSTOM, replay_id=before[0].to_bytes(8, "big")) as subscription:
            events, _ = subscription.until_keepalive()
    assert after > before[-1]
    assert [int.from_bytes(e.replay_id, "big") for e in events] == [before[1], after]


def test_a_later_fetch_request_for_another_topic_ends_the_stream(pubsub):
    with subscribed(pubsub.stub(), pb.LATEST, num_requested=1) as subscription:
        subscription.until_keepalive()
        subscription.send(pb.FetchRequest(topic_name="/event/Payment_and_Refund_Event__e", num_requested=1))
        error = _rpc_error(subscription.until_keepalive)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(error) == "sfdc.platform.eventbus.grpc.subscription.fetch.topic.mismatch"


def test_publish_stream_answers_each_request(pubsub):
    stub = pubsub.stub()
    schema_id = pubsub.bus.schema_id("AccountsEvent__e")
    requests = [
        pb.PublishRequest(
            topic_name=ACCOUNTS, events=[pb.ProducerEvent(id=f"stream-{n}", schema_id=schema_id, payload=b"")]
        )
        for n in range(2)
    ]
    responses = list(stub.PublishStream(iter(requests), metadata=METADATA, timeout=10))
    assert [[r.correlation_key for r in response.results] for response in responses] == [["stream-0"], ["stream-1"]]
    assert responses[0].results[0].replay_id < responses[1].results[0].replay_id


def test_the_position_of_a_quiet_expired_stream_stays_valid(pubsub):
    """Keep-alives name the tip; resuming there cannot skip anything, so it is not refused as expired."""
    [tip] = pubsub.publish_accounts(1)
    pubsub.clock.set_offset(timedelta(hours=73).total_seconds())
    stub = pubsub.stub()
    with subscribed(stub, pb.EARLIEST) as subscription:
        nothing, keepalive = subscription.until_keepalive()
    assert nothing == [] and keepalive.latest_replay_id == tip.to_bytes(8, "big")
    with subscribed(stub, pb.CUSTOM, replay_id=keepalive.latest_replay_id) as subscription:
        resumed, _ = subscription.until_keepalive()
        [new] = pubsub.publish_accounts(1)
        delivered = subscription.next()
    assert resumed == []
    assert [int.from_bytes(e.replay_id, "big") for e in delivered.events] == [new]
