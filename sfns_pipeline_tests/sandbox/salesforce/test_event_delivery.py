"""Triggered events reach a Pub/Sub API subscriber of the running org, authenticated with a REST access token."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import grpc
import pytest

from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc
from sfns_pipeline.sandbox.salesforce.eventbus import encode_replay_id
from sfns_pipeline_tests.sandbox.salesforce.conftest import client_credentials_token

TOPIC = "/event/AccountsEvent__e"


@pytest.fixture
def stub(endpoints) -> pb_grpc.PubSubStub:
    credentials = grpc.ssl_channel_credentials(Path(endpoints["ca_cert"]).read_bytes())
    channel = grpc.secure_channel(endpoints["salesforce"]["pubsub_target"], credentials)
    yield pb_grpc.PubSubStub(channel)
    channel.close()


def _metadata(endpoints, token: str, tenant: str | None = None) -> tuple:
    section = endpoints["salesforce"]
    return (("accesstoken", token), ("instanceurl", section["instance_url"]), ("tenantid", tenant or section["org_id"]))


def test_sales_users_account_is_delivered_to_a_subscriber(endpoints, sales, bus, stub, tag):
    metadata = _metadata(endpoints, client_credentials_token(endpoints))
    after = bus.last_replay_id
    account = sales.Account.create({"Name": f"Delivered {tag}"})["id"]
    first = pb.FetchRequest(
        topic_name=TOPIC, replay_preset=pb.CUSTOM, replay_id=encode_replay_id(after), num_requested=10
    )
    responses = stub.Subscribe(iter([first]), metadata=metadata, timeout=20)
    try:
        event = next(e for response in responses for e in response.events)
    finally:
        responses.cancel()
    info = stub.GetSchema(pb.SchemaRequest(schema_id=event.event.schema_id), metadata=metadata)
    payload = fastavro.schemaless_reader(
        io.BytesIO(event.event.payload), fastavro.parse_schema(json.loads(info.schema_json)), None
    )
    assert payload["Account_Id__c"] == account and payload["Change_Type__c"] == "Create"
    assert payload["CreatedById"] == endpoints["salesforce"]["sales_user_id"]


def test_pubsub_refuses_a_token_for_another_tenant(endpoints, stub):
    metadata = _metadata(endpoints, client_credentials_token(endpoints), tenant="00D000000000000AAA")
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    valid = stub.GetTopic(
        pb.TopicRequest(topic_name=TOPIC), metadata=_metadata(endpoints, client_credentials_token(endpoints))
    )
    assert valid.tenant_guid == endpoints["salesforce"]["org_id"] and valid.can_subscribe
