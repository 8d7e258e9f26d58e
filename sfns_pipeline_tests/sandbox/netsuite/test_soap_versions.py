"""The SuiteTalk version is configuration: paths, namespaces and the served WSDL follow it."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

from sfns_pipeline.http import make_session
from sfns_pipeline.netsuite.soap import NetSuiteSoapClient, TbaCredentials
from sfns_pipeline.sandbox.runner import Sandbox

VERSION = "2025_2"


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """A NetSuite sandbox on the 2025_2 endpoint (only the NetSuite component: nothing else is needed)."""
    with Sandbox(
        tmp_path_factory.mktemp("netsuite-2025-2"),
        ports={"netsuite": 0},
        options={"netsuite": {"version": VERSION}},
        components=["sfns_pipeline.sandbox.netsuite.component:NetSuiteSandbox"],
    ) as sandbox:
        yield sandbox


def test_the_2025_2_endpoint_serves_its_own_namespaces(account):
    endpoints = account.endpoints["netsuite"]
    assert endpoints["soap_url"].endswith(f"/services/NetSuitePort_{VERSION}")

    wsdl = etree.fromstring(make_session(account.endpoints["ca_cert"]).get(endpoints["wsdl_url"], timeout=30).content)

    assert wsdl.get("targetNamespace") == f"urn:platform_{VERSION}.webservices.netsuite.com"
    imports = {i.get("namespace") for i in wsdl.iter("{http://www.w3.org/2001/XMLSchema}import")}
    assert f"urn:sales_{VERSION}.transactions.webservices.netsuite.com" in imports


def test_zeep_on_the_served_2025_2_wsdl_upserts_and_gets(account):
    endpoints = account.endpoints["netsuite"]
    backend = account.components["netsuite"].backend
    subsidiary = backend.create("subsidiary", {"name": "Sub 2025"})
    customer = backend.create("customer", {"companyName": "Versioned Co", "subsidiary": {"id": subsidiary}})
    item = backend.create("inventoryItem", {"itemId": "V-1", "basePrice": 3.0})
    tba = endpoints["tba"]
    client = NetSuiteSoapClient(
        wsdl=endpoints["wsdl_url"],
        soap_url=endpoints["soap_url"],
        credentials=TbaCredentials(
            endpoints["account_id"], tba["consumer_key"], tba["consumer_secret"], tba["token_id"], tba["token_secret"]
        ),
        version=VERSION,
        ca_bundle=account.endpoints["ca_cert"],
    )
    ext_id = f"SF-{uuid.uuid4().hex[:12]}"

    result = client.upsert_sales_order(
        {
            "externalId": ext_id,
            "entity": {"internalId": customer},
            "itemList": {"item": [{"item": {"internalId": item}, "quantity": 2}]},
            "customFieldList": {"custbody_sf_order_id": "801V"},
        }
    )

    assert result.success
    order = client.get_sales_order(external_id=ext_id)
    assert order["customFieldList"] == {"custbody_sf_order_id": "801V"}
    assert order["itemList"]["item"][0]["amount"] == 6.0  # the item's base price when no rate is given
