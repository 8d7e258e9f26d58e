"""NetSuiteSoapClient against the NetSuite sandbox: authentication modes and how failures surface."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sfns_pipeline.http import make_session
from sfns_pipeline.netsuite import auth
from sfns_pipeline.netsuite.auth import OAuth2ClientCredentials
from sfns_pipeline.netsuite.soap import (
    NetSuiteAuthError,
    NetSuiteConcurrencyLimit,
    NetSuiteSoapClient,
    NetSuiteSoapError,
    TbaCredentials,
)

WSDL = Path(__file__).resolve().parents[2].parent / "shared/reference/netsuite-soap/netsuite.wsdl"


@pytest.fixture(scope="module")
def endpoints(sandbox) -> dict:
    return {**sandbox.endpoints["netsuite"], "ca_cert": sandbox.endpoints["ca_cert"]}


def tba(endpoints: dict, **changes: str) -> TbaCredentials:
    values = {**endpoints["tba"], **changes}
    return TbaCredentials(
        endpoints["account_id"],
        values["consumer_key"],
        values["consumer_secret"],
        values["token_id"],
        values["token_secret"],
    )


def make_client(endpoints: dict, **auth) -> NetSuiteSoapClient:
    return NetSuiteSoapClient(wsdl=WSDL, soap_url=endpoints["soap_url"], ca_bundle=endpoints["ca_cert"], **auth)


@pytest.fixture(scope="module")
def client(endpoints) -> NetSuiteSoapClient:
    return make_client(endpoints, credentials=tba(endpoints))


@pytest.fixture(scope="module")
def order(sandbox) -> dict:
    """A minimal valid order for the sandbox's account (customer and item set up through the backend)."""
    backend = sandbox.components["netsuite"].backend
    subsidiary = backend.create("subsidiary", {"name": "Client Test Sub"})
    customer = backend.create("customer", {"companyName": "Client Test Co", "subsidiary": {"id": subsidiary}})
    item = backend.create("inventoryItem", {"itemId": f"CT-{uuid.uuid4().hex[:6]}", "basePrice": 5.0})
    return {
        "entity": {"internalId": customer},
        "itemList": {
            "item": [{"item": {"internalId": item}, "quantity": 4, "price": {"internalId": "-1"}, "rate": "4.5"}]
        },
    }


def new_order(order: dict) -> dict:
    return {**order, "externalId": f"SF-{uuid.uuid4().hex[:16]}"}


def oauth2(endpoints: dict) -> OAuth2ClientCredentials:
    """The pipeline's OAuth 2.0 client-credentials (M2M) token provider for the sandbox account."""
    settings = endpoints["oauth2"]
    return OAuth2ClientCredentials(
        token_url=settings["token_url"],
        client_id=settings["client_id"],
        certificate_id=settings["certificate_id"],
        private_key_file=Path(settings["private_key_file"]),
        session=make_session(endpoints["ca_cert"]),
    )


def test_a_fresh_passport_per_call_lets_calls_repeat(client, order):
    record = new_order(order)

    first, second = client.upsert_sales_order(record), client.upsert_sales_order(record)

    assert first.success and second.success and first.internal_id == second.internal_id


def test_wrong_token_secret_is_an_auth_error(endpoints, order):
    client = make_client(endpoints, credentials=tba(endpoints, token_secret="0" * 64))

    with pytest.raises(NetSuiteAuthError) as raised:
        client.upsert_sales_order(new_order(order))

    assert raised.value.message == "Invalid login attempt." and not raised.value.retryable
    assert isinstance(raised.value, auth.NetSuiteAuthError)  # one except clause for REST and SOAP


def test_oauth2_bearer_token_is_accepted(endpoints, order):
    client = make_client(endpoints, access_token=oauth2(endpoints).access_token)

    result = client.upsert_sales_order(new_order(order))

    assert result.success
    assert client.get_sales_order(internal_id=result.internal_id)["externalId"] == result.external_id


def test_unknown_bearer_token_is_an_auth_error(endpoints, order):
    client = make_client(endpoints, access_token=lambda: "not-a-token-netsuite-issued")

    with pytest.raises(NetSuiteAuthError):
        client.upsert_sales_order(new_order(order))


def test_injected_request_blocked_is_a_retryable_concurrency_limit(sandbox, client, order):
    sandbox.faults.add({"service": "netsuite", "kind": "WS_REQUEST_BLOCKED", "path": "NetSuitePort", "count": 1})

    with pytest.raises(NetSuiteConcurrencyLimit) as raised:
        client.upsert_sales_order(new_order(order))

    assert raised.value.retryable and raised.value.code == "WS_REQUEST_BLOCKED"
    assert client.upsert_sales_order(new_order(order)).success  # the fault was for one request only


@pytest.mark.parametrize("kind", ["503", "UNEXPECTED_ERROR"])
def test_outages_are_retryable_soap_errors(sandbox, client, order, kind):
    sandbox.faults.add({"service": "netsuite", "kind": kind, "path": "NetSuitePort", "count": 1})

    with pytest.raises(NetSuiteSoapError) as raised:
        client.upsert_sales_order(new_order(order))

    assert raised.value.retryable and not isinstance(raised.value, NetSuiteConcurrencyLimit | NetSuiteAuthError)


def test_a_missing_order_raises_with_netsuites_code(client):
    with pytest.raises(NetSuiteSoapError) as raised:
        client.get_sales_order(external_id=f"SF-{uuid.uuid4().hex[:16]}")

    assert raised.value.code == "RCRD_DSNT_EXIST" and not raised.value.retryable


def test_a_record_error_is_a_result_not_an_exception(client, order):
    result = client.upsert_sales_order({**new_order(order), "entity": {"internalId": "987654"}})

    assert not result.success
    assert [(d.code, d.type) for d in result.status_details] == [("INVALID_KEY_OR_REF", "ERROR")]


def test_upsert_needs_an_external_id(client, order):
    with pytest.raises(ValueError, match="externalId"):
        client.upsert_sales_order(order)


def test_secrets_stay_out_of_repr(endpoints):
    credentials = tba(endpoints)

    assert credentials.token_secret not in repr(credentials)
    assert credentials.consumer_secret not in repr(credentials)
