"""sObject Collections on the Salesforce sandbox: independent outcomes, allOrNone rollback, per-record errors."""

from __future__ import annotations

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfns_pipeline_tests.sandbox.salesforce.conftest import first_error


def _invoice(tag: str, n: int, **extra) -> dict:
    return {"attributes": {"type": "NetSuite_Invoice__c"}, "NetSuite_Id__c": f"{tag}-{n}", "Name": f"INV{n}", **extra}


def _invoices_tagged(sf, tag: str) -> int:
    return sf.query(format_soql("SELECT Id FROM NetSuite_Invoice__c WHERE NetSuite_Id__c LIKE {}", f"{tag}-%"))[
        "totalSize"
    ]


def _upsert(sf, records: list[dict], all_or_none: bool) -> list[dict]:
    return sf.restful(
        "composite/sobjects/NetSuite_Invoice__c/NetSuite_Id__c",
        method="PATCH",
        json={"allOrNone": all_or_none, "records": records},
    )


def test_upsert_with_one_bad_record_keeps_the_good_ones(sf, tag):
    account = sf.Account.create({"Name": f"Inv {tag}", "NetSuite_Customer_Id__c": f"C-{tag}"})["id"]
    _upsert(sf, [_invoice(tag, 1, Total__c=10)], all_or_none=False)  # exists before: the batch updates it
    results = _upsert(
        sf,
        [
            _invoice(tag, 1, Total__c=11, Account__r={"NetSuite_Customer_Id__c": f"C-{tag}"}),
            _invoice(tag, 2, Account__r={"NetSuite_Customer_Id__c": f"missing-{tag}"}),
            _invoice(tag, 3, Status__c="Open"),
        ],
        all_or_none=False,
    )
    assert [(r["success"], r.get("created")) for r in results] == [(True, False), (False, None), (True, True)]
    assert results[1]["errors"] == [
        {
            "statusCode": "INVALID_FIELD",
            "message": f"Foreign key external ID: missing-{tag} not found for field NetSuite_Customer_Id__c "
            "in entity Account",
            "fields": [],
        }
    ]
    stored = sf.query(
        format_soql(
            "SELECT NetSuite_Id__c, Total__c, Account__c FROM NetSuite_Invoice__c WHERE NetSuite_Id__c LIKE {} "
            "ORDER BY NetSuite_Id__c",
            f"{tag}-%",
        )
    )
    assert [(r["NetSuite_Id__c"], r["Total__c"], r["Account__c"]) for r in stored["records"]] == [
        (f"{tag}-1", 11.0, account),
        (f"{tag}-3", None, None),
    ]


def test_all_or_none_rolls_back_every_record(sf, tag):
    results = _upsert(sf, [_invoice(tag, 1), _invoice(tag, 2, Name=None), _invoice(tag, 3)], all_or_none=True)
    assert [r["success"] for r in results] == [False, False, False]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    for rolled_back in (results[0], results[2]):
        assert rolled_back["errors"] == [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                "AllOrNone header",
                "fields": [],
            }
        ]
    assert _invoices_tagged(sf, tag) == 0


def test_same_external_id_twice_in_one_batch(sf, tag):
    results = _upsert(sf, [_invoice(tag, 1), _invoice(tag, 1), _invoice(tag, 2)], all_or_none=False)
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"


def test_create_and_update_collections(sf, tag):
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": f"Coll {tag} A"},
                {"attributes": {"type": "Account"}, "Name": f"Coll {tag} B", "Shipping_Carrier__c": "Pigeon"},
            ],
        },
    )
    assert created[0]["success"] is True and created[0]["id"].startswith("001")
    assert created[1] == {
        "id": None,
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Shipping_Carrier__c: bad value for restricted picklist field: Pigeon",
                "fields": ["Shipping_Carrier__c"],
            }
        ],
    }
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "Id": created[0]["id"], "Phone": "555"}]},
    )
    assert updated == [{"id": created[0]["id"], "success": True, "errors": []}]
    assert sf.Account.get(created[0]["id"])["Phone"] == "555"


def test_delete_collection(sf, tag):
    ids = [sf.Account.create({"Name": f"Del {tag} {n}"})["id"] for n in range(2)]
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "true"})
    assert [r["success"] for r in results] == [True, True]
    assert sf.query(format_soql("SELECT Id FROM Account WHERE Name LIKE {}", f"Del {tag}%"))["totalSize"] == 0


def test_more_than_200_records_is_refused(sf, tag):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        _upsert(sf, [_invoice(tag, n) for n in range(201)], all_or_none=False)
    assert first_error(refused.value)["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_unknown_field_fails_the_whole_request(sf, tag):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        _upsert(sf, [_invoice(tag, 1), _invoice(tag, 2, Bogus__c=1)], all_or_none=False)
    assert first_error(refused.value)["errorCode"] == "INVALID_FIELD"
    assert _invoices_tagged(sf, tag) == 0


def test_retrieve_collection(sf, tag):
    first = sf.Account.create({"Name": f"Get {tag}", "Phone": "1"})["id"]
    records = sf.restful(
        "composite/sobjects/Account", params={"ids": f"{first},001000000000000AAA", "fields": "Name,Phone"}
    )
    assert records[1] is None
    assert {k: v for k, v in records[0].items() if k != "attributes"} == {"Name": f"Get {tag}", "Phone": "1"}
    posted = sf.restful("composite/sobjects/Account", method="POST", json={"ids": [first], "fields": ["Name"]})
    assert posted[0]["Name"] == f"Get {tag}"
