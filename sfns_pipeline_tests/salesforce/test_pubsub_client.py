"""The pipeline's Pub/Sub client against the emulator over real gRPC + TLS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce import Salesforce

from sfns_pipeline.http import make_session
from sfns_pipeline.salesforce.auth import OAuthSettings, fetch_access_token
from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.pubsub import (
    PubSubAuthError,
    PubSubClient,
    PubSubError,
    PubSubUnavailable,
    ReplayIdInvalid,
    replay_id_from_cursor,
    replay_id_to_cursor,
)
from sfns_pipeline_tests.sandbox.salesforce.test_pubsub_server import (
    INSTANCE_URL,
    METADATA,
    ORG_ID,
    TOKEN,
    RunningPubSub,
    running_pubsub,
)

ACCOUNTS = "AccountsEvent__e"
PAYMENTS = "Payment_and_Refund_Event__e"


@pytest.fixture
def pubsub(tmp_path) -> Iterator[RunningPubSub]:
    with running_pubsub(tmp_path) as running:
        yield running


def _client(pubsub: RunningPubSub, token: str = TOKEN) -> PubSubClient:
    return PubSubClient(
        pubsub.target,
        access_token=lambda: token,
        instance_url=INSTANCE_URL,
        tenant_id=ORG_ID,
        ca_file=pubsub.tls.ca_cert,
    )


def _account_events(client: PubSubClient, count: int, tag: str) -> list[bytes]:
    payloads = [{"Account_Id__c": f"{tag}-{n}", "CreatedById": "005000000000001AAA"} for n in range(count)]
    return client.publish(ACCOUNTS, payloads)


@pytest.mark.timeout(20)  # wait_seconds is 60: only the keep-alive can make the fetch return in time
def test_fetch_returns_all_pending_events_in_order_then_stops_at_the_keepalive(pubsub):
    with _client(pubsub) as client:
        replay_ids = _account_events(client, 3, "acct")
        result = client.fetch(ACCOUNTS, preset="EARLIEST", max_events=50, wait_seconds=60)
        idle = client.fetch(ACCOUNTS, replay_id=result.latest_replay_id, max_events=50, wait_seconds=60)
    assert [e.replay_id for e in result.events] == replay_ids
    assert [e.payload["Account_Id__c"] for e in result.events] == ["acct-0", "acct-1", "acct-2"]
    assert result.latest_replay_id == replay_ids[-1]
    assert idle.events == [] and idle.latest_replay_id == replay_ids[-1]


def test_fetch_resumes_from_a_stored_cursor_with_only_newer_events(pubsub):
    with _client(pubsub) as client:
        _account_events(client, 2, "old")
        first = client.fetch(ACCOUNTS, preset="EARLIEST", max_events=10, wait_seconds=10)
        cursor = json.dumps({"replay_id": replay_id_to_cursor(first.latest_replay_id)})
        newer = _account_events(client, 2, "new")
        resumed = client.fetch(
            ACCOUNTS, replay_id=replay_id_from_cursor(json.loads(cursor)["replay_id"]), max_events=10, wait_seconds=10
        )
    assert [e.replay_id for e in resumed.events] == newer
    assert [e.payload["Account_Id__c"] for e in resumed.events] == ["new-0", "new-1"]


def test_latest_preset_skips_what_was_published_before(pubsub):
    with _client(pubsub) as client:
        _account_events(client, 2, "before")
        result = client.fetch(ACCOUNTS, preset="LATEST", max_events=10, wait_seconds=10)
    assert result.events == []
    assert result.latest_replay_id is not None  # a position to resume from, so nothing after it is missed


def test_latest_on_an_org_without_events_still_pins_a_position_that_misses_nothing(pubsub):
    with _client(pubsub) as client:
        pinned = client.fetch(ACCOUNTS, preset="LATEST", max_events=10, wait_seconds=10).latest_replay_id
        [first] = _account_events(client, 1, "first-ever")
        resumed = client.fetch(ACCOUNTS, replay_id=pinned, max_events=10, wait_seconds=10)
    assert [e.replay_id for e in resumed.events] == [first]


def test_max_events_bounds_a_fetch_and_flow_control_tops_up_beyond_100(pubsub):
    with _client(pubsub) as client:
        replay_ids = _account_events(client, 130, "bulk")
        small = client.fetch(ACCOUNTS, preset="EARLIEST", max_events=5, wait_seconds=10)
        rest = client.fetch(ACCOUNTS, replay_id=small.latest_replay_id, max_events=200, wait_seconds=10)
    assert [e.replay_id for e in small.events] == replay_ids[:5]
    assert [e.replay_id for e in rest.events] == replay_ids[5:]


def test_fetch_decodes_numbers_and_dates_of_another_topic(pubsub):
    pubsub.bus.publish(
        PAYMENTS,
        {
            "Payment_Id__c": "a0B1",
            "Amount__c": 125.5,
            "Payment_Date__c": "2026-11-30",
            "CreatedById": "005000000000001AAA",
        },
    )
    with _client(pubsub) as client:
        [event] = client.fetch(PAYMENTS, preset="EARLIEST", max_events=10, wait_seconds=10).events
    assert event.payload["Amount__c"] == 125.5
    assert event.payload["Payment_Date__c"] == datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000  # epoch ms
    assert len(event.schema_id) == 22 and event.event_uuid


def test_expired_replay_id_raises_replay_id_invalid(pubsub):
    with _client(pubsub) as client:
        old, _newer = _account_events(client, 2, "expiring")
        pubsub.clock.set_offset(timedelta(hours=73).total_seconds())
        with pytest.raises(ReplayIdInvalid) as caught:
            client.fetch(ACCOUNTS, replay_id=old, max_events=10, wait_seconds=10)
    assert caught.value.error_code == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    assert caught.value.rpc_id


def test_corrupted_replay_id_raises_replay_id_invalid(pubsub):
    with _client(pubsub) as client, pytest.raises(ReplayIdInvalid):
        client.fetch(ACCOUNTS, replay_id=b"\x00garbage", max_events=10, wait_seconds=10)


def test_refused_token_raises_auth_error_and_a_fresh_token_is_used_per_call(pubsub):
    tokens = ["expired-session"]
    client = PubSubClient(
        pubsub.target,
        access_token=lambda: tokens[-1],
        instance_url=INSTANCE_URL,
        tenant_id=ORG_ID,
        ca_file=pubsub.tls.ca_cert,
    )
    with client:
        with pytest.raises(PubSubAuthError):
            client.fetch(ACCOUNTS, preset="LATEST", max_events=1, wait_seconds=10)
        with pytest.raises(PubSubAuthError):
            client.get_topic(ACCOUNTS)
        tokens.append(TOKEN)  # the caller refreshed its session
        assert client.get_topic(ACCOUNTS).can_subscribe


def test_outage_raises_unavailable(pubsub):
    pubsub.faults.add({"service": "pubsub", "kind": "UNAVAILABLE", "path": "^Subscribe$", "count": 1})
    with _client(pubsub) as client:
        with pytest.raises(PubSubUnavailable):
            client.fetch(ACCOUNTS, preset="EARLIEST", max_events=1, wait_seconds=10)
        assert client.fetch(ACCOUNTS, preset="EARLIEST", max_events=1, wait_seconds=10).events == []


def test_unknown_topic_is_a_plain_pubsub_error(pubsub):
    with _client(pubsub) as client, pytest.raises(PubSubError) as caught:
        client.get_topic("Nope__e")
    assert caught.value.status == "NOT_FOUND"


def test_undecodable_event_is_stepped_over_not_stalled_on(pubsub):
    stub = pubsub.stub()
    schema_id = pubsub.bus.schema_id(ACCOUNTS)
    garbage = pb.ProducerEvent(id="garbage-1", schema_id=schema_id, payload=b"\xff\xff\xff")
    stub.Publish(pb.PublishRequest(topic_name="/event/" + ACCOUNTS, events=[garbage]), metadata=METADATA)
    with _client(pubsub) as client:
        [good] = _account_events(client, 1, "fine")
        result = client.fetch(ACCOUNTS, preset="EARLIEST", max_events=10, wait_seconds=10)
    assert [e.event_uuid for e in result.undecodable] == ["garbage-1"]
    assert [e.replay_id for e in result.events] == [good]
    assert result.latest_replay_id == good


def test_event_published_over_rest_reaches_the_subscriber_with_a_real_token(sandbox):
    """The sandbox wiring end to end: OAuth token -> REST publish (simple-salesforce) -> Pub/Sub fetch."""
    endpoints, section = sandbox.endpoints, sandbox.endpoints["salesforce"]
    session = make_session(endpoints["ca_cert"])
    oauth = OAuthSettings(token_url=section["token_url"], flow="client_credentials", **section["client_credentials"])
    token = fetch_access_token(session, oauth)
    client = PubSubClient(
        section["pubsub_target"],
        access_token=lambda: token.access_token,
        instance_url=token.instance_url,
        tenant_id=token.org_id,
        ca_file=endpoints["ca_cert"],
    )
    sf = Salesforce(
        instance_url=token.instance_url, session_id=token.access_token, session=session, version=section["api_version"]
    )
    marker = uuid.uuid4().hex[:18]
    with client:
        position = client.fetch(ACCOUNTS, preset="LATEST", max_events=1, wait_seconds=10).latest_replay_id
        created = sf.AccountsEvent__e.create({"Account_Id__c": marker, "Change_Type__c": "UPDATE"})
        # The shared sandbox may carry other tests' events: find ours after the pinned position.
        received = client.fetch(ACCOUNTS, replay_id=position, max_events=100, wait_seconds=10).events
    assert created["success"] is True
    [ours] = [e for e in received if e.payload["Account_Id__c"] == marker]
    assert ours.payload["Change_Type__c"] == "UPDATE"
    assert ours.payload["CreatedById"].startswith("005")
    assert len(ours.replay_id) == 8 and ours.event_uuid
