"""The sandbox's SuiteTalk SOAP layer against NetSuite's real 2023_2 WSDL and XSDs.

zeep loads NetSuite's own WSDL and is pointed at the sandbox. Every message either side puts on the wire
is validated against NetSuite's real schema set (Body and Header children, fault details), and requests
that schema refuses are refused by the sandbox too.
"""

from __future__ import annotations

import copy
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import zeep
from lxml import etree

from sfns_pipeline.http import make_session
from sfns_pipeline.netsuite.soap import NetSuiteConcurrencyLimit, NetSuiteSoapClient, TbaCredentials
from sfns_pipeline.sandbox.netsuite.component import NetSuiteSandbox
from sfns_pipeline.sandbox.netsuite.soap.xsd import SCHEMA_FILES, documents
from sfns_pipeline.sandbox.runner import Sandbox

REFERENCE = Path(__file__).resolve().parents[3].parent / "shared/reference/netsuite-soap"
VERSION = "2023_2"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MSGS = f"urn:messages_{VERSION}.platform.webservices.netsuite.com"
CORE = f"urn:core_{VERSION}.platform.webservices.netsuite.com"
COMMON = f"urn:common_{VERSION}.platform.webservices.netsuite.com"
SALES = f"urn:sales_{VERSION}.transactions.webservices.netsuite.com"
FAULTS = f"urn:faults_{VERSION}.platform.webservices.netsuite.com"
RELATIONSHIPS = f"urn:relationships_{VERSION}.lists.webservices.netsuite.com"
REAL_SCHEMA_FILES = (
    "platform.messages.xsd",
    "platform.core.xsd",
    "platform.common.xsd",
    "platform.faults.xsd",
    "transactions.sales.xsd",
    "transactions.customers.xsd",
    "lists.relationships.xsd",
)


# -- NetSuite's real schema ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_schema() -> etree.XMLSchema:
    """NetSuite's 2023_2 schema set as one lxml schema (about 3 s, so once per session)."""
    xsd = "http://www.w3.org/2001/XMLSchema"
    wrapper = etree.Element(f"{{{xsd}}}schema")
    for name in REAL_SCHEMA_FILES:
        document = etree.parse(str(REFERENCE / "xsd" / name))
        namespace = document.getroot().get("targetNamespace")
        location = (REFERENCE / "xsd" / name).as_uri()
        etree.SubElement(wrapper, f"{{{xsd}}}import", namespace=namespace, schemaLocation=location)
    return etree.XMLSchema(wrapper)


def parts_to_validate(envelope: etree._Element) -> list[etree._Element]:
    """What NetSuite's schema covers: Header children, the Body child, or a fault's detail element."""
    parts = list(envelope.find(f"{{{SOAP_ENV}}}Header") if envelope.find(f"{{{SOAP_ENV}}}Header") is not None else [])
    body_child = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
    if body_child.tag == f"{{{SOAP_ENV}}}Fault":
        parts += [child for child in body_child.find("detail") if etree.QName(child).namespace == FAULTS]
    else:
        parts.append(body_child)
    return [part for part in parts if isinstance(part.tag, str)]


def assert_valid(real_schema: etree.XMLSchema, envelope: etree._Element) -> None:
    for part in parts_to_validate(envelope):
        shown = etree.tostring(part, pretty_print=True).decode()
        assert real_schema.validate(etree.ElementTree(copy.deepcopy(part))), f"{real_schema.error_log}\n{shown}"


class WireLog(zeep.Plugin):
    """Every envelope zeep sends and receives."""

    def __init__(self) -> None:
        self.sent: list[etree._Element] = []
        self.received: list[etree._Element] = []

    def egress(self, envelope, http_headers, operation, binding_options):
        self.sent.append(copy.deepcopy(envelope))
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):
        self.received.append(copy.deepcopy(envelope))
        return envelope, http_headers

    def assert_valid(self, real_schema: etree.XMLSchema) -> None:
        assert self.sent and self.received
        for envelope in (*self.sent, *self.received):
            assert_valid(real_schema, envelope)


# -- the sandbox account ---------------------------------------------------------------------------------------------


