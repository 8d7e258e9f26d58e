"""Pub/Sub API contract over the wire (salesforce-facts.md §1): events published with simple-salesforce over REST
reach a raw gRPC client built from the pipeline's stubs (TLS against the sandbox CA, metadata from a real OAuth
token): replay from EARLIEST, CUSTOM (exclusive) and LATEST, Avro decoding with GetSchema, and refusals."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import fastavro
import grpc
import pytest
from simple_salesforce import Salesforce

from sfns_pipeline.http import make_session
from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc
from sfns_pipeline.sandbox.salesforce.eventbus import encode_replay_id
from sfns_pipeline_tests.sandbox.salesforce.conftest import (
    Subscription,
    client_credentials_token,
    integration_client,
    salesforce_sandbox,
)

TOPIC = "/event/AccountsEvent__e"
ERROR_CODE = "sfdc.platform.eventbus.grpc."
REPLAY_CORRUPTED = ERROR_CODE + "subscription.fetch.replayid.corrupted"


@pytest.fixture
def stub(endpoints) -> Iterator[pb_grpc.PubSubStub]:
    credentials = grpc.ssl_channel_credentials(Path(endpoints["ca_cert"]).read_bytes())
    channel = grpc.secure_channel(endpoints["salesforce"]["pubsub_target"], credentials)
    yield pb_grpc.PubSubStub(channel)
    channel.close()


@pytest.fixture
def metadata(endpoints) -> tuple:
    """Auth metadata for a fresh client-credentials token (fetched over HTTPS like the pipeline does)."""
    return _metadata(endpoints, client_credentials_token(endpoints))


def _metadata(endpoints, token: str, tenant: str | None = None) -> tuple:
    section = endpoints["salesforce"]
    return (("accesstoken", token), ("instanceurl", section["instance_url"]), ("tenantid", tenant or section["org_id"]))


@contextmanager
def subscribed(stub, metadata, preset: int, replay_id: bytes = b"", num_requested: int = 100) -> Iterator[Subscription]:
    first = pb.FetchRequest(topic_name=TOPIC, replay_preset=preset, replay_id=replay_id, num_requested=num_requested)
    subscription = Subscription(stub, first, metadata)
    try:
        yield subscription
    finally:
        subscription.close()


def publish(sf: Salesforce, tag: str, count: int) -> list[str]:
    """Publish ``count`` AccountsEvent__e over REST (POST /sobjects/AccountsEvent__e); returns their EventUuids."""
    uuids = []
    for n in range(count):
        result = sf.AccountsEvent__e.create({"Account_Id__c": f"{tag}-{n}", "Change_Type__c": "Update"})
        assert result["success"] is True
        [enqueued] = result["errors"]  # async publish: success with OPERATION_ENQUEUED carrying the EventUuid
        assert enqueued["statusCode"] == "OPERATION_ENQUEUED"
        uuids.append(enqueued["message"])
    return uuids


def published_while_listening(stub, metadata, sf: Salesforce, tag: str, count: int) -> list[pb.ConsumerEvent]:
    """Publish ``count`` events over REST under a LATEST subscription; the events it receives."""
    with subscribed(stub, metadata, pb.LATEST) as subscription:
        nothing, _ = subscription.until_keepalive()  # the subscription's start is fixed
        assert nothing == []
        uuids = publish(sf, tag, count)
        received: list[pb.ConsumerEvent] = []
        while len(ours := [e for e in received if e.event.id in uuids]) < count:
            received.extend(subscription.next().events)
    assert [e.event.id for e in ours] == uuids
    return ours


def _replay(event: pb.ConsumerEvent) -> int:
    return int.from_bytes(event.replay_id, "big")


def _rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def _error_code(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata())["error-code"]


def test_earliest_replays_retained_events_in_publish_order(stub, metadata, sf, tag):
    uuids = publish(sf, tag, 3)
    with subscribed(stub, metadata, pb.EARLIEST) as subscription:
        retained = subscription.until_caught_up()
    ids = [e.event.id for e in retained]
    assert [event_id for event_id in ids if event_id in uuids] == uuids
    replay_ids = [_replay(e) for e in retained]
    assert replay_ids == sorted(set(replay_ids))  # increasing, each event once


def test_custom_replay_starts_strictly_after_the_given_replay_id(stub, metadata, sf, tag):
    first, second, third = published_while_listening(stub, metadata, sf, tag, 3)
    with subscribed(stub, metadata, pb.CUSTOM, replay_id=first.replay_id) as subscription:
        after_first = subscription.until_caught_up()
    ours = {first.event.id, second.event.id, third.event.id}
    assert [(e.event.id, e.replay_id) for e in after_first if e.event.id in ours] == [
        (second.event.id, second.replay_id),
        (third.event.id, third.replay_id),
    ]
    assert all(_replay(e) > _replay(first) for e in after_first)


def test_latest_sees_only_events_published_after_subscribing(stub, metadata, sf, tag):
    [before] = publish(sf, f"{tag}b", 1)
    with subscribed(stub, metadata, pb.LATEST) as subscription:
        nothing, keepalive = subscription.until_keepalive()
        [new] = publish(sf, f"{tag}n", 1)
        delivered: list[pb.ConsumerEvent] = []
        while new not in (delivered_ids := [e.event.id for e in delivered]):
            delivered.extend(subscription.next().events)
    assert nothing == [] and keepalive.latest_replay_id  # a position to resume from, even while idle
    assert before not in delivered_ids
    assert all(_replay(e) > int.from_bytes(keepalive.latest_replay_id, "big") for e in delivered)


def test_payload_decodes_with_the_schema_from_get_schema(stub, metadata, endpoints, sf, tag):
    started_ms = int(time.time() * 1000)
    [event] = published_while_listening(stub, metadata, sf, tag, 1)
    topic = stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=metadata)
    assert event.event.schema_id == topic.schema_id
    info = stub.GetSchema(pb.SchemaRequest(schema_id=event.event.schema_id), metadata=metadata)
    schema = json.loads(info.schema_json)
    assert (schema["name"], schema["namespace"], info.schema_id) == (
        "AccountsEvent__e",
        "com.sforce.eventbus",
        topic.schema_id,
    )
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types == {
        "CreatedDate": "long",
        "CreatedById": "string",
        "Account_Id__c": ["null", "string"],
        "Change_Type__c": ["null", "string"],
    }
    payload = fastavro.schemaless_reader(io.BytesIO(event.event.payload), fastavro.parse_schema(schema), None)
    created_ms = payload.pop("CreatedDate")
    assert started_ms <= created_ms <= int(time.time() * 1000)  # epoch milliseconds
    assert payload == {
        "CreatedById": endpoints["salesforce"]["integration_user_id"],
        "Account_Id__c": f"{tag}-0",
        "Change_Type__c": "Update",
    }


def test_expired_replay_id_is_refused_with_the_documented_error_code(tmp_path):
    """On an org of its own: expiring events purges them for good, which other tests' streams must not see."""
    with salesforce_sandbox(tmp_path / "sb", event_retention_hours=1) as org:
        endpoints = org.endpoints
        credentials = grpc.ssl_channel_credentials(Path(endpoints["ca_cert"]).read_bytes())
        with grpc.secure_channel(endpoints["salesforce"]["pubsub_target"], credentials) as channel:
            stub = pb_grpc.PubSubStub(channel)
            metadata = _metadata(endpoints, client_credentials_token(endpoints))
            older, newer = published_while_listening(stub, metadata, integration_client(endpoints), "exp", 2)
            admin = make_session(endpoints["ca_cert"])
            clock_url = f"{endpoints['salesforce']['instance_url']}/__sandbox__/clock"
            skew = admin.post(clock_url, json={"offset_seconds": timedelta(minutes=59).total_seconds()}, timeout=10)
            assert skew.status_code == 200
            with subscribed(stub, metadata, pb.CUSTOM, replay_id=older.replay_id) as subscription:
                [still_retained] = subscription.until_caught_up()  # within the 1-hour retention option
            assert still_retained.replay_id == newer.replay_id
            admin.post(clock_url, json={"offset_seconds": timedelta(minutes=61).total_seconds()}, timeout=10)
            with subscribed(stub, metadata, pb.CUSTOM, replay_id=older.replay_id) as subscription:
                error = _rpc_error(subscription.next)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(error) == REPLAY_CORRUPTED
    assert "The Replay ID validation failed." in error.details() and "rpcId:" in error.details()


