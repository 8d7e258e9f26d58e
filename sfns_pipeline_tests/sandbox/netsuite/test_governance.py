"""The account concurrency limit across requests, and faults on demand in NetSuite's wire shapes."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline_tests.sandbox.netsuite.conftest import NETSUITE_ONLY, NetSuiteRest


def assert_concurrency_body(response):
    assert response.status_code == 429
    body = response.json()
    assert (body["title"], body["status"], body["o:errorCode"]) == ("Bad Request", 429, "USER_ERROR")
    assert body["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"


def netsuite_governor(sandbox):
    return sandbox.components["netsuite"].governor


@pytest.fixture
def limited(tmp_path):
    options = {"netsuite": {"concurrency_limit": 2}}
    with Sandbox(tmp_path, ports={"netsuite": 0}, components=NETSUITE_ONLY, options=options) as sandbox:
        yield sandbox


def test_requests_beyond_the_limit_get_429_and_slots_free_up(limited):
    # Each request is held for 400 ms by an injected latency, so 8 requests started together overlap.
    limited.faults.add({"service": "netsuite", "kind": "latency", "latency_ms": 400, "count": 8})
    clients = [NetSuiteRest.connect(limited) for _ in range(8)]
    start = threading.Barrier(len(clients))

    def query(client):
        start.wait()
        return client.suiteql("SELECT COUNT(*) FROM customer")

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        responses = list(pool.map(query, clients))
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) >= 2
    assert 429 in statuses and set(statuses) == {200, 429}
    assert_concurrency_body(next(r for r in responses if r.status_code == 429))
    assert clients[0].suiteql("SELECT COUNT(*) FROM customer").status_code == 200  # every slot was released
    assert netsuite_governor(limited).in_flight == 0


@pytest.mark.parametrize("kind", ["429", "CONCURRENCY_LIMIT_EXCEEDED"])
def test_injected_concurrency_fault_has_netsuites_body(ns_sandbox, ns, kind):
    ns_sandbox.faults.add({"service": "netsuite", "kind": kind, "path": "/suiteql$", "count": 1})
    assert_concurrency_body(ns.suiteql("SELECT id FROM customer"))
    assert ns.suiteql("SELECT id FROM customer").status_code == 200


def test_injected_503_and_dropped_connection(ns_sandbox, ns):
    ns_sandbox.faults.add({"service": "netsuite", "kind": "503", "path": "/record/v1/customer", "count": 1})
    ns_sandbox.faults.add({"service": "netsuite", "kind": "drop", "path": "/query/v1/suiteql", "count": 1})
    assert ns.session.get(ns.record("customer")).status_code == 503
    with pytest.raises(requests.exceptions.ConnectionError):
        ns.suiteql("SELECT id FROM customer")
    assert ns.session.get(ns.record("customer")).status_code == 200


def test_governance_limits_report_the_account_limit(limited):
    client = NetSuiteRest.connect(limited)
    limits = client.session.get(client.url("system/v1/governanceLimits")).json()
    assert limits["accountConcurrencyLimit"] == 2