@dataclass
class Account:
    sandbox: Sandbox
    endpoints: dict
    ca_cert: str

    @property
    def component(self) -> NetSuiteSandbox:
        return self.sandbox.components["netsuite"]

    @property
    def tba(self) -> TbaCredentials:
        tba = self.endpoints["tba"]
        return TbaCredentials(
            self.endpoints["account_id"],
            tba["consumer_key"],
            tba["consumer_secret"],
            tba["token_id"],
            tba["token_secret"],
        )

    def client(self, wsdl: str | Path, *plugins: zeep.Plugin) -> NetSuiteSoapClient:
        return NetSuiteSoapClient(
            wsdl=wsdl,
            soap_url=self.endpoints["soap_url"],
            credentials=self.tba,
            ca_bundle=self.ca_cert,
            plugins=plugins,
        )

    def post(self, envelope: etree._Element, action: str) -> requests.Response:
        """A hand-built request, the way zeep would send it."""
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        return make_session(self.ca_cert).post(self.endpoints["soap_url"], data=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def account(sandbox) -> Account:
    return Account(sandbox, sandbox.endpoints["netsuite"], sandbox.endpoints["ca_cert"])


@pytest.fixture(scope="module")
def catalog(account) -> dict[str, str]:
    """A customer and two items to order (set up through the backend: not what these tests are about)."""
    backend = account.component.backend
    subsidiary = backend.create("subsidiary", {"name": "Distribution Inc."})
    customer = backend.create("customer", {"companyName": "Acme Hardware", "subsidiary": {"id": subsidiary}})
    widget = backend.create("inventoryItem", {"itemId": "WID-100", "basePrice": 12.5})
    gadget = backend.create("inventoryItem", {"itemId": "GAD-200", "basePrice": 40.0})
    return {"subsidiary": subsidiary, "customer": customer, "widget": widget, "gadget": gadget}


@pytest.fixture(scope="module")
def wire() -> WireLog:
    return WireLog()


@pytest.fixture(scope="module")
def real_wsdl_client(account, wire) -> NetSuiteSoapClient:
    """zeep on NetSuite's real netsuite.wsdl, pointed at the sandbox (``create_service``)."""
    return account.client(REFERENCE / "netsuite.wsdl", wire)


@pytest.fixture
def clean_wire(wire) -> WireLog:
    wire.sent.clear()
    wire.received.clear()
    return wire


DUE = date(2024, 2, 1)


def external_id() -> str:
    return f"SF-ORDER-{uuid.uuid4().hex[:12]}"


def sales_order(catalog: dict[str, str], ext_id: str, **overrides) -> dict:
    """An order as the integration sends it: PO, addresses, custom-price lines, Salesforce ids."""
    return {
        "externalId": ext_id,
        "entity": {"internalId": catalog["customer"]},
        "tranDate": "2024-01-15T00:00:00",
        "otherRefNum": "PO-9981",
        "memo": "from salesforce",
        "billingAddress": {
            "country": "_unitedStates",
            "addressee": "Acme Hardware",
            "addr1": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "zip": "62701",
        },
        "shippingAddress": {"country": "_canada", "addr1": "2 Dock Rd", "city": "Toronto", "state": "ON", "zip": "M5V"},
        "itemList": {
            "item": [
                {
                    "item": {"internalId": catalog["widget"]},
                    "quantity": 3,
                    "price": {"internalId": "-1"},
                    "rate": "19.99",
                    "expectedShipDate": "2024-01-20T00:00:00",
                    "customFieldList": {"custcol_sf_order_item_id": "802000000000001AAA"},
                },
                {"item": {"internalId": catalog["gadget"]}, "quantity": 1, "price": {"internalId": "-1"}, "rate": "35"},
            ]
        },
        "customFieldList": {"custbody_sf_order_id": "801000000000001AAA", "custbody_rush": True, "custbody_due": DUE},
        **overrides,
    }


# -- operations through zeep on the real WSDL ------------------------------------------------------------------------


def test_upsert_and_get_sales_order_round_trip(real_wsdl_client, catalog, clean_wire, real_schema):
    ext_id = external_id()
    result = real_wsdl_client.upsert_sales_order(sales_order(catalog, ext_id))
    assert result.success and result.internal_id and result.external_id == ext_id

    order = real_wsdl_client.get_sales_order(external_id=ext_id)

    assert order["internalId"] == result.internal_id and order["externalId"] == ext_id
    assert order["entity"]["internalId"] == catalog["customer"]
    assert (order["otherRefNum"], order["memo"]) == ("PO-9981", "from salesforce")
    assert order["tranDate"].isoformat() == "2024-01-15T00:00:00-08:00"  # dates come back as midnight Pacific
    assert order["shippingAddress"]["country"] == "_canada" and order["billingAddress"]["zip"] == "62701"
    first, second = order["itemList"]["item"]
    assert (first["price"]["internalId"], first["rate"], first["amount"]) == ("-1", "19.99", 59.97)
    assert first["customFieldList"] == {"custcol_sf_order_item_id": "802000000000001AAA"}
    assert (second["rate"], second["amount"]) == ("35", 35.0)
    assert order["total"] == 94.97
    assert order["customFieldList"] == {
        "custbody_sf_order_id": "801000000000001AAA",
        "custbody_rush": True,
        "custbody_due": datetime(2024, 2, 1, tzinfo=ZoneInfo("America/Los_Angeles")),
    }
    clean_wire.assert_valid(real_schema)


def test_upsert_twice_with_one_external_id_is_one_record(real_wsdl_client, account, catalog, clean_wire, real_schema):
    ext_id = external_id()
    first = real_wsdl_client.upsert_sales_order(sales_order(catalog, ext_id))
    second = real_wsdl_client.upsert_sales_order(sales_order(catalog, ext_id, memo="changed"))

    assert first.internal_id == second.internal_id
    backend = account.component.backend
    table = backend.table_of("salesOrder")
    _ids, total = backend.list_ids("salesOrder", table.c.externalid == ext_id, limit=10, offset=0)
    assert total == 1
    assert real_wsdl_client.get_sales_order(internal_id=first.internal_id)["memo"] == "changed"
    clean_wire.assert_valid(real_schema)


def test_add_then_get_with_zeep_types(real_wsdl_client, account, catalog, clean_wire, real_schema):
    client = real_wsdl_client.client
    sales_order_type = client.get_type(f"{{{SALES}}}SalesOrder")
    string_field = client.get_type(f"{{{CORE}}}StringCustomFieldRef")
    record = sales_order_type(
        externalId=external_id(),
        entity={"internalId": catalog["customer"]},
        itemList={
            "item": [
                {"item": {"internalId": catalog["widget"]}, "quantity": 2, "price": {"internalId": "-1"}, "rate": "10"}
            ]
        },
        customFieldList={"customField": [string_field(scriptId="custbody_sf_order_id", value="801X")]},
    )

    added = real_wsdl_client.service.add(record=record, _soapheaders={"tokenPassport": account.tba.passport()})

    write = added.body.writeResponse
    assert write.status.isSuccess and write.baseRef.type == "salesOrder"
    assert added.header.documentInfo.nsId.startswith(f"WEBSERVICES_{account.endpoints['account_id']}_")
    ref = client.get_type(f"{{{CORE}}}RecordRef")(internalId=write.baseRef.internalId, type="salesOrder")
    read = real_wsdl_client.service.get(baseRef=ref, _soapheaders={"tokenPassport": account.tba.passport()})
    assert read.body.readResponse.record.tranId.startswith("SO")
    clean_wire.assert_valid(real_schema)


def test_update_by_external_id_changes_only_what_is_sent(real_wsdl_client, account, catalog, clean_wire, real_schema):
    ext_id = external_id()
    real_wsdl_client.upsert_sales_order(sales_order(catalog, ext_id))
    record = real_wsdl_client.client.get_type(f"{{{SALES}}}SalesOrder")(externalId=ext_id, memo="expedite")

    updated = real_wsdl_client.service.update(record=record, _soapheaders={"tokenPassport": account.tba.passport()})

    assert updated.body.writeResponse.status.isSuccess
    order = real_wsdl_client.get_sales_order(external_id=ext_id)
    assert (order["memo"], order["otherRefNum"], len(order["itemList"]["item"])) == ("expedite", "PO-9981", 2)
    clean_wire.assert_valid(real_schema)


def test_add_with_a_taken_external_id_is_a_record_level_error(
    real_wsdl_client, account, catalog, clean_wire, real_schema
):
    ext_id = external_id()
    real_wsdl_client.upsert_sales_order(sales_order(catalog, ext_id))
    record = real_wsdl_client.client.get_type(f"{{{SALES}}}SalesOrder")(
        externalId=ext_id, entity={"internalId": catalog["customer"]}
    )

    added = real_wsdl_client.service.add(record=record, _soapheaders={"tokenPassport": account.tba.passport()})

    status = added.body.writeResponse.status
    assert not status.isSuccess and status.statusDetail[0].code == "DUP_RCRD"
    clean_wire.assert_valid(real_schema)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"internalId": "1", "externalId": "SF-ORDER-WITH-ID"}, "You cannot set internalId with upsert."),
        ({}, "This operation requies a value for externalId."),  # sic, as NetSuite words it
    ],
    ids=["internal-id", "no-external-id"],
)
def test_upsert_key_errors_are_user_errors(real_wsdl_client, account, catalog, clean_wire, real_schema, keys, message):
    record = real_wsdl_client.client.get_type(f"{{{SALES}}}SalesOrder")(
        entity={"internalId": catalog["customer"]}, **keys
    )

    upserted = real_wsdl_client.service.upsert(record=record, _soapheaders={"tokenPassport": account.tba.passport()})

    status = upserted.body.writeResponse.status
    assert not status.isSuccess
    assert (status.statusDetail[0].code, status.statusDetail[0].message) == ("USER_ERROR", message)
    clean_wire.assert_valid(real_schema)


