"""The Platform Event sensor: replay-id cursor, batching into runs, restarts, and lost replay ids.

Evaluated with ``build_sensor_context`` against the Salesforce sandbox's Pub/Sub API (gRPC over TLS),
using the customer flow's sensor (``AccountsEvent__e``) as the concrete instance of the factory.
"""

import base64
import json
from dataclasses import replace
from datetime import datetime, timedelta

import dagster as dg
import pytest

from sfns_pipeline.flows.platform_events import CATCH_UP_OVERLAP, EventCursor
from sfns_pipeline.salesforce.pubsub import PubSubError
from sfns_pipeline.salesforce.resource import SENSOR_CALL_TIMEOUT_SECONDS
from sfns_pipeline.sandbox.faults import FaultRule
from sfns_pipeline_tests.flows.sandbox_harness import CustomerFlow, customer_flow, sales_user

RETENTION = timedelta(hours=72)


@pytest.fixture
def flow(sandbox, tmp_path, monkeypatch) -> CustomerFlow:
    with customer_flow(sandbox, tmp_path, monkeypatch) as running:
        yield running


def saved(result: dg.SensorResult) -> EventCursor:
    """The cursor the daemon stores after this tick."""
    return EventCursor.read(result.cursor)[0]


def account_ids(result: dg.SensorResult) -> list[str]:
    return [
        event["Account_Id__c"] for r in result.run_requests for event in r.run_config["ops"]["load"]["config"]["events"]
    ]


def test_first_start_from_earliest_takes_the_retained_events(fresh_sandbox, tmp_path, monkeypatch):
    with customer_flow(fresh_sandbox, tmp_path, monkeypatch) as flow:
        created = [flow.create_account() for _ in range(3)]
        result = flow.tick(None)  # the default: EARLIEST on first start
    assert account_ids(result) == created
    assert saved(result).replay_id


def test_first_start_from_latest_pins_the_position_without_runs(flow):
    flow.create_account()  # published before the sensor ever ran: not wanted with LATEST
    first = flow.tick(None, initial_replay="LATEST")
    assert first.run_requests == [] and first.skip_message
    later = flow.create_account()
    assert account_ids(flow.tick(first.cursor)) == [later]


def test_events_are_grouped_into_runs_keyed_by_their_replay_ids(flow):
    cursor = flow.pin()
    created = [flow.create_account() for _ in range(5)]

    result = flow.tick(cursor, batch_size=2)

    assert [len(r.run_config["ops"]["load"]["config"]["events"]) for r in result.run_requests] == [2, 2, 1]
    assert account_ids(result) == created
    events = [e for r in result.run_requests for e in r.run_config["ops"]["load"]["config"]["events"]]
    hexes = [base64.b64decode(e["replay_id"]).hex() for e in events]
    generation = saved(result).generation
    assert [r.run_key for r in result.run_requests] == [
        f"customer_sync:g{generation}:{hexes[0]}-{hexes[1]}",
        f"customer_sync:g{generation}:{hexes[2]}-{hexes[3]}",
        f"customer_sync:g{generation}:{hexes[4]}-{hexes[4]}",
    ]
    assert all(r.tags["sfns/flow"] == "customer_sync" for r in result.run_requests)
    assert saved(result).replay_id == events[-1]["replay_id"]


def test_one_tick_launches_a_bounded_number_of_runs_and_the_next_continues(flow):
    cursor = flow.pin()
    created = [flow.create_account() for _ in range(12)]

    first = flow.tick(cursor, batch_size=1)
    second = flow.tick(first.cursor, batch_size=1)

    assert len(first.run_requests) == 10  # MAX_RUNS_PER_TICK batches, the rest waits for the next tick
    assert account_ids(first) + account_ids(second) == created


def test_the_cursor_survives_a_restart(flow):
    cursor = flow.pin()
    before = flow.create_account()
    first = flow.tick(cursor)
    assert account_ids(first) == [before]

    # a restarted daemon: a new instance and new resources (new gRPC channel, new login); only the
    # stored cursor string carries over
    after = flow.create_account()
    flow.instance = dg.DagsterInstance.ephemeral()
    restarted = flow.tick(first.cursor)

    assert account_ids(restarted) == [after]


def test_a_refused_pubsub_token_is_renewed_once(flow, sandbox):
    cursor = flow.pin()
    created = flow.create_account()
    sandbox.faults.add(FaultRule(service="pubsub", kind="UNAUTHENTICATED", path="Subscribe", count=1))

    result = flow.tick(cursor)

    assert account_ids(result) == [created]
    assert sandbox.faults.rules()[0]["hits"] == 1


