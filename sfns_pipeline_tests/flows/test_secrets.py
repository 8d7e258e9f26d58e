"""No credential of a real flow run reaches its event log, metadata, run config, ledger rows or emails.

The customer sync runs against both sandboxes with one failing record (so every reporting path is
used); then every place a person or a log shipper could read is searched for the secrets the run
held: the OAuth client secret, the NetSuite TBA secrets, the SMTP password and the live access token.
"""

import logging
import os

import dagster as dg
import sqlalchemy as sa

from sfns_pipeline_tests.flows.sandbox_harness import customer_flow

SMTP_PASSWORD = "smtp-password-Qx7!"


def _ledger_text(url: str) -> str:
    engine = sa.create_engine(url)
    rows: list[str] = []
    with engine.connect() as connection:
        for table in sa.inspect(engine).get_table_names():
            rows += [repr(tuple(row)) for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))]  # noqa: S608
    engine.dispose()
    return "\n".join(rows)


def _shared_access_token(salesforce) -> str:
    """The token the run used: clients in one process share it (sfns_pipeline.salesforce.auth.TOKENS)."""
    with dg.build_resources({"salesforce": salesforce}) as resources:
        return resources.salesforce.get_client().token.access_token


def test_a_customer_run_with_a_failure_leaks_no_secret(sandbox, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with customer_flow(
        sandbox, tmp_path, monkeypatch, unmapped_terms=("Net 60",), SFNS_EMAIL_PASSWORD=SMTP_PASSWORD
    ) as flow:
        cursor = flow.pin()
        flow.create_account(Payment_Terms__c="Net 30")
        flow.create_account(Payment_Terms__c="Net 60")  # fails: one dead letter, one email

        (result,) = flow.sync(cursor)[1]

        secrets = {
            "salesforce client secret": os.environ["SFNS_SALESFORCE_CLIENT_SECRET"],
            "netsuite consumer secret": os.environ["SFNS_NETSUITE_CONSUMER_SECRET"],
            "netsuite token secret": os.environ["SFNS_NETSUITE_TOKEN_SECRET"],
            "smtp password": SMTP_PASSWORD,
            "salesforce access token": _shared_access_token(flow.resources["salesforce"]),
        }
        run = flow.instance.get_run_by_id(result.run_id)
        places = {
            "event log": "\n".join(repr(entry) for entry in flow.instance.all_logs(result.run_id)),
            "run config": repr(run.run_config),
            "run tags": repr(run.tags),
            "python logs": caplog.text,
            "ledger rows": _ledger_text(flow.settings.ledger_url),
            "emails": "\n".join(message.as_string() for message in flow.mails()),
        }
        assert len(flow.mails()) == 1
        assert all(places.values()), [place for place, text in places.items() if not text]  # searched real text
        leaks = [
            (secret, place) for secret, value in secrets.items() for place, text in places.items() if value in text
        ]
        assert leaks == []