def test_unknown_entity_is_invalid_key_or_ref(real_wsdl_client, catalog, clean_wire, real_schema):
    result = real_wsdl_client.upsert_sales_order(sales_order(catalog, external_id(), entity={"internalId": "999999"}))

    assert not result.success and result.internal_id is None
    assert result.status_details[0].code == "INVALID_KEY_OR_REF"
    assert result.status_details[0].message == "Invalid entity reference key 999999."
    clean_wire.assert_valid(real_schema)


def test_upsert_list_and_get_list_report_each_record(real_wsdl_client, account, catalog, clean_wire, real_schema):
    client, passport = real_wsdl_client.client, account.tba.passport
    sales_order_type = client.get_type(f"{{{SALES}}}SalesOrder")
    line = {"item": {"internalId": catalog["widget"]}, "quantity": 1}
    good, bad = external_id(), external_id()
    records = [
        sales_order_type(externalId=good, entity={"internalId": catalog["customer"]}, itemList={"item": [line]}),
        sales_order_type(externalId=bad, entity={"internalId": "999999"}, itemList={"item": [line]}),
    ]

    written = real_wsdl_client.service.upsertList(record=records, _soapheaders={"tokenPassport": passport()})

    outcomes = written.body.writeResponseList.writeResponse
    assert [w.status.isSuccess for w in outcomes] == [True, False]
    ref = client.get_type(f"{{{CORE}}}RecordRef")
    refs = [ref(externalId=good, type="salesOrder"), ref(externalId=bad, type="salesOrder")]
    read = real_wsdl_client.service.getList(baseRef=refs, _soapheaders={"tokenPassport": passport()})
    reads = read.body.readResponseList.readResponse
    assert reads[0].record.externalId == good
    assert (reads[1].status.isSuccess, reads[1].status.statusDetail[0].code) == (False, "RCRD_DSNT_EXIST")
    clean_wire.assert_valid(real_schema)