@pytest.mark.parametrize("stored", ["AAAAAAAAAAAAAAAAAAA=", "bm90IGEgcmVwbGF5IGlk", "%%% not base64 %%%"])
def test_a_corrupted_replay_id_resumes_from_earliest_with_a_catch_up_and_an_email(flow, stored):
    last_event_time = "2026-12-01T10:00:00+00:00"
    cursor = EventCursor(replay_id=stored, last_event_time=last_event_time).to_json()

    result = flow.tick(cursor)

    catch_up = [r for r in result.run_requests if r.run_config["ops"]["load"]["config"]["catch_up_since"]]
    (request,) = catch_up
    since = datetime.fromisoformat(request.run_config["ops"]["load"]["config"]["catch_up_since"])
    assert since == datetime.fromisoformat(last_event_time) - CATCH_UP_OVERLAP
    after = saved(result)
    assert request.run_key == f"customer_sync:g{after.generation}:catch-up:{since.isoformat()}"
    assert "rejected" in after.lost_position and not after.stopped
    assert after.replay_id and after.replay_id != stored  # resumed from the earliest retained event
    (mail,) = flow.mails()
    assert "replay id" in mail["Subject"] and "catch-up" in mail.get_content()


def test_an_expired_replay_id_is_reported_and_handled_by_the_policy(fresh_sandbox, tmp_path, monkeypatch):
    with customer_flow(fresh_sandbox, tmp_path, monkeypatch) as flow:
        processed = flow.create_account()
        first = flow.tick(None)
        assert account_ids(first) == [processed]
        cursor = first.cursor
        fresh_sandbox.clock.set_offset((RETENTION + timedelta(hours=1)).total_seconds())  # the sensor was off 73 h
        flow.sales = sales_user(fresh_sandbox)  # the sales team logged in again meanwhile
        newer = flow.create_account()  # published after the gap, still retained

        result = flow.tick(cursor)

        config = [r.run_config["ops"]["load"]["config"] for r in result.run_requests]
        assert config[0]["catch_up_since"], (cursor, result.cursor, config)  # re-read what changed in the gap
        assert config[0]["events"] == []
        assert [e["Account_Id__c"] for c in config[1:] for e in c["events"]] == [newer]
        assert processed not in json.dumps(config)  # it expired with the stream
        assert "rejected" in saved(result).lost_position
        (mail,) = flow.mails()
        assert "customer sync" in mail["Subject"]


def test_an_operator_can_set_the_cursor_to_a_replay_id(flow):
    cursor = flow.pin()
    created = [flow.create_account() for _ in range(3)]
    first = flow.tick(cursor, batch_size=1)
    second_event = first.run_requests[0].run_config["ops"]["load"]["config"]["events"][0]

    replayed = flow.tick(second_event["replay_id"])  # "Set cursor value" in the UI: resume after that event

    assert account_ids(replayed) == created[1:]


def test_policy_earliest_resumes_without_a_catch_up(flow):
    result = flow.tick(EventCursor(replay_id="bm9wZQ==", last_event_time="2026-12-01T10:00:00+00:00").to_json(),
                       on_replay_invalid="earliest")  # fmt: skip
    assert not [r for r in result.run_requests if r.run_config["ops"]["load"]["config"]["catch_up_since"]]
    assert len(flow.mails()) == 1


def test_policy_stop_launches_nothing_until_the_cursor_is_reset(flow):
    stored = EventCursor(replay_id="bm9wZQ==", last_event_time="2026-12-01T10:00:00+00:00").to_json()

    stopped = flow.tick(stored, on_replay_invalid="stop")
    again = flow.tick(stopped.cursor, on_replay_invalid="stop")

    assert stopped.run_requests == [] and again.run_requests == []
    assert saved(stopped).stopped
    assert "reset the cursor" in again.skip_message
    assert len(flow.mails()) == 1  # one alert, not one per tick


def test_rewinding_the_cursor_requests_the_same_events_again_under_new_keys(flow):
    cursor = flow.pin()
    created = [flow.create_account() for _ in range(3)]
    first = flow.tick(cursor, batch_size=2)
    for request in first.run_requests:
        flow.run(request)

    # the operator sets the cursor back to where these events began (UI: "Set cursor value")
    rewound = flow.tick(EventCursor.read(cursor)[0].replay_id, batch_size=2)

    assert account_ids(rewound) == account_ids(first) == created  # the same batches, replay ids lined up
    assert not {r.run_key for r in rewound.run_requests} & {r.run_key for r in first.run_requests}
    assert saved(rewound).generation > saved(first).generation


