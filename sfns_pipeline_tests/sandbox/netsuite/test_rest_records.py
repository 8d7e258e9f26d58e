"""REST record API: 204 + Location, GET shapes, PATCH, PUT eid: upsert, error bodies, lists and q filters."""

import re
from zoneinfo import ZoneInfo

import pytest

from sfns_pipeline_tests.sandbox.netsuite.conftest import unique

RFC_400 = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1"


def customer_body(basics, **fields):
    return {"companyName": unique("Cust "), "subsidiary": {"id": basics.subsidiary}} | fields


def error_detail(response):
    body = response.json()
    assert set(body) >= {"type", "title", "status", "o:errorDetails"}
    assert body["status"] == response.status_code
    return body["o:errorDetails"][0]


def test_create_answers_204_with_the_new_id_in_location(ns, basics):
    response = ns.session.post(ns.record("customer"), json=customer_body(basics))
    assert response.status_code == 204
    assert response.content == b""
    location = response.headers["Location"]
    assert re.fullmatch(re.escape(ns.record("customer/")) + r"\d+", location)
    assert ns.session.get(location).status_code == 200


def test_get_shows_references_with_id_and_refname_and_utc_dates(ns, basics):
    name = unique("Shape ")
    internal_id = ns.create(
        "customer",
        customer_body(basics, companyName=name, terms={"id": basics.terms}, email="ap@example.com", creditLimit=5000),
    )
    record = ns.get("customer", internal_id)
    assert record["id"] == internal_id
    assert record["links"] == [{"rel": "self", "href": ns.record(f"customer/{internal_id}")}]
    assert record["companyName"] == name
    assert record["entityId"] == name  # defaulted from the company name
    assert record["creditLimit"] == 5000
    assert record["subsidiary"]["id"] == basics.subsidiary
    assert record["subsidiary"]["refName"]
    assert record["subsidiary"]["links"][0]["href"].endswith(f"/subsidiary/{basics.subsidiary}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["lastModifiedDate"])


def test_sales_order_lines_custom_fields_and_subresources(ns, basics):
    order_id = ns.create(
        "salesOrder",
        {
            "entity": {"id": basics.customer},
            "otherRefNum": "PO-77",
            "tranDate": "2026-11-30",
            "custbody_sf_order_id": "801000000000001",
            "item": {
                "items": [
                    {
                        "item": {"id": basics.item},
                        "quantity": 4,
                        "price": {"id": "-1"},
                        "rate": 9.5,
                        "custcol_sf_order_item_id": "802000000000001",
                    }
                ]
            },
        },
    )
    collapsed = ns.get("salesOrder", order_id)
    assert collapsed["item"] == {"links": [{"rel": "self", "href": ns.record(f"salesOrder/{order_id}/item")}]}
    order = ns.get("salesOrder", order_id, expandSubResources="true")
    assert order["tranDate"] == "2026-11-30"
    assert order["status"] == {"id": "B", "refName": "Pending Fulfillment"}
    assert order["total"] == 38.0
    assert order["custbody_sf_order_id"] == "801000000000001"
    (line,) = order["item"]["items"]
    assert line["item"]["id"] == basics.item
    assert (line["quantity"], line["rate"], line["amount"]) == (4, 9.5, 38.0)
    assert line["price"]["id"] == "-1"
    assert line["custcol_sf_order_item_id"] == "802000000000001"


def test_patch_changes_given_fields_and_null_clears(ns, basics):
    internal_id = ns.create("customer", customer_body(basics, phone="555-0100", email="a@example.com"))
    response = ns.session.patch(ns.record(f"customer/{internal_id}"), json={"phone": None, "email": "b@example.com"})
    assert response.status_code == 204
    assert response.headers["Location"].endswith(f"/customer/{internal_id}")
    record = ns.get("customer", internal_id)
    assert "phone" not in record
    assert record["email"] == "b@example.com"
    assert record["subsidiary"]["id"] == basics.subsidiary  # omitted: unchanged


def test_put_eid_creates_then_updates_without_duplicates(ns, basics):
    external_id = unique("001")
    url = ns.record(f"customer/eid:{external_id}")
    first = ns.session.put(url, json=customer_body(basics, companyName="Before"))
    second = ns.session.put(url, json={"companyName": "After"})
    assert (first.status_code, second.status_code) == (204, 204)
    assert first.headers["Location"] == second.headers["Location"]
    record = ns.get("customer", f"eid:{external_id}")
    assert (record["externalId"], record["companyName"]) == (external_id, "After")
    listing = ns.session.get(ns.record("customer"), params={"q": f'externalId IS "{external_id}"'}).json()
    assert listing["totalResults"] == 1


def test_put_without_eid_is_refused(ns, basics):
    response = ns.session.put(ns.record(f"customer/{basics.customer}"), json={"companyName": "X"})
    assert response.status_code == 400
    assert error_detail(response)["o:errorCode"] == "INVALID_REQUEST"


def test_duplicate_external_id_on_create_is_refused(ns, basics):
    external_id = unique("DUP")
    ns.create("customer", customer_body(basics, externalId=external_id))
    response = ns.session.post(ns.record("customer"), json=customer_body(basics, externalId=external_id))
    assert response.status_code == 400
    detail = error_detail(response)
    assert detail["o:errorCode"] == "DUP_RCRD"
    assert "already exists" in detail["detail"]


def test_sales_order_for_unknown_customer_is_an_invalid_reference(ns, basics):
    body = {"entity": {"id": "99999999"}, "item": {"items": [{"item": {"id": basics.item}, "quantity": 1}]}}
    response = ns.session.post(ns.record("salesOrder"), json=body)
    assert response.status_code == 400
    body = response.json()
    assert (body["type"], body["title"]) == (RFC_400, "Bad Request")
    detail = body["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_KEY_OR_REF"
    assert detail["o:errorPath"] == "entity"
    assert "99999999" in detail["detail"]


def test_sales_order_with_unknown_item_points_at_the_line(ns, basics):
    body = {
        "entity": {"id": basics.customer},
        "item": {"items": [{"item": {"id": basics.item}, "quantity": 1}, {"item": {"id": "88888888"}, "quantity": 1}]},
    }
    detail = error_detail(ns.session.post(ns.record("salesOrder"), json=body))
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("INVALID_KEY_OR_REF", "item.items[1].item")


def test_customer_parent_must_exist(ns, basics):
    detail = error_detail(ns.session.post(ns.record("customer"), json=customer_body(basics, parent={"id": "7777777"})))
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("INVALID_KEY_OR_REF", "parent")
    parent = ns.create("customer", customer_body(basics))
    child = ns.create("customer", customer_body(basics, parent={"id": parent}))
    assert ns.get("customer", child)["parent"]["id"] == parent


def test_missing_record_is_404_nonexistent_id(ns):
    response = ns.session.get(ns.record("customer/987654321"))
    assert response.status_code == 404
    assert error_detail(response)["o:errorCode"] == "NONEXISTENT_ID"


def test_list_returns_ids_only_and_pages_by_offset(ns, basics):
    tag = unique("List")
    ids = [ns.create("customer", customer_body(basics, companyName=f"{tag} {n}")) for n in range(5)]
    query = {"q": f"companyName START_WITH {tag}", "limit": 2}
    pages = [ns.session.get(ns.record("customer"), params=query | {"offset": offset}).json() for offset in (0, 2, 4)]
    assert [page["hasMore"] for page in pages] == [True, True, False]
    assert {page["totalResults"] for page in pages} == {5}
    assert [item["id"] for page in pages for item in page["items"]] == ids
    assert set(pages[0]["items"][0]) == {"links", "id"}
    assert any(link["rel"] == "next" for link in pages[0]["links"])


def test_list_offset_must_be_a_multiple_of_limit(ns):
    response = ns.session.get(ns.record("customer"), params={"limit": 3, "offset": 4})
    assert response.status_code == 400
    assert error_detail(response)["o:errorCode"] == "INVALID_PARAMETER"
    assert ns.session.get(ns.record("customer"), params={"limit": 1001}).status_code == 400


def test_list_date_filter_uses_the_account_date_format(ns, ns_sandbox, basics):
    ns_sandbox.clock.set_offset(0)
    tag = unique("Dated")
    internal_id = ns.create("customer", customer_body(basics, companyName=tag))
    today = ns_sandbox.clock.now().astimezone(ZoneInfo(ns.endpoints["time_zone"])).date()
    shown = f"{today.month}/{today.day}/{today.year}"
    query = f'companyName IS "{tag}" AND lastModifiedDate ON_OR_AFTER "{shown}"'
    listing = ns.session.get(ns.record("customer"), params={"q": query}).json()
    assert [item["id"] for item in listing["items"]] == [internal_id]
    later = ns.session.get(
        ns.record("customer"), params={"q": f'companyName IS "{tag}" AND lastModifiedDate AFTER "{shown}"'}
    )
    assert later.json()["totalResults"] == 0
    iso = ns.session.get(ns.record("customer"), params={"q": f'lastModifiedDate ON_OR_AFTER "{today.isoformat()}"'})
    assert iso.status_code == 400
    assert "Unparseable date" in error_detail(iso)["detail"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("creditLimit GREATER 1000", ["big"]),
        ("creditLimit BETWEEN [100, 600]", ["small"]),
        ("email EMPTY", ["small"]),
        ("email CONTAIN EXAMPLE.org", ["big"]),
        ("isInactive IS true", ["idle"]),
        ("(creditLimit LESS 1000 OR isInactive IS true) AND email EMPTY_NOT", ["idle"]),
        ("companyName END_WITH_NOT big", ["small", "idle"]),
    ],
)
def test_list_filters_combine_operators(ns, basics, condition, expected):
    tag = unique("F")
    ids = {
        "big": ns.create(
            "customer", customer_body(basics, companyName=f"{tag} big", creditLimit=5000, email="ap@example.org")
        ),
        "small": ns.create("customer", customer_body(basics, companyName=f"{tag} small", creditLimit=500)),
        "idle": ns.create(
            "customer",
            customer_body(basics, companyName=f"{tag} idle", creditLimit=50, email="old@example.com", isInactive=True),
        ),
    }
    query = f"companyName START_WITH {tag} AND {condition}"
    listing = ns.session.get(ns.record("customer"), params={"q": query})
    assert listing.status_code == 200, listing.text
    assert [item["id"] for item in listing.json()["items"]] == [ids[name] for name in expected]


def test_unknown_fields_are_ignored_with_a_warning_by_default(ns, basics):
    name = unique("Warned ")
    body = customer_body(basics, companyName=name, notAField="x", shippingCarrier={"id": "ups"})
    response = ns.session.post(ns.record("customer"), json=body)
    assert response.status_code == 204
    assert "notAField" in response.headers["X-NetSuite-Warning"]
    record = ns.get("customer", response.headers["Location"].rsplit("/", 1)[1])
    assert "notAField" not in record
    assert (record["companyName"], record["shippingCarrier"]) == (name, {"id": "ups"})  # known fields are kept


def test_ignore_mode_drops_unknown_fields_silently(ns, basics):
    response = ns.session.post(
        ns.record("customer"),
        json=customer_body(basics, notAField="x", custentity_sf_account_id="001IGNORED"),
        headers={"X-NetSuite-PropertyNameValidation": "Ignore"},
    )
    assert response.status_code == 204
    assert "X-NetSuite-Warning" not in response.headers
    record = ns.get("customer", response.headers["Location"].rsplit("/", 1)[1])
    assert "notAField" not in record and record["custentity_sf_account_id"] == "001IGNORED"


@pytest.mark.parametrize("method", ["post", "patch", "put"])
def test_error_mode_refuses_unknown_fields_and_writes_nothing(ns, basics, method):
    name = unique("Refused ")
    url = {
        "post": ns.record("customer"),
        "patch": ns.record(f"customer/{basics.customer}"),
        "put": ns.record(f"customer/eid:{unique('EID')}"),
    }[method]
    body = customer_body(basics, companyName=name, custentity_sf_account_id="001OK", vatRegNum="DE123")
    response = getattr(ns.session, method)(url, json=body, headers={"X-NetSuite-PropertyNameValidation": "error"})
    assert response.status_code == 400
    detail = error_detail(response)
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("INVALID_CONTENT", "vatRegNum")
    assert "vatRegNum" in detail["detail"]
    found = ns.suiteql("SELECT id FROM customer WHERE companyname = ?", params=[name]).json()
    assert found["totalResults"] == 0
    assert ns.get("customer", basics.customer)["companyName"] != name


def test_error_mode_accepts_declared_known_and_custom_fields(ns, basics):
    body = customer_body(basics, addressBook={"items": []}, custentity_duns_number="123456789", externalId=unique("K"))
    response = ns.session.post(ns.record("customer"), json=body, headers={"X-NetSuite-PropertyNameValidation": "Error"})
    assert response.status_code == 204, response.text


def test_unknown_property_name_validation_mode_is_refused(ns, basics):
    response = ns.session.post(
        ns.record("customer"), json=customer_body(basics), headers={"X-NetSuite-PropertyNameValidation": "strict"}
    )
    assert response.status_code == 400
    detail = error_detail(response)
    assert (detail["o:errorCode"], detail["o:errorHeader"]) == ("INVALID_REQUEST", "X-NetSuite-PropertyNameValidation")


def test_a_method_the_resource_does_not_allow_is_405_in_netsuite_error_shape(ns):
    response = ns.session.delete(ns.url("query/v1/suiteql"))
    assert response.status_code == 405
    body = response.json()
    assert (body["status"], body["title"]) == (405, "Method Not Allowed")
    assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_REQUEST"
    assert "POST" in response.headers["Allow"]
