"""Contract tests of the pipeline's NetSuite REST client against the sandbox account (requests + TBA / OAuth 2.0).

What a flow relies on: both auth schemes, record upsert by external id and update, SuiteQL paging,
retries with backoff on 429 / 5xx / dropped connections (never on validation errors), and TLS
pinned to the configured CA whatever the environment says.
"""

import uuid

import certifi
import pytest
import requests

from sfns_pipeline.netsuite.auth import NetSuiteAuthError
from sfns_pipeline.netsuite.resource import NetSuiteRestResource
from sfns_pipeline.netsuite.rest import NetSuiteRecordError, NetSuiteRestClient, NetSuiteUnavailable
from sfns_pipeline.sandbox.faults import FaultRule


def client_for(sandbox, auth: str = "tba", *, ca: str | None = None, max_attempts: int = 6, **overrides):
    endpoints = sandbox.endpoints["netsuite"]
    tba, oauth2 = endpoints["tba"], endpoints["oauth2"]
    config = {
        "account_id": endpoints["account_id"],
        "rest_url": endpoints["rest_url"],
        "auth": auth,
        "consumer_key": tba["consumer_key"],
        "consumer_secret": tba["consumer_secret"],
        "token_id": tba["token_id"],
        "token_secret": tba["token_secret"],
        "client_id": oauth2["client_id"],
        "certificate_id": oauth2["certificate_id"],
        "private_key_file": oauth2["private_key_file"],
        "ca_bundle": ca or sandbox.endpoints["ca_cert"],
        "max_attempts": max_attempts,
    }
    resource = NetSuiteRestResource(**{**config, **overrides})
    return resource.get_client()


@pytest.fixture
def client(sandbox) -> NetSuiteRestClient:
    return client_for(sandbox)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("auth", ["tba", "oauth2"])
def test_records_are_created_read_updated_and_upserted(sandbox, auth):
    client = client_for(sandbox, auth)
    name = unique("Net 45")

    created = client.upsert("term", unique("TERM"), {"name": name, "daysUntilNetDue": 45})
    client.update("term", created, {"daysUntilNetDue": 50})
    external_id = unique("TERM")
    upserted = client.upsert("term", external_id, {"name": unique("Net 90"), "daysUntilNetDue": 90})
    again = client.upsert("term", external_id, {"daysUntilNetDue": 91})

    assert client.get("term", internal_id=created)["daysUntilNetDue"] == 50
    assert upserted == again  # the second upsert updated the record the first one created
    assert client.get("term", external_id=external_id)["daysUntilNetDue"] == 91


def test_suiteql_pages_through_every_row(client):
    prefix = unique("Page")
    ids = [client.upsert("term", f"{prefix}-{n}", {"name": f"{prefix} {n}"}) for n in range(5)]
    query = "SELECT id, name FROM term WHERE name LIKE ? ORDER BY id"

    pages = list(client.suiteql_pages(query, [f"{prefix}%"], page_size=2))

    assert [len(page.items) for page in pages] == [2, 2, 1]
    assert [row["id"] for page in pages for row in page.items] == ids


def test_429_503_and_dropped_connections_are_retried(client, sandbox):
    for kind in ("429", "503", "drop"):
        sandbox.faults.add(FaultRule(service="netsuite", kind=kind, path="/record/v1/term", count=1))
    external_id = unique("TERM")
    calls = client.calls

    internal_id = client.upsert("term", external_id, {"name": unique("Retried")})

    assert client.calls - calls == 4  # three faults, then the write
    assert client.get("term", external_id=external_id)["id"] == internal_id
    assert all(rule["hits"] == 1 for rule in sandbox.faults.rules())


def test_an_outage_that_outlasts_the_retries_is_reported_as_unavailable(sandbox):
    client = client_for(sandbox, max_attempts=2)
    sandbox.faults.add(FaultRule(service="netsuite", kind="503", path="/record/v1/term"))
    with pytest.raises(NetSuiteUnavailable, match="after 2 attempts"):
        client.upsert("term", unique("TERM"), {"name": unique("Never")})


def test_validation_errors_are_per_record_and_never_retried(client):
    calls = client.calls
    with pytest.raises(NetSuiteRecordError) as raised:
        client.upsert("customer", unique("CUST"), {"companyName": "No Such Subsidiary", "subsidiary": {"id": "999999"}})
    assert raised.value.status == 400 and raised.value.code == "INVALID_KEY_OR_REF"
    assert raised.value.path == "subsidiary"
    assert client.calls - calls == 1


def test_refused_credentials_are_an_auth_error(sandbox):
    client = client_for(sandbox, token_secret="not-the-secret")
    with pytest.raises(NetSuiteAuthError):
        client.suiteql("SELECT id FROM term")
    assert client.calls <= 2  # at most one re-signed attempt, never the transient retries


def test_the_configured_ca_wins_over_requests_ca_bundle(sandbox, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # a host-wide bundle without the sandbox CA
    assert client_for(sandbox).suiteql("SELECT id FROM term").items is not None

    # and verification is on: a client trusting only the public roots refuses the sandbox, at once
    untrusting = client_for(sandbox, ca=certifi.where())
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.suiteql("SELECT id FROM term")
    assert untrusting.calls == 1