@pytest.mark.parametrize(
    ("replay_id", "error_code"),
    [
        (b"\x00\x01corrupt", REPLAY_CORRUPTED),
        (encode_replay_id(2**62), REPLAY_CORRUPTED),  # never handed out
        (b"", ERROR_CODE + "subscription.fetch.replayid.validation.failed"),  # CUSTOM needs a replay id
    ],
    ids=["corrupted", "unknown", "missing"],
)
def test_invalid_custom_replay_ids_are_refused(stub, metadata, replay_id, error_code):
    with subscribed(stub, metadata, pb.CUSTOM, replay_id=replay_id) as subscription:
        error = _rpc_error(subscription.next)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(error) == error_code


@pytest.mark.parametrize(
    "leave_out",
    [("accesstoken", "instanceurl", "tenantid"), ("accesstoken",), ("tenantid",), ("instanceurl",)],
    ids=["no-metadata", "no-accesstoken", "no-tenantid", "no-instanceurl"],
)
def test_missing_auth_metadata_is_refused(stub, metadata, leave_out):
    partial = tuple((key, value) for key, value in metadata if key not in leave_out)
    with subscribed(stub, partial, pb.LATEST) as subscription:
        error = _rpc_error(subscription.next)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _error_code(error) == ERROR_CODE + "service.auth.headers.invalid"
    refused = _rpc_error(lambda: stub.GetSchema(pb.SchemaRequest(schema_id="x"), metadata=partial))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED


