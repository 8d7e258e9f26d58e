"""``sfns dead-letters list | retry | dismiss`` from a shell, on a ledger of its own."""

import pytest
from typer.testing import CliRunner

from sfns_pipeline.cli import app
from sfns_pipeline.flows.dead_letters import REPLAYS
from sfns_pipeline.ledger import DeadLetterStatus, open_ledger
from sfns_pipeline.outcomes import RecordOutcome
from sfns_pipeline.settings import get_settings
from sfns_pipeline_tests.flows.example_flow import EXAMPLE_SYNC, ExampleSystems

runner = CliRunner()


@pytest.fixture
def ledger_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("SFNS_LEDGER_URL", url)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # an ephemeral instance: nothing written to the project
    monkeypatch.delenv("SFNS_EMAIL_SMTP_HOST", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: table cells on one line each
    # The replay job runs in the real code location, whose resources resolve their secrets at launch.
    for variable in ("SFNS_SALESFORCE_CLIENT_SECRET", "SFNS_NETSUITE_CONSUMER_SECRET", "SFNS_NETSUITE_TOKEN_SECRET"):
        monkeypatch.setenv(variable, "sandbox-credential")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def target() -> ExampleSystems:
    """The example flow's target, with a replay handler registered for the CLI's replay job."""
    systems = ExampleSystems()
    REPLAYS.register(EXAMPLE_SYNC)(lambda context, entries: [systems.upsert(entry.payload) for entry in entries])
    yield systems
    REPLAYS.unregister(EXAMPLE_SYNC.name)


def seed(url: str, *ids: str, message: str = "Customer is on hold") -> None:
    outcomes = [
        RecordOutcome.failure("Account", i, error_code="ON_HOLD", message=message, retryable=True, payload={"id": i})
        for i in ids
    ]
    open_ledger(url).record("example_sync", outcomes, run_id="seed-run")


def test_list_shows_unresolved_entries_as_a_table(ledger_url):
    seed(ledger_url, "001X", message="[bold]not markup[/bold] & <b>")

    result = runner.invoke(app, ["dead-letters", "list"])

    assert result.exit_code == 0, result.output
    assert "001X" in result.output and "example_sync" in result.output and "open" in result.output
    assert "[bold]not markup[/bold] & <b>" in result.output  # record text is shown, never interpreted


def test_retry_runs_the_replay_job_and_resolves(ledger_url, target):
    seed(ledger_url, "002X", "002Y")

    result = runner.invoke(app, ["dead-letters", "retry", "example_sync", "--id", "002X"])

    assert result.exit_code == 0, result.output
    assert "1 of 1 resolved" in result.output
    statuses = {e.source_id: e.status for e in open_ledger(ledger_url).entries("example_sync")}
    assert statuses == {"002X": DeadLetterStatus.RESOLVED, "002Y": DeadLetterStatus.OPEN}
    assert target.target.keys() == {"002X"}


def test_retry_that_fails_reports_the_reason(ledger_url):
    seed(ledger_url, "003X")  # no replay handler registered for example_sync here

    result = runner.invoke(app, ["dead-letters", "retry", "example_sync", "--all"])

    assert result.exit_code == 1
    assert "No replay handler for flow 'example_sync'" in result.output


def test_dismiss_stops_retries_but_keeps_the_entry(ledger_url):
    seed(ledger_url, "004X", "004Y")

    result = runner.invoke(app, ["dead-letters", "dismiss", "example_sync", "--all"])

    assert result.exit_code == 0, result.output
    assert "Dismissed 2" in result.output
    assert "No unresolved dead letters." in runner.invoke(app, ["dead-letters", "list"]).output
    assert "dismissed" in runner.invoke(app, ["dead-letters", "list", "--all"]).output


def test_selection_is_required(ledger_url):
    result = runner.invoke(app, ["dead-letters", "dismiss", "example_sync"])
    assert result.exit_code == 2
    assert "--id" in result.output
