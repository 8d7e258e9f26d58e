"""The org's triggers: sales users' changes publish platform events; the integration's writebacks do not."""

from __future__ import annotations

from simple_salesforce import format_soql

from sfns_pipeline_tests.sandbox.salesforce.conftest import events_since


def _for(events: list[dict], field: str, value: str) -> list[dict]:
    return [e for e in events if e.get(field) == value]


def test_sales_user_account_changes_publish_accounts_events(sales, bus, endpoints, tag):
    after = bus.last_replay_id
    account = sales.Account.create({"Name": f"Trigger {tag}", "Payment_Terms__c": "Net 30"})["id"]
    sales.Account.update(account, {"Phone": "555-0101"})
    events = _for(events_since(bus, "AccountsEvent__e", after), "Account_Id__c", account)
    assert [e["Change_Type__c"] for e in events] == ["Create", "Update"]
    assert {e["CreatedById"] for e in events} == {endpoints["salesforce"]["sales_user_id"]}


def test_integration_writeback_of_netsuite_fields_publishes_nothing(sales, sf, bus, tag):
    account = sales.Account.create({"Name": f"Loop {tag}"})["id"]
    after = bus.last_replay_id
    sf.Account.update(
        account,
        {
            "NetSuite_Customer_Id__c": f"NS-{tag}",
            "NetSuite_Sync_Status__c": "Synced",
            "NetSuite_Last_Synced__c": "2026-12-03T10:00:00Z",
        },
    )
    assert _for(events_since(bus, "AccountsEvent__e", after), "Account_Id__c", account) == []


def test_integration_change_to_a_business_field_still_publishes(sales, sf, bus, tag):
    account = sales.Account.create({"Name": f"Biz {tag}"})["id"]
    after = bus.last_replay_id
    sf.Account.update(account, {"Credit_Limit__c": 1000, "NetSuite_Sync_Status__c": "Synced"})
    assert len(_for(events_since(bus, "AccountsEvent__e", after), "Account_Id__c", account)) == 1


def test_order_activation_publishes_create_ns_order_once(sales, sf, bus, tag):
    standard = sales.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"][0]["Id"]
    account = sales.Account.create({"Name": f"Ord {tag}"})["id"]
    order = sales.Order.create(
        {"AccountId": account, "EffectiveDate": "2026-12-01", "Status": "Draft", "Pricebook2Id": standard}
    )["id"]
    after = bus.last_replay_id
    sales.Order.update(order, {"PoNumber": f"PO-{tag}"})  # still Draft: no event
    sales.Order.update(order, {"Status": "Activated"})
    sales.Order.update(order, {"Description": "rush"})  # already Activated: no second event
    sf.Order.update(order, {"NetSuite_Order_Id__c": f"SO-{tag}", "NetSuite_Order_Number__c": "SO100"})
    assert [e["Order_Id__c"] for e in _for(events_since(bus, "Create_NS_Order__e", after), "Order_Id__c", order)] == [
        order
    ]
    assert sf.Order.get(order)["ActivatedDate"] is not None


def test_payment_insert_publishes_payment_event_with_netsuite_ids(sales, bus, tag):
    account = sales.Account.create({"Name": f"Pay {tag}", "NetSuite_Customer_Id__c": f"CUST-{tag}"})["id"]
    after = bus.last_replay_id
    payment = sales.Payment__c.create(
        {
            "Account__c": account,
            "Amount__c": 125.5,
            "NetSuite_Invoice_Id__c": f"INV-{tag}",
            "Payment_Date__c": "2026-12-02",
            "Currency__c": "EUR",
        }
    )["id"]
    (event,) = _for(events_since(bus, "Payment_and_Refund_Event__e", after), "Payment_Id__c", payment)
    assert event["Type__c"] == "Payment" and event["Amount__c"] == 125.5
    assert event["NetSuite_Account_Number__c"] == f"CUST-{tag}"
    assert event["NetSuite_Invoice_Id__c"] == f"INV-{tag}" and event["Currency__c"] == "EUR"
    assert event["Payment_Date__c"] is not None


def test_rolled_back_batch_publishes_nothing(sales, bus, tag):
    after = bus.last_replay_id
    sales.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": f"RB {tag}"},
                {"attributes": {"type": "Account"}, "Payment_Terms__c": "Net 30"},
            ],
        },
    )
    assert sales.query(format_soql("SELECT Id FROM Account WHERE Name = {}", f"RB {tag}"))["totalSize"] == 0
    assert events_since(bus, "AccountsEvent__e", after) == []
