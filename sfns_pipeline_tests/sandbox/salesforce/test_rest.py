"""sObject REST on the Salesforce sandbox through simple-salesforce: CRUD, upsert, validation, ids, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox.salesforce.ids import case_safe_suffix
from sfns_pipeline_tests.sandbox.salesforce.conftest import first_error


def test_create_get_update_delete(sf, tag):
    created = sf.Account.create({"Name": f"Acme {tag}", "BillingCity": "Austin", "Credit_Limit__c": 5000})
    assert created["success"] is True and created["errors"] == []
    record = sf.Account.get(created["id"])
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{created['id']}"}
    assert (record["Name"], record["BillingCity"], record["Credit_Limit__c"]) == (f"Acme {tag}", "Austin", 5000.0)
    assert record["BillingAddress"]["city"] == "Austin"
    assert sf.Account.update(created["id"], {"Phone": "555-0100"}) == 204
    assert sf.Account.get(created["id"])["Phone"] == "555-0100"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Account.get(created["id"])
    assert first_error(gone.value)["errorCode"] == "ENTITY_IS_DELETED"


def test_system_fields_follow_the_sandbox_clock(sandbox, sf, tag):
    sandbox.clock.set_offset(-86400 * 365)
    record = sf.Account.get(sf.Account.create({"Name": f"Clock {tag}"})["id"])
    expected_year = sandbox.clock.now().year
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert record[name].startswith(str(expected_year))
        assert record[name].endswith("+0000") and len(record[name]) == len("2026-01-31T09:30:00.000+0000")


@pytest.mark.parametrize(
    ("sobject", "prefix", "body"), [("Account", "001", {"Name": "prefix"}), ("Product2", "01t", {"Name": "p"})]
)
def test_ids_are_18_characters_with_key_prefix_and_case_safe_suffix(sf, sobject, prefix, body):
    record_id = getattr(sf, sobject).create(body)["id"]
    assert len(record_id) == 18 and record_id.startswith(prefix)
    assert record_id[15:] == case_safe_suffix(record_id[:15])
    assert getattr(sf, sobject).get(record_id[:15])["Id"] == record_id  # the 15-character form finds it too


def test_upsert_creates_with_201_then_updates_with_200(sf, tag):
    path = f"NetSuite_Customer_Id__c/NS-{tag}"
    created = sf.Account.upsert(path, {"Name": f"Upsert {tag}"}, raw_response=True)
    assert created.status_code == 201
    assert created.json()["created"] is True and created.json()["success"] is True
    updated = sf.Account.upsert(path, {"Name": f"Upsert {tag} v2"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    assert sf.Account.get_by_custom_id("NetSuite_Customer_Id__c", f"NS-{tag}")["Name"] == f"Upsert {tag} v2"


def test_upsert_matching_several_records_is_300(sf, tag):
    sku = f"DUP-{tag}"
    first = sf.Product2.create({"Name": "a", "StockKeepingUnit": sku})["id"]
    second = sf.Product2.create({"Name": "b", "StockKeepingUnit": sku})["id"]
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Product2.upsert(f"StockKeepingUnit/{sku}", {"Name": "c"})
    assert sorted(url.rsplit("/", 1)[1] for url in several.value.content) == sorted([first, second])


def test_upsert_by_unknown_field_is_404(sf):
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.upsert("No_Such_Field__c/1", {"Name": "x"})
    assert first_error(missing.value)["errorCode"] == "NOT_FOUND"


def test_parent_by_external_id_is_resolved(sf, tag):
    parent = sf.Account.create({"Name": f"Parent {tag}", "NetSuite_Customer_Id__c": f"P-{tag}"})["id"]
    child = sf.NetSuite_Invoice__c.create(
        {"Name": "INV-1", "NetSuite_Id__c": f"I-{tag}", "Account__r": {"NetSuite_Customer_Id__c": f"P-{tag}"}}
    )
    assert sf.NetSuite_Invoice__c.get(child["id"])["Account__c"] == parent


def test_parent_by_unknown_external_id_is_rejected(sf, tag):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.NetSuite_Invoice__c.create(
            {"Name": "INV-2", "NetSuite_Id__c": f"I2-{tag}", "Account__r": {"NetSuite_Customer_Id__c": f"none-{tag}"}}
        )
    error = first_error(refused.value)
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"] == (
        f"Foreign key external ID: none-{tag} not found for field NetSuite_Customer_Id__c in entity Account"
    )


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Name": "x", "Favourite_Colour__c": "red"}, "INVALID_FIELD", []),
        ({"BillingCity": "Nowhere"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"Name": "x", "Payment_Terms__c": "Net 999"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Payment_Terms__c"]),
        ({"Name": "x", "Credit_Limit__c": "lots"}, "JSON_PARSER_ERROR", ["Credit_Limit__c"]),
        ({"Name": "x", "DUNS_Number__c": "1234567890"}, "STRING_TOO_LONG", ["DUNS_Number__c"]),
        ({"Name": "x", "ParentId": "not-an-id"}, "MALFORMED_ID", ["ParentId"]),
        ({"Name": "x", "ParentId": "001000000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY", ["ParentId"]),
        ({"Name": "x", "ParentId": "01t000000000000AAA"}, "FIELD_INTEGRITY_EXCEPTION", ["ParentId"]),
        ({"Name": "x", "NetSuite_Last_Synced__c": "yesterday"}, "JSON_PARSER_ERROR", ["NetSuite_Last_Synced__c"]),
        ({"Name": "x", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
    ],
)
def test_validation_errors(sf, body, code, fields):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.create(body)
    error = first_error(refused.value)
    assert (error["errorCode"], error.get("fields", [])) == (code, fields)
    assert error["message"]


def test_unknown_field_message(sf):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.create({"Name": "x", "Favourite_Colour__c": "red"})
    assert first_error(refused.value)["message"] == "No such column 'Favourite_Colour__c' on sobject of type Account"


def test_duplicate_external_id_is_duplicate_value(sf, tag):
    first = sf.Account.create({"Name": "a", "NetSuite_Customer_Id__c": f"D-{tag}"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.create({"Name": "b", "NetSuite_Customer_Id__c": f"d-{tag}"})  # external ids ignore case
    error = first_error(refused.value)
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert (
        error["message"]
        == f"duplicate value found: NetSuite_Customer_Id__c duplicates value on record with id: {first}"
    )


def test_unknown_record_and_unknown_object_are_404(sf):
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.get("001000000000000AAA")
    assert first_error(missing.value)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Widget__c/describe")


def test_order_line_needs_the_orders_price_book(sf, tag):
    account = sf.Account.create({"Name": f"PB {tag}"})["id"]
    standard = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    product = sf.Product2.create({"Name": "Widget", "StockKeepingUnit": f"W-{tag}", "IsActive": True})["id"]
    entry = sf.PricebookEntry.create(
        {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 4, "IsActive": True}
    )
    order = sf.Order.create({"AccountId": account, "EffectiveDate": "2026-12-01", "Status": "Draft"})["id"]
    line = {"OrderId": order, "PricebookEntryId": entry["id"], "Quantity": 2, "UnitPrice": 4}
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.OrderItem.create(line)
    assert first_error(refused.value)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    sf.Order.update(order, {"Pricebook2Id": standard})
    item = sf.OrderItem.get(sf.OrderItem.create(line)["id"])
    assert (item["Product2Id"], item["ListPrice"], item["TotalPrice"]) == (product, 4.0, 8.0)
    assert sf.Order.get(order)["TotalAmount"] == 8.0


def test_describe(sf):
    describe = sf.Account.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["keyPrefix"] == "001"
    assert fields["NetSuite_Customer_Id__c"]["externalId"] is True
    assert [v["value"] for v in fields["Shipping_Carrier__c"]["picklistValues"]] == ["UPS", "FedEx", "USPS", "DHL"]
    assert fields["ParentId"]["referenceTo"] == ["Account"] and fields["ParentId"]["relationshipName"] == "Parent"
    assert {"childSObject": "Order", "field": "AccountId", "relationshipName": "Orders", "cascadeDelete": False} in (
        describe["childRelationships"]
    )
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {
        "Account",
        "Order",
        "OrderItem",
        "Product2",
        "Payment__c",
        "NetSuite_Invoice__c",
        "AccountsEvent__e",
    } <= names


def test_versions_list_names_each_release(endpoints):
    versions = make_session(endpoints["ca_cert"]).get(f"{endpoints['salesforce']['instance_url']}/services/data").json()
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions
    assert versions[-1] == {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"}
    numbers = [float(v["version"]) for v in versions]
    assert numbers == sorted(numbers) and min(numbers) >= 46.0  # every served version has upsert's 200 + created


def test_latest_version_serves_the_org(sf, endpoints):
    latest = make_session(endpoints["ca_cert"]).get(
        f"{endpoints['salesforce']['instance_url']}/services/data/v66.0/sobjects/Account/describe", headers=sf.headers
    )
    assert latest.status_code == 200 and latest.json()["name"] == "Account"


def test_limits_header_is_parsed_by_simple_salesforce(sf):
    sf.query("SELECT Id FROM User")
    before = sf.api_usage["api-usage"]
    sf.query("SELECT Id FROM User")
    after = sf.api_usage["api-usage"]
    assert after.used == before.used + 1 and after.total == before.total
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == after.total
    assert limits["DailyApiRequests"]["Remaining"] == after.total - after.used - 1


def test_session_without_token_is_refused(endpoints):
    response = make_session(endpoints["ca_cert"]).get(
        f"{endpoints['salesforce']['instance_url']}/services/data/v62.0/limits"
    )
    assert response.status_code == 401 and response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_platform_event_publish_via_rest(sf, bus, tag):
    after = bus.last_replay_id
    result = sf.restful(
        "sobjects/AccountsEvent__e/", method="POST", json={"Account_Id__c": f"001{tag}", "Change_Type__c": "Update"}
    )
    assert result["success"] is True and result["id"].startswith("e00")
    (enqueued,) = result["errors"]
    assert enqueued["statusCode"] == "OPERATION_ENQUEUED" and enqueued["fields"] == []
    events, _ = bus.read("AccountsEvent__e", after=after, limit=100)
    published = next(e for e in events if e.event_uuid == enqueued["message"])
    assert bus.decode(published)["Account_Id__c"] == f"001{tag}"


def test_expired_session_error_class(endpoints):
    sf = Salesforce(
        instance_url=endpoints["salesforce"]["instance_url"],
        session_id="00Dexpired",
        session=make_session(endpoints["ca_cert"]),
        version="62.0",
    )
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")


def test_get_updated_and_get_deleted(sandbox, sf, tag):
    start = sandbox.clock.now() - timedelta(minutes=1)
    kept = sf.Account.create({"Name": f"Replicated {tag}"})["id"]
    removed = sf.Account.create({"Name": f"Removed {tag}"})["id"]
    sf.Account.delete(removed)
    end = sandbox.clock.now() + timedelta(minutes=2)
    assert kept in sf.Account.updated(start, end)["ids"]
    assert removed not in sf.Account.updated(start, end)["ids"]
    assert removed in [r["id"] for r in sf.Account.deleted(start, end)["deletedRecords"]]


def test_activated_order_keeps_its_account(sf, tag):
    first = sf.Account.create({"Name": f"First {tag}"})["id"]
    second = sf.Account.create({"Name": f"Second {tag}"})["id"]
    order = sf.Order.create({"AccountId": first, "EffectiveDate": "2026-12-01", "Status": "Activated"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Order.update(order, {"AccountId": second})
    assert first_error(refused.value)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_concurrent_upserts_of_one_external_id_make_one_record(sf, tag):
    def upsert(n: int) -> int:
        return sf.Account.upsert(f"NetSuite_Customer_Id__c/RACE-{tag}", {"Name": f"Race {n}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(upsert, range(16)))
    assert statuses.count(201) == 1 and statuses.count(200) == 15
    found = sf.query(format_soql("SELECT Id FROM Account WHERE NetSuite_Customer_Id__c = {}", f"RACE-{tag}"))
    assert found["totalSize"] == 1


def test_get_with_chosen_fields(sf, tag):
    record_id = sf.Account.create({"Name": f"Few {tag}", "Phone": "2"})["id"]
    record = sf.restful(f"sobjects/Account/{record_id}", params={"fields": "Name,Phone"})
    assert set(record) == {"attributes", "Name", "Phone"}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(f"sobjects/Account/{record_id}", params={"fields": "Name,Nope__c"})