def test_customer_add_and_get(real_wsdl_client, account, catalog, clean_wire, real_schema):
    client, passport = real_wsdl_client.client, account.tba.passport
    customer = client.get_type(f"{{{RELATIONSHIPS}}}Customer")(
        externalId=f"SF-ACCT-{uuid.uuid4().hex[:10]}",
        companyName="Bolt & Nut Supply",
        subsidiary={"internalId": catalog["subsidiary"]},
        creditLimit=25000.0,
        addressbookList={
            "addressbook": [
                {
                    "defaultBilling": True,
                    "addressbookAddress": {"country": "_germany", "addr1": "Hafenstr. 1", "city": "Hamburg"},
                }
            ]
        },
        customFieldList={
            "customField": [
                client.get_type(f"{{{CORE}}}StringCustomFieldRef")(scriptId="custentity_sf_account_id", value="001X")
            ]
        },
    )

    added = real_wsdl_client.service.add(record=customer, _soapheaders={"tokenPassport": passport()})
    ref = client.get_type(f"{{{CORE}}}RecordRef")(
        internalId=added.body.writeResponse.baseRef.internalId, type="customer"
    )
    read = real_wsdl_client.service.get(baseRef=ref, _soapheaders={"tokenPassport": passport()}).body.readResponse

    assert read.record.companyName == "Bolt & Nut Supply" and read.record.creditLimit == 25000.0
    assert read.record.addressbookList.addressbook[0].addressbookAddress.country == "_germany"
    assert read.record.customFieldList.customField[0].value == "001X"
    clean_wire.assert_valid(real_schema)


