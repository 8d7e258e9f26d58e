"""Faults on demand and the daily API allowance, in Salesforce's wire shapes."""

from __future__ import annotations

import time

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest, SalesforceRefusedRequest

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox.faults import FaultInjector
from sfns_pipeline_tests.sandbox.salesforce.conftest import first_error, integration_client, salesforce_sandbox


def test_injected_503(sandbox, sf):
    sandbox.faults.add({"service": "salesforce", "kind": "503", "path": "/query", "count": 1})
    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.query("SELECT Id FROM User")
    assert unavailable.value.status == 503
    assert first_error(unavailable.value)["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM User")["done"] is True  # count=1: the next call goes through


def test_injected_row_lock_on_a_single_record(sandbox, sf, tag):
    account = sf.Account.create({"Name": f"Lock {tag}"})["id"]
    sandbox.faults.add({"service": "salesforce", "kind": "UNABLE_TO_LOCK_ROW", "method": "PATCH", "count": 1})
    with pytest.raises(SalesforceMalformedRequest) as locked:
        sf.Account.update(account, {"Phone": "1"})
    assert first_error(locked.value)["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert first_error(locked.value)["message"].startswith("unable to obtain exclusive access to this record")


def test_injected_row_lock_inside_collections_fails_each_record(sandbox, sf, tag):
    sandbox.faults.add(
        {"service": "salesforce", "kind": "UNABLE_TO_LOCK_ROW", "path": "/composite/sobjects", "count": 1}
    )
    records = [{"attributes": {"type": "Account"}, "Name": f"L {tag} {n}"} for n in range(3)]
    results = sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert [r["errors"][0]["statusCode"] for r in results] == ["UNABLE_TO_LOCK_ROW"] * 3


def test_injected_request_limit(sandbox, sf):
    sandbox.faults.add({"service": "salesforce", "kind": "REQUEST_LIMIT_EXCEEDED", "count": 1})
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM User")
    assert refused.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_faults_over_the_admin_api(endpoints, sf):
    admin = make_session(endpoints["ca_cert"])
    url = f"{endpoints['salesforce']['instance_url']}/__sandbox__/faults"
    assert admin.post(url, json={"service": "salesforce", "kind": "503", "count": 1}).status_code == 201
    with pytest.raises(SalesforceGeneralError):
        sf.query("SELECT Id FROM User")


def test_daily_allowance_is_spent_then_refused(tmp_path):
    with salesforce_sandbox(tmp_path / "sb", api_daily_limit=4) as sandbox:
        sf = integration_client(sandbox.endpoints)
        sf.query("SELECT Id FROM User")
        assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 4
        for _ in range(3):
            sf.query("SELECT Id FROM User")
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM User")
        assert first_error(refused.value)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        sandbox.clock.set_offset(86400)  # a new day on the org's clock: a fresh allowance
        fresh = integration_client(sandbox.endpoints)
        assert fresh.query("SELECT Id FROM User")["done"] is True
        assert fresh.api_usage["api-usage"].used == 1


def test_token_lifetime_is_an_option(tmp_path):
    with salesforce_sandbox(tmp_path / "sb", token_lifetime_seconds=60) as sandbox:
        sf = integration_client(sandbox.endpoints)
        assert sf.query("SELECT Id FROM User")["done"] is True
        sandbox.clock.set_offset(61)
        response = make_session(sandbox.endpoints["ca_cert"]).get(
            f"{sandbox.endpoints['salesforce']['instance_url']}/services/data/v62.0/limits", headers=sf.headers
        )
        assert response.status_code == 401


def _hit_pattern(seed: int, requests: int) -> list[bool]:
    faults = FaultInjector(seed=seed)
    faults.add({"service": "salesforce", "kind": "503", "path": "/limits$", "rate": 0.5})
    return [faults.match("salesforce", "/services/data/v62.0/limits", "GET") is not None for _ in range(requests)]


def test_fault_rate_with_a_fixed_seed_hits_some_requests_reproducibly():
    pattern = _hit_pattern(seed=7, requests=40)
    assert 0 < sum(pattern) < 40
    assert _hit_pattern(seed=7, requests=40) == pattern  # same seed, same requests hit: a failing test replays


def test_fault_rate_over_the_wire_fails_some_but_not_all_requests(sandbox, endpoints, sf):
    sandbox.faults.add({"service": "salesforce", "kind": "503", "path": "/limits$", "rate": 0.5})
    session = make_session(endpoints["ca_cert"])
    url = f"{endpoints['salesforce']['instance_url']}/services/data/v62.0/limits"
    statuses = [session.get(url, headers=sf.headers, timeout=10).status_code for _ in range(40)]
    assert set(statuses) == {200, 503}
    [rule] = session.get(f"{endpoints['salesforce']['instance_url']}/__sandbox__/faults", timeout=10).json()
    assert rule["hits"] == statuses.count(503)


def test_latency_fault_delays_a_request_that_still_succeeds(sandbox, sf):
    sandbox.faults.add({"service": "salesforce", "kind": "latency", "path": "/query", "latency_ms": 300, "count": 1})
    started = time.monotonic()
    result = sf.query("SELECT Id FROM User")
    assert result["done"] is True
    assert time.monotonic() - started >= 0.3
