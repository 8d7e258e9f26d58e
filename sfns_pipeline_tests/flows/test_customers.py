"""Customer sync end to end: a sales user's Account change → sensor → run → NetSuite customer → id written back.

Both sandboxes run in-process (real HTTPS, gRPC, TBA); the sensor is evaluated with
``build_sensor_context`` and its runs executed with ``execute_in_process``, as the daemon would.
"""

import math
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.execution.plan.resume_retry import ReexecutionStrategy
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import get_reexecution_strategy

from sfns_pipeline.flows.customers import CUSTOMER_SYNC
from sfns_pipeline.flows.dead_letters import build_replay_job
from sfns_pipeline.flows.platform_events import EventBatch
from sfns_pipeline.ledger import DeadLetterStatus
from sfns_pipeline.ledger.store import UNRESOLVED
from sfns_pipeline.netsuite.resource import NetSuiteRestResource
from sfns_pipeline.sandbox.faults import FaultRule
from sfns_pipeline_tests.flows.sandbox_harness import CustomerFlow, customer_flow, run_metadata


@pytest.fixture
def flow(sandbox, tmp_path, monkeypatch) -> CustomerFlow:
    with customer_flow(sandbox, tmp_path, monkeypatch) as running:
        yield running


def synced_once(flow: CustomerFlow, *account_ids: str) -> dict[str, str]:
    """Each Account's NetSuite id, after checking it has exactly one customer and carries that customer's id."""
    rows = flow.customers_with_external_ids(list(account_ids))
    assert sorted(row["externalid"] for row in rows) == sorted(account_ids)  # one customer each, no duplicate
    ids = {row["externalid"]: row["id"] for row in rows}
    for account_id in account_ids:
        account = flow.account(account_id)
        assert account["NetSuite_Customer_Id__c"] == ids[account_id]
        assert account["NetSuite_Sync_Status__c"] == "Synced"
    return ids


def test_a_new_account_becomes_a_customer_and_gets_its_netsuite_id(flow):
    cursor = flow.pin()
    account_id = flow.create_account(
        "Müller Großhandel GmbH",
        Payment_Terms__c="Net 60",
        Credit_Limit__c=25000,
        Tax_Id__c="DE123456789",
        DUNS_Number__c="123456789",
        Shipping_Carrier__c="FedEx",
        BillingStreet="Hauptstraße 1",
        BillingCity="Köln",
        BillingPostalCode="50667",
        BillingCountry="Deutschland",
    )

    tick = flow.tick(cursor)
    (request,) = tick.run_requests
    assert [event["Account_Id__c"] for event in request.run_config["ops"]["load"]["config"]["events"]] == [account_id]
    result = flow.run(request)

    customer = flow.customer(account_id)
    assert customer["companyName"] == "Müller Großhandel GmbH"
    assert customer["externalId"] == customer["custentity_sf_account_id"] == account_id
    assert customer["terms"]["refName"] == "Net 60"
    assert customer["subsidiary"]["id"] == flow.settings.customer_sync.subsidiary_id
    assert customer["creditLimit"] == 25000.0
    assert customer["defaultTaxReg"] == "DE123456789"
    assert customer["custentity_duns_number"] == "123456789"
    assert customer["shippingCarrier"]["id"] == "fedex"
    (address,) = customer["addressBook"]["items"]
    assert address["addressBookAddress"]["city"] == "Köln"
    assert address["addressBookAddress"]["country"]["id"] == "DE"

    account = flow.account(account_id)
    assert account["NetSuite_Customer_Id__c"] == customer["id"]
    assert account["NetSuite_Sync_Status__c"] == "Synced"
    assert account["NetSuite_Sync_Error__c"] is None
    assert account["NetSuite_Last_Synced__c"]
    metadata = run_metadata(result)
    assert (metadata["created"], metadata["failed"]) == (1, 0)
    assert metadata["salesforce_daily_api_usage"] != "-"  # read from Sforce-Limit-Info


def test_an_update_changes_the_same_customer(flow):
    cursor = flow.pin()
    account_id = flow.create_account(Credit_Limit__c=1000)
    cursor, _ = flow.sync(cursor)
    netsuite_id = flow.account(account_id)["NetSuite_Customer_Id__c"]

    flow.update_account(account_id, Name="Renamed Supply", Credit_Limit__c=2000, Payment_Terms__c="Due on receipt")
    cursor, (result,) = flow.sync(cursor)

    customer = flow.customer(account_id)
    assert (customer["id"], customer["companyName"], customer["creditLimit"]) == (netsuite_id, "Renamed Supply", 2000.0)
    assert customer["terms"]["refName"] == "Due on receipt"
    assert run_metadata(result)["updated"] == 1
    synced_once(flow, account_id)


