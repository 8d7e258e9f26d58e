"""Fixtures for the NetSuite sandbox: a NetSuite-only sandbox and a REST client signed like the pipeline's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox.netsuite.component import NetSuiteSandbox
from sfns_pipeline.sandbox.runner import Sandbox

NETSUITE_ONLY = ["sfns_pipeline.sandbox.netsuite.component:NetSuiteSandbox"]
REFERENCE = Path(__file__).resolve().parents[3] / "../shared/reference"


def unique(prefix: str = "T") -> str:
    """An id no other test (or xdist worker) uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@dataclass
class NetSuiteRest:
    """requests + requests-oauthlib, as the pipeline signs REST calls (TBA, HMAC-SHA256, realm)."""

    endpoints: dict[str, Any]
    session: requests.Session

    @classmethod
    def connect(cls, sandbox: Sandbox, **oauth: Any) -> NetSuiteRest:
        endpoints = sandbox.endpoints["netsuite"]
        session = make_session(sandbox.endpoints["ca_cert"])
        session.auth = tba_auth(endpoints, **oauth)
        return cls(endpoints, session)

    def url(self, path: str) -> str:
        return f"{self.endpoints['rest_url']}/services/rest/{path}"

    def record(self, path: str) -> str:
        return self.url(f"record/v1/{path}")

    def create(self, record_type: str, body: dict) -> str:
        """POST a record; returns the internal id from the Location header."""
        response = self.session.post(self.record(record_type), json=body)
        assert response.status_code == 204, response.text
        return response.headers["Location"].rsplit("/", 1)[1]

    def get(self, record_type: str, key: str, **params: Any) -> dict:
        response = self.session.get(self.record(f"{record_type}/{key}"), params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def suiteql(
        self, query: str, *, params: list | None = None, limit: int = 1000, offset: int = 0
    ) -> requests.Response:
        body: dict[str, Any] = {"q": query} | ({"params": params} if params else {})
        return self.session.post(
            self.url("query/v1/suiteql"),
            params={"limit": limit, "offset": offset},
            json=body,
            headers={"Prefer": "transient"},
        )


def tba_auth(endpoints: dict[str, Any], **overrides: Any) -> OAuth1:
    tba = endpoints["tba"]
    settings = {
        "client_key": tba["consumer_key"],
        "client_secret": tba["consumer_secret"],
        "resource_owner_key": tba["token_id"],
        "resource_owner_secret": tba["token_secret"],
        "realm": endpoints["account_id"],
        "signature_method": "HMAC-SHA256",
    } | overrides
    return OAuth1(**settings)


def netsuite_component(sandbox: Sandbox) -> NetSuiteSandbox:
    return sandbox.components["netsuite"]  # type: ignore[return-value]


@pytest.fixture(scope="module")
def ns_sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    """A NetSuite-only sandbox shared by a test module; tests use unique names and ids."""
    with Sandbox(tmp_path_factory.mktemp("netsuite"), ports={"netsuite": 0}, components=NETSUITE_ONLY) as running:
        yield running


@pytest.fixture
def ns(ns_sandbox: Sandbox) -> Iterator[NetSuiteRest]:
    """A signed REST client; fault rules and clock skew are undone after each test."""
    yield NetSuiteRest.connect(ns_sandbox)
    ns_sandbox.faults.clear()
    ns_sandbox.clock.set_offset(0)


@dataclass(frozen=True)
class Basics:
    """Reference data most tests need: a subsidiary, net-30 terms, an item and a customer."""

    subsidiary: str
    terms: str
    item: str
    customer: str


@pytest.fixture(scope="module")
def basics(ns_sandbox: Sandbox) -> Basics:
    backend = netsuite_component(ns_sandbox).backend
    subsidiary = backend.create("subsidiary", {"name": unique("Sub ")})
    terms = backend.create("term", {"name": unique("Net 30 "), "daysUntilNetDue": 30})
    item = backend.create("inventoryItem", {"itemId": unique("SKU-"), "basePrice": 12.5})
    customer = backend.create(
        "customer", {"companyName": unique("Basics Co "), "subsidiary": {"id": subsidiary}, "terms": {"id": terms}}
    )
    return Basics(subsidiary=subsidiary, terms=terms, item=item, customer=customer)
