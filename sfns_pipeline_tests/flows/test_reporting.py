"""report_outcomes end to end: a real SMTP server (the sandbox sink), a real ledger, real Dagster runs."""

import logging
import sqlite3

import dagster as dg
import pytest

from sfns_pipeline.ledger import DeadLetterStatus, open_ledger
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline_tests.flows.example_flow import ExampleSystems, accounts, mail_sink, mailer_for, sync


@pytest.fixture
def ledger(tmp_path) -> LedgerResource:
    return LedgerResource(url=f"sqlite:///{tmp_path}/ledger.db", max_attempts=3, retry_backoff_seconds=0)


def metadata_of(result: dg.ExecuteInProcessResult) -> dict:
    return {
        key: value.value
        for key, value in result.asset_materializations_for_node("example_accounts")[0].metadata.items()
    }


def test_failures_send_one_multipart_digest_listing_them(sink, ledger):
    systems = ExampleSystems()
    systems.incoming = accounts("001A", "001B", "001C", "001D")
    systems.refuse = {"001B": "Customer is inactive", "001D": "Subsidiary missing"}

    result = sync(systems, ledger, mailer_for(sink))

    assert result.success
    [message] = sink.components["smtp"].messages()
    assert message["Subject"].startswith("[sfns] example sync — 2 of 4 records failed")
    assert message["To"] == "ops@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    for body in (html, text):
        assert "001B" in body and "Customer is inactive" in body
        assert "001D" in body and "Subsidiary missing" in body
        assert "001A" not in body
        assert f"https://dagster.example.com/runs/{result.run_id}" in body
    metadata = metadata_of(result)
    assert (metadata["records"], metadata["created"], metadata["failed"]) == (4, 2, 2)
    assert "001D" in metadata["failed_records"]
    assert metadata["error_email"] == "sent to ops@example.com"


def test_a_run_without_failures_sends_nothing(sink, ledger):
    systems = ExampleSystems()
    systems.incoming = accounts("002A", "002B")

    result = sync(systems, ledger, mailer_for(sink))

    assert result.success
    assert sink.components["smtp"].messages() == []
    assert metadata_of(result)["failed_records"] == "No failed records."


def test_flow_recipients_override_the_default(sink, ledger):
    systems = ExampleSystems()
    systems.incoming, systems.refuse = accounts("003A"), {"003A": "Duplicate"}

    sync(systems, ledger, mailer_for(sink, flow_recipients={"example_sync": ["sales-ops@example.com"]}))

    assert [m["To"] for m in sink.components["smtp"].messages()] == ["sales-ops@example.com"]


def test_smtp_down_still_syncs_and_logs_the_problem(tmp_path, ledger):
    with mail_sink(tmp_path / "stopped") as stopped:
        mailer = mailer_for(stopped)  # a port nothing listens on once the sink has stopped
    systems = ExampleSystems()
    systems.incoming, systems.refuse = accounts("004A", "004B"), {"004B": "Locked"}
    instance = dg.DagsterInstance.ephemeral()

    result = sync(systems, ledger, mailer, instance=instance)

    assert result.success
    assert systems.target.keys() == {"004A"}
    assert open_ledger(ledger.url).entries("example_sync")[0].source_id == "004B"  # still not lost
    assert metadata_of(result)["error_email"] == "not sent (see the run's log)"
    errors = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.ERROR]
    assert any("not sent via" in line and "ConnectionRefusedError" in line for line in errors)


def test_failed_record_is_retried_next_run_and_resolved(sink, ledger):
    systems = ExampleSystems()
    systems.incoming, systems.refuse = accounts("005A"), {"005A": "Row locked"}
    sync(systems, ledger, mailer_for(sink))

    systems.incoming, systems.refuse = [], {}  # the next run has nothing new; the target accepts now
    result = sync(systems, ledger, mailer_for(sink))

    assert systems.target.keys() == {"005A"}
    assert metadata_of(result)["dead_letters_resolved"] == 1
    [entry] = open_ledger(ledger.url).entries("example_sync")
    assert (entry.status, entry.last_run_id) == (DeadLetterStatus.RESOLVED, result.run_id)
    assert len(sink.components["smtp"].messages()) == 1  # the retry run had nothing to report


def test_attempts_run_out_into_needs_attention(sink, ledger):
    systems = ExampleSystems()
    systems.incoming, systems.refuse = accounts("006A"), {"006A": "Still locked"}
    for _ in range(ledger.max_attempts):
        result = sync(systems, ledger, mailer_for(sink))
        systems.incoming = []  # afterwards only the retry of the dead letter

    assert metadata_of(result)["needs_attention"] == 1
    [entry] = open_ledger(ledger.url).entries("example_sync")
    assert (entry.status, entry.attempts) == (DeadLetterStatus.NEEDS_ATTENTION, 3)
    assert "needs attention" in sink.components["smtp"].messages()[-1].get_body(("plain",)).get_content()

    sync(systems, ledger, mailer_for(sink))  # no more automatic attempts
    assert open_ledger(ledger.url).entries("example_sync")[0].attempts == 3


# ---- secrets never leave a run ---------------------------------------------------------------------

SMTP_PASSWORD = "smtp-Pa55-planted-91"
TOKEN_SECRET = "tba-token-secret-planted-37"
BEARER = "00Dplanted!AQ4AQBearerToken"


def test_secrets_never_reach_email_ledger_logs_or_metadata(sink, ledger, monkeypatch, caplog):
    monkeypatch.setenv("SFNS_EMAIL_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("SFNS_NETSUITE_TOKEN_SECRET", TOKEN_SECRET)
    systems = ExampleSystems()
    # A careless flow passes the request it sent (with credentials) into the error message and payload.
    systems.incoming = [
        {"id": "007A", "name": "Zoë & Sons", "client_secret": "cs-planted-55", "note": f"signed with {TOKEN_SECRET}"}
    ]
    systems.refuse = {
        "007A": f"401 from POST /services (Authorization: Bearer {BEARER}; password={SMTP_PASSWORD}; "
        f'oauth_signature="sig-planted-73", token {TOKEN_SECRET})'
    }
    secrets = [SMTP_PASSWORD, TOKEN_SECRET, BEARER, "cs-planted-55", "sig-planted-73"]
    # STARTTLS + login with the planted password, verified against the sandbox CA.
    mailer = mailer_for(
        sink,
        security="starttls",
        username="sfns",
        password=dg.EnvVar("SFNS_EMAIL_PASSWORD"),
        ca_bundle=sink.endpoints["ca_cert"],
    )
    instance = dg.DagsterInstance.ephemeral()

    with caplog.at_level(logging.DEBUG):
        result = sync(systems, ledger, mailer, instance=instance)

    [message] = sink.components["smtp"].messages()
    places = {
        "email": message.as_bytes().decode("utf-8", "replace")
        + message.get_body(("html",)).get_content()
        + message.get_body(("plain",)).get_content(),
        "ledger": "\n".join(sqlite3.connect(ledger.url.removeprefix("sqlite:///")).iterdump()),
        "logs": caplog.text,
        "event log": "\n".join(repr(entry) for entry in instance.all_logs(result.run_id)),
        "metadata": repr(metadata_of(result)),
    }
    for place, content in places.items():
        assert "007A" in content, place  # the record is there ...
        for secret in secrets:
            assert secret not in content, f"{secret} leaked into the {place}"  # ... its secrets are not
    assert "Zoë &amp; Sons" not in places["email"]  # (names are data, not secrets: only shown if in the message)