def test_parents_are_created_before_children_even_when_never_synced(flow):
    cursor = flow.pin()
    grandparent, parent, child = (flow.create_account(f"Level {n} {cursor[-8:]}") for n in range(3))
    cursor = flow.tick(cursor).cursor  # their creation events are consumed without running: none is synced

    # the child's change arrives first, the parent's next; the grandparent is in no event at all
    flow.update_account(child, ParentId=parent)
    flow.update_account(parent, ParentId=grandparent)
    tick = flow.tick(cursor)
    (request,) = tick.run_requests
    assert [e["Account_Id__c"] for e in request.run_config["ops"]["load"]["config"]["events"]] == [child, parent]
    result = flow.run(request)

    ids = synced_once(flow, grandparent, parent, child)
    assert flow.customer(child)["parent"]["id"] == ids[parent]
    assert flow.customer(parent)["parent"]["id"] == ids[grandparent]
    assert "parent" not in flow.customer(grandparent) or not flow.customer(grandparent)["parent"]
    assert run_metadata(result)["created"] == 3


def test_replaying_the_same_events_creates_no_duplicate(flow):
    cursor = flow.pin()
    account_id = flow.create_account()
    tick = flow.tick(cursor)
    (request,) = tick.run_requests
    flow.run(request)

    # the same tick evaluated again (e.g. its cursor was not saved) asks for the same run key
    (again,) = flow.tick(cursor).run_requests
    assert again.run_key == request.run_key
    # and a re-executed run of the same events writes nothing
    replayed = flow.run(request)
    metadata = run_metadata(replayed)
    assert (metadata["unchanged"], metadata["created"], metadata["netsuite_api_calls"]) == (1, 0, 0)
    synced_once(flow, account_id)


def test_events_out_of_order_still_leave_the_latest_state(flow):
    cursor = flow.pin()
    account_id = flow.create_account("Version 1")
    cursor, _ = flow.sync(cursor)
    flow.update_account(account_id, Name="Version 2")
    flow.update_account(account_id, Name="Version 3")

    first, second = flow.tick(cursor, batch_size=1).run_requests
    flow.run(second)  # the newer event's run happens to run first
    flow.run(first)

    assert flow.customer(account_id)["companyName"] == "Version 3"
    synced_once(flow, account_id)


def test_a_burst_of_500_events_is_batched(flow):
    batch_size = 50
    cursor = flow.pin()
    account_ids = flow.create_accounts(500)

    tick = flow.tick(cursor, batch_size=batch_size)

    batches = [r.run_config["ops"]["load"]["config"]["events"] for r in tick.run_requests]
    assert len(tick.run_requests) <= math.ceil(500 / batch_size)
    assert all(len(events) <= batch_size for events in batches)
    assert sorted(e["Account_Id__c"] for events in batches for e in events) == sorted(account_ids)
    assert len({r.run_key for r in tick.run_requests}) == len(tick.run_requests)

    for request in tick.run_requests[:2]:  # two runs end to end are enough to show a batch syncs
        assert run_metadata(flow.run(request))["created"] == batch_size
    synced_once(flow, *account_ids[: 2 * batch_size])


def test_an_unmapped_payment_term_fails_one_record_and_sends_one_email(sandbox, tmp_path, monkeypatch):
    with customer_flow(sandbox, tmp_path, monkeypatch, unmapped_terms=("Net 60",)) as flow:
        cursor = flow.pin()
        good = [flow.create_account(Payment_Terms__c="Net 30") for _ in range(2)]
        bad = flow.create_account(Payment_Terms__c="Net 60")

        (result,) = flow.sync(cursor)[1]

        metadata = run_metadata(result)
        assert (metadata["created"], metadata["failed"]) == (2, 1)
        synced_once(flow, *good)
        account = flow.account(bad)
        assert account["NetSuite_Sync_Status__c"] == "Error"
        assert account["NetSuite_Customer_Id__c"] is None
        assert account["NetSuite_Sync_Error__c"].startswith("UNMAPPED_PAYMENT_TERMS: Payment_Terms__c: 'Net 60'")
        (mail,) = flow.mails()
        assert bad in mail.get_body(("plain",)).get_content()
        (entry,) = flow.resources["ledger"].ledger().entries(CUSTOMER_SYNC.name)
        assert (entry.source_id, entry.status) == (bad, DeadLetterStatus.NEEDS_ATTENTION)


def test_the_writeback_does_not_trigger_another_sync(flow):
    cursor = flow.pin()
    flow.create_account()
    cursor, (result,) = flow.sync(cursor)
    assert run_metadata(result)["created"] == 1

    after = flow.tick(cursor)
    assert after.run_requests == []  # the integration user's writeback published no event
    assert after.skip_message


def test_a_catch_up_run_syncs_every_account_modified_in_the_gap(flow):
    since = datetime.now(UTC) - timedelta(seconds=5)
    account_ids = [flow.create_account() for _ in range(2)]
    request = dg.RunRequest(
        run_config={"ops": {"load": {"config": EventBatch(catch_up_since=since.isoformat()).model_dump()}}}
    )
    flow.run(request)
    synced_once(flow, *account_ids)


