"""Operators' retries through the replay_dead_letters job, and the run-failure email sensor."""

import dagster as dg
import pytest

from sfns_pipeline.flows.dead_letters import ReplayRegistry, build_replay_job, email_on_run_failure
from sfns_pipeline.flows.reporting import flow_tags
from sfns_pipeline.ledger import DeadLetterStatus, open_ledger
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline_tests.flows.example_flow import (
    EXAMPLE_SYNC,
    ExampleSystems,
    accounts,
    mailer_for,
    replay_example,
    sync,
)


@pytest.fixture
def ledger(tmp_path) -> LedgerResource:
    # A long backoff: nothing is retried automatically during these tests, only when asked.
    return LedgerResource(url=f"sqlite:///{tmp_path}/ledger.db", max_attempts=2, retry_backoff_seconds=3600)


@pytest.fixture
def replay_job() -> dg.JobDefinition:
    registry = ReplayRegistry()
    registry.register(EXAMPLE_SYNC, resource_keys=["example"])(replay_example)
    return build_replay_job(registry)


def replay(job, systems, ledger, mailer, **config) -> dg.ExecuteInProcessResult:
    return job.execute_in_process(
        run_config={"ops": {"replay": {"config": {"flow": "example_sync", **config}}}},
        resources={"example": systems, "ledger": ledger, "mailer": mailer},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def failing_run(systems, ledger, mailer, *ids: str) -> None:
    systems.incoming, systems.refuse = accounts(*ids), dict.fromkeys(ids, "Customer is on hold")
    sync(systems, ledger, mailer)
    systems.incoming = []


def test_replay_chosen_ids_resolves_them_and_leaves_the_rest(replay_job, sink, ledger):
    systems = ExampleSystems()
    failing_run(systems, ledger, mailer_for(sink), "101", "102")
    systems.refuse = {}  # someone fixed the data

    result = replay(replay_job, systems, ledger, mailer_for(sink), ids=["101"])

    assert result.success
    statuses = {e.source_id: e.status for e in open_ledger(ledger.url).entries("example_sync")}
    assert statuses == {"101": DeadLetterStatus.RESOLVED, "102": DeadLetterStatus.OPEN}
    [output] = [event for event in result.all_node_events if event.event_type_value == "STEP_OUTPUT"]
    assert output.step_output_data.metadata["dead_letters_resolved"].value == 1


def test_replay_all_includes_entries_that_need_attention(replay_job, sink, ledger):
    systems = ExampleSystems()
    failing_run(systems, ledger, mailer_for(sink), "201")
    systems.refuse = {"201": "still on hold"}
    replay(replay_job, systems, ledger, mailer_for(sink), all=True)  # second failed attempt: out of attempts
    assert open_ledger(ledger.url).entries("example_sync")[0].status is DeadLetterStatus.NEEDS_ATTENTION

    systems.refuse = {}
    assert replay(replay_job, systems, ledger, mailer_for(sink), all=True).success

    assert open_ledger(ledger.url).entries("example_sync")[0].status is DeadLetterStatus.RESOLVED
    assert systems.target.keys() == {"201"}


def test_replay_that_fails_again_counts_the_attempt_and_emails(replay_job, sink, ledger):
    systems = ExampleSystems()
    failing_run(systems, ledger, mailer_for(sink), "301")

    replay(replay_job, systems, ledger, mailer_for(sink), ids=["301"])

    assert open_ledger(ledger.url).entries("example_sync")[0].attempts == 2
    assert len(sink.components["smtp"].messages()) == 2  # the original run's digest and the replay's


def test_replay_needs_a_selection_and_a_known_flow(replay_job, sink, ledger):
    systems = ExampleSystems()
    assert not replay(replay_job, systems, ledger, mailer_for(sink)).success
    unknown = replay_job.execute_in_process(
        run_config={"ops": {"replay": {"config": {"flow": "nope_sync", "all": True}}}},
        resources={"example": systems, "ledger": ledger, "mailer": mailer_for(sink)},
        raise_on_error=False,
    )
    [failure] = unknown.get_step_failure_events()
    assert "No replay handler for flow 'nope_sync'" in failure.step_failure_data.error.message


class NetSuiteAuthError(Exception):
    pass


@dg.op(tags=flow_tags(EXAMPLE_SYNC))
def fetch_invoices() -> None:
    raise NetSuiteAuthError("INVALID_LOGIN_ATTEMPT: token rejected (Authorization: Bearer planted-bearer-991)")


@dg.job(tags=flow_tags(EXAMPLE_SYNC))
def invoice_job() -> None:
    fetch_invoices()


def test_run_failure_sensor_emails_the_error_and_the_run_link(sink):
    instance = dg.DagsterInstance.ephemeral()
    result = invoice_job.execute_in_process(instance=instance, raise_on_error=False)
    mailer = mailer_for(sink, flow_recipients={"example_sync": ["sales-ops@example.com"]})
    context = dg.build_run_status_sensor_context(
        sensor_name="email_on_run_failure",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"mailer": mailer},
    ).for_run_failure()

    email_on_run_failure(context)

    [message] = sink.components["smtp"].messages()
    assert message["Subject"] == f"[sfns] run failed: invoice_job (run {result.run_id[:8]})"
    assert message["To"] == "sales-ops@example.com"
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert "INVALID_LOGIN_ATTEMPT: token rejected" in body
        assert "fetch_invoices" in body
        assert f"https://dagster.example.com/runs/{result.run_id}" in body
        assert "planted-bearer-991" not in body