def test_the_served_wsdl_works_with_zeep(account, catalog, real_schema):
    wire = WireLog()
    client = account.client(account.endpoints["wsdl_url"], wire)  # fetched over HTTPS with the sandbox CA
    ext_id = external_id()

    result = client.upsert_sales_order(sales_order(catalog, ext_id))

    assert result.success
    assert client.get_sales_order(external_id=ext_id)["itemList"]["item"][0]["rate"] == "19.99"
    wire.assert_valid(real_schema)  # what zeep makes of our WSDL is still valid for NetSuite's


def test_served_wsdl_points_at_the_sandbox_port(account):
    body = make_session(account.ca_cert).get(account.endpoints["wsdl_url"], timeout=30).content
    address = etree.fromstring(body).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == account.endpoints["soap_url"]


# -- requests NetSuite's schema refuses ------------------------------------------------------------------------------


def example_request(account: Account, catalog: dict[str, str], ext_id: str) -> etree._Element:
    """Oracle-shaped upsert (the reference example) with a fresh passport, our ids and a new externalId."""
    envelope = etree.parse(str(REFERENCE / "examples/salesorder-upsert-request.xml")).getroot()
    passport = account.tba.passport()
    header = envelope.find(f"{{{SOAP_ENV}}}Header/{{{MSGS}}}tokenPassport")
    for name in ("account", "consumerKey", "token", "nonce", "timestamp"):
        header.find(f"{{{CORE}}}{name}").text = str(passport[name])
    header.find(f"{{{CORE}}}signature").text = passport["signature"]["_value_1"]
    record = envelope.find(f".//{{{MSGS}}}record")
    record.set("externalId", ext_id)
    record.find(f"{{{SALES}}}entity").set("internalId", catalog["customer"])
    record.find(f".//{{{SALES}}}item/{{{SALES}}}item").set("internalId", catalog["widget"])
    return envelope


def _no_xsi_type(envelope: etree._Element) -> etree._Element:
    del envelope.find(f".//{{{MSGS}}}record").attrib[f"{{{XSI}}}type"]
    return envelope.find(f"{{{SOAP_ENV}}}Body")[0]


def _memo_before_po_number(envelope: etree._Element) -> etree._Element:
    record = envelope.find(f".//{{{MSGS}}}record")
    record.find(f"{{{SALES}}}otherRefNum").addprevious(record.find(f"{{{SALES}}}memo"))
    return envelope.find(f"{{{SOAP_ENV}}}Body")[0]


def _iso_country(envelope: etree._Element) -> etree._Element:
    envelope.find(f".//{{{SALES}}}shippingAddress/{{{COMMON}}}country").text = "US"
    return envelope.find(f"{{{SOAP_ENV}}}Body")[0]


def _passport_fields_in_messages_namespace(envelope: etree._Element) -> etree._Element:
    passport = envelope.find(f"{{{SOAP_ENV}}}Header/{{{MSGS}}}tokenPassport")
    for child in passport:
        child.tag = f"{{{MSGS}}}{etree.QName(child).localname}"  # as one Oracle help page shows it
    return passport


@pytest.mark.parametrize(
    "break_request",
    [_no_xsi_type, _memo_before_po_number, _iso_country, _passport_fields_in_messages_namespace],
    ids=["record-without-xsi-type", "fields-out-of-order", "iso-country-code", "passport-in-wrong-namespace"],
)
def test_requests_the_real_schema_refuses_are_refused(account, catalog, real_schema, break_request):
    ext_id = external_id()
    envelope = example_request(account, catalog, ext_id)
    broken_part = break_request(envelope)
    assert not real_schema.validate(etree.ElementTree(copy.deepcopy(broken_part)))  # NetSuite's schema says no

    response = account.post(envelope, "upsert")

    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultcode") == "soapenv:Server.userException"
    assert fault.findtext("faultstring").startswith("org.xml.sax.SAXException: ")
    table = account.component.backend.table_of("salesOrder")
    assert account.component.backend.list_ids("salesOrder", table.c.externalid == ext_id, limit=1, offset=0)[1] == 0


def test_the_unbroken_example_request_is_accepted(account, catalog, real_schema):
    envelope = example_request(account, catalog, external_id())
    assert_valid(real_schema, envelope)

    response = account.post(envelope, "upsert")

    assert response.status_code == 200
    reply = etree.fromstring(response.content)
    assert reply.find(f".//{{{CORE}}}status").get("isSuccess") == "true"
    assert_valid(real_schema, reply)


