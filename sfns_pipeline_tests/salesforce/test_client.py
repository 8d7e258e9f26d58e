"""Contract tests of the pipeline's Salesforce REST client against the sandbox org (simple-salesforce over HTTPS).

What a flow relies on: both OAuth flows, a new token after a 401, Collections writes in chunks of 200
with per-record results, retries of transient trouble (503, row locks) but never of validation
errors, API usage from ``Sforce-Limit-Info``, and TLS pinned to the configured CA whatever the
environment says.
"""

import uuid
from datetime import timedelta
from pathlib import Path

import certifi
import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfns_pipeline.http import make_session
from sfns_pipeline.salesforce.auth import TOKENS, OAuthSettings, SalesforceAuthError
from sfns_pipeline.salesforce.client import SalesforceClient, SalesforceUnavailable
from sfns_pipeline.sandbox.faults import FaultRule


def client_for(sandbox, *, flow: str = "client_credentials", secret: str | None = None, ca: str | None = None):
    endpoints = sandbox.endpoints["salesforce"]
    if flow == "jwt_bearer":
        jwt = endpoints["jwt_bearer"]
        oauth = OAuthSettings(
            token_url=endpoints["token_url"],
            flow="jwt_bearer",
            client_id=jwt["client_id"],
            username=jwt["username"],
            private_key_file=Path(jwt["private_key_file"]),
            audience=jwt["audience"],
        )
    else:
        credentials = endpoints["client_credentials"]
        oauth = OAuthSettings(
            token_url=endpoints["token_url"],
            flow="client_credentials",
            client_id=credentials["client_id"],
            client_secret=secret or credentials["client_secret"],
        )
    return SalesforceClient(oauth=oauth, session=make_session(ca or sandbox.endpoints["ca_cert"]))


@pytest.fixture
def client(sandbox) -> SalesforceClient:
    return client_for(sandbox)


def new_accounts(client: SalesforceClient, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:10]
    records = [{"Name": f"Contract {tag} {n}", "NetSuite_Customer_Id__c": f"C-{tag}-{n}"} for n in range(count)]
    results = client.upsert("Account", records, key="NetSuite_Customer_Id__c")
    assert all(result.success and result.created for result in results)
    return [result.id for result in results]


@pytest.mark.parametrize("flow", ["client_credentials", "jwt_bearer"])
def test_both_oauth_flows_log_in_and_query(sandbox, flow):
    client = client_for(sandbox, flow=flow)
    (row,) = client.query("SELECT Id, Username FROM User WHERE Username = 'integration@sfns-sandbox.example'")
    assert row["Username"] == "integration@sfns-sandbox.example"
    assert client.token.org_id == sandbox.endpoints["salesforce"]["org_id"]


def test_a_refused_secret_is_an_auth_error(sandbox):
    with pytest.raises(SalesforceAuthError, match="invalid_client"):
        client_for(sandbox, secret="wrong").query("SELECT Id FROM Account LIMIT 1")


def test_an_expired_session_gets_a_new_token_and_the_call_is_repeated(client, sandbox):
    client.query("SELECT Id FROM Account LIMIT 1")
    stale = client.token
    sandbox.clock.set_offset(timedelta(hours=3).total_seconds())  # the session lifetime is 2 hours

    client.query("SELECT Id FROM Account LIMIT 1")

    assert client.token is not stale and client.token.access_token != stale.access_token


def test_collections_writes_go_in_chunks_of_200_with_one_result_per_record(client):
    ids = new_accounts(client, 450)
    calls = client.usage.calls

    results = client.update("Account", [{"Id": i, "Tax_Id__c": f"T{n}"} for n, i in enumerate(ids)])

    assert client.usage.calls - calls == 3  # 200 + 200 + 50
    assert [r.id for r in results] == ids and all(r.success for r in results)


def test_api_usage_is_read_from_sforce_limit_info(client):
    client.query("SELECT Id FROM Account LIMIT 1")
    first = client.usage.used
    client.query("SELECT Id FROM Account LIMIT 1")
    assert client.usage.limit and client.usage.used == first + 1


def test_transient_errors_are_retried(client, sandbox):
    (account_id,) = new_accounts(client, 1)
    sandbox.faults.add(FaultRule(service="salesforce", kind="503", path="/query", count=2))
    sandbox.faults.add(FaultRule(service="salesforce", kind="UNABLE_TO_LOCK_ROW", path="/composite/sobjects", count=2))

    rows = client.query(f"SELECT Id FROM Account WHERE Id = '{account_id}'")  # noqa: S608
    (result,) = client.update("Account", [{"Id": account_id, "Tax_Id__c": "LOCKED-THEN-OK"}])

    assert [row["Id"] for row in rows] == [account_id]
    assert result.success
    assert [rule["hits"] for rule in sandbox.faults.rules()] == [2, 2]


def test_a_token_endpoint_outage_is_transient_not_an_auth_error(sandbox):
    sandbox.faults.add(FaultRule(service="salesforce", kind="503", path="/services/oauth2/token", count=1))
    TOKENS.clear()  # the query below must request a token
    assert client_for(sandbox).query("SELECT Id FROM Account LIMIT 1") is not None
    assert sandbox.faults.rules()[0]["hits"] == 1


def test_an_outage_that_outlasts_the_retries_is_reported_as_unavailable(client, sandbox):
    client.query("SELECT Id FROM Account LIMIT 1")
    sandbox.faults.add(FaultRule(service="salesforce", kind="503", path="/query"))
    with pytest.raises(SalesforceUnavailable):
        client.query("SELECT Id FROM Account LIMIT 1")


def test_validation_errors_are_never_retried(client):
    (account_id,) = new_accounts(client, 1)
    calls = client.usage.calls

    (result,) = client.update("Account", [{"Id": account_id, "Payment_Terms__c": "Net 90"}])  # restricted picklist
    with pytest.raises(SalesforceMalformedRequest):
        client.query("SELECT NoSuchField__c FROM Account")

    assert not result.success and result.errors[0].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert not result.transient
    assert client.usage.calls - calls == 2  # one call each: nothing repeated


def test_the_configured_ca_wins_over_requests_ca_bundle(sandbox, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # a host-wide bundle without the sandbox CA
    assert client_for(sandbox).query("SELECT Id FROM Account LIMIT 1") is not None

    # and verification is on: a client trusting only the public roots refuses the sandbox, at once
    with pytest.raises(requests.exceptions.SSLError):
        client_for(sandbox, ca=certifi.where()).query("SELECT Id FROM Account LIMIT 1")


def test_clients_in_one_process_share_a_token_instead_of_logging_in_again(sandbox):
    first, second = client_for(sandbox), client_for(sandbox)
    first.query("SELECT Id FROM Account LIMIT 1")
    second.query("SELECT Id FROM Account LIMIT 1")  # e.g. the next sensor tick's fresh resource

    assert second.token.access_token == first.token.access_token
    assert second.usage.calls == 1  # the query only: no token request
    with pytest.raises(SalesforceAuthError):  # a different (rotated) secret never reuses the cached token
        client_for(sandbox, secret="rotated").query("SELECT Id FROM Account LIMIT 1")