def test_transient_faults_in_both_systems_still_sync_every_record_exactly_once(flow, sandbox):
    cursor = flow.pin()
    account_ids = [flow.create_account() for _ in range(3)]
    rules = [
        FaultRule(service="netsuite", kind="429", path="/record/v1/customer", count=1),
        FaultRule(service="netsuite", kind="503", path="/record/v1/customer", count=1),
        FaultRule(service="salesforce", kind="503", path="/query", count=1),
        FaultRule(service="salesforce", kind="UNABLE_TO_LOCK_ROW", path="/composite/sobjects", count=2),
    ]
    for rule in rules:
        sandbox.faults.add(rule)

    cursor, (result,) = flow.sync(cursor)

    assert all(rule["hits"] == rule["count"] for rule in sandbox.faults.rules())
    assert run_metadata(result)["created"] == 3
    synced_once(flow, *account_ids)


def test_refused_credentials_fail_the_run_without_retrying(flow, monkeypatch):
    cursor = flow.pin()
    flow.create_account()
    (request,) = flow.tick(cursor).run_requests
    monkeypatch.setenv("SFNS_NETSUITE_TOKEN_SECRET", "not-the-secret")  # resolved when the run starts

    result = flow.run(request, raise_on_error=False)

    assert not result.success
    failure = result.failure_data_for_node("post")
    assert "Authentication failed" in failure.user_failure_data.description
    assert not [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]


def test_a_failed_run_is_retried_from_its_first_step(flow, monkeypatch):
    """dagster.yaml turns run retries on. Dagster's default retry re-executes *from the failure*, loading
    the outputs of the steps that succeeded — but this job hands its batch on in memory, gone with the
    failed run. So the retry daemon must read ALL_STEPS from the run, and re-run load → writeback."""
    cursor = flow.pin()
    flow.create_account()
    (request,) = flow.tick(cursor).run_requests
    monkeypatch.setenv("SFNS_NETSUITE_TOKEN_SECRET", "not-the-secret")  # post fails after load and transform

    result = flow.run(request, raise_on_error=False)

    assert not result.success
    assert get_reexecution_strategy(result.dagster_run, flow.instance) is ReexecutionStrategy.ALL_STEPS


def test_a_child_waits_for_its_failed_parent_and_both_sync_on_replay(sandbox, tmp_path, monkeypatch):
    with customer_flow(sandbox, tmp_path, monkeypatch, unmapped_terms=("Net 60",)) as flow:
        cursor = flow.pin()
        parent = flow.create_account(Payment_Terms__c="Net 60")
        child = flow.create_account(Payment_Terms__c="Net 30", ParentId=parent)
        flow.sync(cursor)
        assert flow.account(child)["NetSuite_Sync_Error__c"].startswith(f"PARENT_NOT_SYNCED: parent Account {parent}")
        entries = {e.source_id: e for e in flow.resources["ledger"].ledger().entries(CUSTOMER_SYNC.name)}
        assert (entries[parent].retryable, entries[child].retryable) == (False, True)

    # the admin maps the term; an operator retries the flow's dead letters from the UI or `sfns dead-letters`
    with customer_flow(sandbox, tmp_path, monkeypatch) as fixed:
        replay = build_replay_job()
        result = replay.execute_in_process(
            run_config={"ops": {"replay": {"config": {"flow": CUSTOMER_SYNC.name, "all": True}}}},
            resources=fixed.resources,
            instance=fixed.instance,
        )
        assert result.success
        ids = synced_once(fixed, parent, child)
        assert fixed.customer(child)["parent"]["id"] == ids[parent]
        assert fixed.account(child)["NetSuite_Sync_Error__c"] is None
        assert not fixed.resources["ledger"].ledger().entries(CUSTOMER_SYNC.name, statuses=UNRESOLVED)


def test_an_outage_beyond_the_client_retries_is_retried_by_the_step(flow, sandbox):
    cursor = flow.pin()
    account_id = flow.create_account()
    (request,) = flow.tick(cursor).run_requests
    # the client gives up at the first 503 here, so the step's RetryPolicy is what recovers
    ns = flow.settings.netsuite
    flow.resources["netsuite"] = NetSuiteRestResource(
        account_id=ns.account_id,
        rest_url=ns.rest_url,
        consumer_key=ns.consumer_key,
        consumer_secret=ns.consumer_secret.get_secret_value(),
        token_id=ns.token_id,
        token_secret=ns.token_secret.get_secret_value(),
        ca_bundle=str(flow.settings.ca_bundle),
        max_attempts=1,
    )
    sandbox.faults.add(FaultRule(service="netsuite", kind="503", path="/record/v1/customer", count=1))

    result = flow.run(request)

    restarted = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert [e.step_key for e in restarted] == ["post"]
    synced_once(flow, account_id)