def test_missing_xsi_type_is_the_abstract_record_fault(account, catalog):
    envelope = example_request(account, catalog, external_id())
    _no_xsi_type(envelope)

    faultstring = etree.fromstring(account.post(envelope, "upsert").content).findtext(
        f".//{{{SOAP_ENV}}}Fault/faultstring"
    )

    assert faultstring == f"org.xml.sax.SAXException: {{{CORE}}}Record is an abstract type and cannot be instantiated"


# -- faults ------------------------------------------------------------------------------------------------------------


def test_concurrency_limit_is_ws_request_blocked(account, catalog, real_schema):
    wire = WireLog()
    client = account.client(REFERENCE / "netsuite.wsdl", wire)
    governor = account.component.governor
    with ExitStack() as busy:
        for _ in range(governor.limit):
            busy.enter_context(governor.slot())  # every slot of the account taken by other integrations
        with pytest.raises(NetSuiteConcurrencyLimit) as raised:
            client.get_sales_order(external_id=external_id())
        raw = account.post(example_request(account, catalog, external_id()), "upsert")

    assert raised.value.code == "WS_REQUEST_BLOCKED" and raised.value.retryable
    assert raw.status_code == 500
    fault = etree.fromstring(raw.content).find(f".//{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultstring") == "SuiteTalk concurrent request limit exceeded. Request blocked."
    detail = fault.find(f"detail/{{{FAULTS}}}exceededConcurrentRequestLimitFault")
    assert detail.findtext(f"{{{FAULTS}}}code") == "WS_REQUEST_BLOCKED"
    assert_valid(real_schema, etree.fromstring(raw.content))
    assert client.upsert_sales_order(sales_order(catalog, external_id())).success


def test_bad_signature_is_invalid_credentials_fault(account, catalog, real_schema):
    envelope = example_request(account, catalog, external_id())
    envelope.find(f".//{{{CORE}}}signature").text = "AAAA" + envelope.find(f".//{{{CORE}}}signature").text[4:]

    response = account.post(envelope, "upsert")

    assert response.status_code == 500
    reply = etree.fromstring(response.content)
    assert reply.findtext(f".//{{{SOAP_ENV}}}Fault/faultstring") == "Invalid login attempt."
    assert reply.find(f".//{{{FAULTS}}}invalidCredentialsFault") is not None
    assert_valid(real_schema, reply)


def test_passport_and_bearer_together_is_ambiguous(account, catalog, real_schema):
    envelope = example_request(account, catalog, external_id())
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"upsert"', "Authorization": "Bearer abc"}
    body = etree.tostring(envelope)

    response = make_session(account.ca_cert).post(account.endpoints["soap_url"], data=body, headers=headers, timeout=30)

    reply = etree.fromstring(response.content)
    assert response.status_code == 500
    assert reply.findtext(f".//{{{FAULTS}}}invalidCredentialsFault/{{{FAULTS}}}code") == "USER_ERROR"
    assert reply.findtext(f".//{{{SOAP_ENV}}}Fault/faultstring") == "Ambiguous authentication"
    assert_valid(real_schema, reply)


# -- the sandbox's own schema subset ----------------------------------------------------------------------------------


def _sequences(document: etree._Element) -> dict[str, list[tuple[str, str]]]:
    """Each named complexType's elements in order, as (name, type local name)."""
    xsd = "{http://www.w3.org/2001/XMLSchema}"
    return {
        complex_type.get("name"): [
            (element.get("name") or element.get("ref"), (element.get("type") or "").rpartition(":")[2])
            for element in complex_type.iter(f"{xsd}element")
        ]
        for complex_type in document.iterfind(f"{xsd}complexType")
    }


def _is_subsequence(ours: list, theirs: list) -> bool:
    remaining = iter(theirs)
    return all(item in remaining for item in ours)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_own_schema_subset_keeps_netsuites_names_types_and_order(name):
    ours = _sequences(etree.fromstring(documents(VERSION)[name]))
    theirs = _sequences(etree.parse(str(REFERENCE / "xsd" / name)).getroot())

    for type_name, elements in ours.items():
        assert type_name in theirs, f"{name}: NetSuite has no type {type_name}"
        assert _is_subsequence(elements, theirs[type_name]), f"{name}: {type_name} differs from NetSuite's"