def test_an_edited_cursor_starts_a_new_generation_too(flow):
    cursor = flow.pin()
    created = flow.create_account()
    first = flow.tick(cursor)

    # an operator edits the stored cursor by hand instead of pasting a bare replay id
    edited = json.loads(first.cursor) | {"replay_id": EventCursor.read(cursor)[0].replay_id}
    again = flow.tick(json.dumps(edited))

    assert account_ids(again) == account_ids(first) == [created]
    assert again.run_requests[0].run_key != first.run_requests[0].run_key


def test_a_second_lost_position_requests_a_new_catch_up(flow):
    last_event_time = "2026-12-01T10:00:00+00:00"
    first = flow.tick(EventCursor(replay_id="bm9wZQ==", last_event_time=last_event_time).to_json(), batch_size=1)
    # later the sensor's position is rejected again with no event processed in between: the same last
    # event time, so the same catch-up window — and the first catch-up run may well have failed
    second_loss = replace(saved(first), replay_id="bm9wZQ==", last_event_time=last_event_time)
    again = flow.tick(second_loss.to_json(), batch_size=1)

    def catch_ups(result: dg.SensorResult) -> list[dg.RunRequest]:
        return [r for r in result.run_requests if r.run_config["ops"]["load"]["config"]["catch_up_since"]]

    ((one,), (two,)) = catch_ups(first), catch_ups(again)
    assert one.run_config == two.run_config
    assert one.run_key != two.run_key  # Dagster would skip a key it has seen, even of a failed run


def test_a_failing_restart_after_a_lost_replay_id_alerts_once(flow, sandbox):
    flow.create_account()  # a retained event: resuming from the earliest one needs its schema
    sandbox.faults.add(FaultRule(service="pubsub", kind="UNAVAILABLE", path="GetSchema"))
    cursor = EventCursor(replay_id="bm9wZQ==", last_event_time="2026-12-01T10:00:00+00:00").to_json()

    for _ in range(3):  # as the daemon runs it: a tick that raises keeps its old cursor
        try:
            cursor = flow.tick(cursor).cursor
        except PubSubError:
            continue  # the daemon records a failed tick and evaluates again from the same cursor

    assert len(flow.mails()) == 1
    stored = EventCursor.read(cursor)[0]
    assert (stored.replay_id, stored.start_from) == (None, "EARLIEST")  # the rejected id is gone
    assert "rejected" in stored.lost_position


def test_latest_without_a_keep_alive_still_takes_the_events_of_the_next_ticks(fresh_sandbox, tmp_path, monkeypatch):
    """Salesforce sends its first keep-alive only within 270 s; a tick waits a few seconds. Here the
    first subscription is held back longer than the tick waits, so it ends without any position."""
    with customer_flow(fresh_sandbox, tmp_path, monkeypatch) as flow:
        fresh_sandbox.clock.set_offset(-3600)
        flow.create_account()  # an hour before the sensor started: LATEST does not want it
        fresh_sandbox.clock.set_offset(0)
        fresh_sandbox.faults.add(
            FaultRule(service="pubsub", kind="latency", path="Subscribe", count=1, latency_ms=3000)
        )
        first = flow.tick(None, initial_replay="LATEST", receive_timeout_seconds=1)
        assert first.run_requests == [] and saved(first).replay_id is None
        published_between_ticks = flow.create_account()

        second = flow.tick(first.cursor, initial_replay="LATEST")

        assert account_ids(second) == [published_between_ticks]
        assert saved(second).replay_id and saved(second).skip_before is None  # pinned: plain replay from now on
        later = flow.create_account()
        assert account_ids(flow.tick(second.cursor, initial_replay="LATEST")) == [later]


def test_the_sensor_calls_are_bounded_well_inside_the_tick_timeout(flow):
    pubsub = flow.resources["pubsub"]
    # Pub/Sub GetSchema/GetTopic and the sensor's own token request; Subscribe is bounded by the fetch's wait
    assert pubsub.timeout_seconds <= SENSOR_CALL_TIMEOUT_SECONDS
    assert pubsub.salesforce.timeout_seconds <= SENSOR_CALL_TIMEOUT_SECONDS
    assert flow.resources["salesforce"].timeout_seconds == flow.settings.salesforce.timeout_seconds  # runs: unchanged