def test_an_expired_access_token_is_refused_until_the_client_reauthenticates(sandbox, stub, endpoints):
    token = client_credentials_token(endpoints)
    assert stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=_metadata(endpoints, token)).can_subscribe
    sandbox.clock.set_offset(timedelta(hours=3).total_seconds())  # beyond the 2-hour session lifetime
    with subscribed(stub, _metadata(endpoints, token), pb.LATEST) as subscription:
        error = _rpc_error(subscription.next)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _error_code(error) == ERROR_CODE + "service.auth.error"
    fresh = _metadata(endpoints, client_credentials_token(endpoints))
    assert stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=fresh).can_subscribe


def test_sales_users_account_is_delivered_to_a_subscriber(endpoints, sales, stub, metadata, tag):
    with subscribed(stub, metadata, pb.LATEST) as subscription:
        subscription.until_keepalive()
        account = sales.Account.create({"Name": f"Delivered {tag}"})["id"]  # the org's trigger publishes
        [event] = subscription.next().events
    info = stub.GetSchema(pb.SchemaRequest(schema_id=event.event.schema_id), metadata=metadata)
    payload = fastavro.schemaless_reader(
        io.BytesIO(event.event.payload), fastavro.parse_schema(json.loads(info.schema_json)), None
    )
    assert payload["Account_Id__c"] == account and payload["Change_Type__c"] == "Create"
    assert payload["CreatedById"] == endpoints["salesforce"]["sales_user_id"]


def test_pubsub_refuses_a_token_for_another_tenant(endpoints, stub, metadata):
    other_tenant = _metadata(endpoints, dict(metadata)["accesstoken"], tenant="00D000000000000AAA")
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=other_tenant)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    valid = stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=metadata)
    assert valid.tenant_guid == endpoints["salesforce"]["org_id"] and valid.can_subscribe
