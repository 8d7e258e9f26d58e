"""Business rules: payments within the open balance, invoices and fulfilments from orders, refunds, credit memos."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from sfns_pipeline.mapping.invoices import SUITEQL_DATETIME_FORMAT
from sfns_pipeline.netsuite.transactions import modified_query
from sfns_pipeline.sandbox.netsuite.backend import NetSuiteError
from sfns_pipeline.settings import RefundSyncSettings
from sfns_pipeline_tests.sandbox.netsuite.conftest import netsuite_component, unique


@pytest.fixture
def backend(ns_sandbox):
    return netsuite_component(ns_sandbox).backend


@pytest.fixture
def invoice(ns, backend, basics):
    """A billed order of 3 x 100.00: an open invoice of 300.00."""
    order = ns.create(
        "salesOrder",
        {
            "entity": {"id": basics.customer},
            "item": {"items": [{"item": {"id": basics.item}, "quantity": 3, "rate": 100}]},
        },
    )
    backend.fulfill_sales_order(order)
    return backend.bill_sales_order(order)


def pay(ns, basics, invoice, amount, payment=None, **fields):
    body = {
        "customer": {"id": basics.customer},
        "payment": payment if payment is not None else amount,
        "apply": {"items": [{"doc": {"id": invoice}, "apply": True, "amount": amount}]},
    } | fields
    return ns.session.post(ns.record("customerPayment"), json=body)


def test_payment_larger_than_the_open_balance_is_refused(ns, basics, invoice):
    response = pay(ns, basics, invoice, 300.01)
    assert response.status_code == 400
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_FLD_VALUE"
    assert detail["o:errorPath"] == "apply.items[0].amount"
    assert ns.get("invoice", invoice)["amountRemaining"] == 300.0


def test_payments_reduce_the_amount_remaining_until_paid_in_full(ns, basics, invoice):
    first = pay(ns, basics, invoice, 120, externalId=unique("PAY"))
    assert first.status_code == 204
    after_first = ns.get("invoice", invoice)
    assert (after_first["amountRemaining"], after_first["status"]["id"]) == (180.0, "A")
    assert pay(ns, basics, invoice, 180.01).status_code == 400  # the balance is now 180.00
    assert pay(ns, basics, invoice, 180).status_code == 204
    paid = ns.get("invoice", invoice)
    assert (paid["amountRemaining"], paid["status"]) == (0.0, {"id": "B", "refName": "Paid In Full"})
    payment_id = first.headers["Location"].rsplit("/", 1)[1]
    payment = ns.get("customerPayment", payment_id, expandSubResources="true")
    assert (payment["payment"], payment["applied"], payment["unapplied"]) == (120.0, 120.0, 0.0)
    assert payment["apply"]["items"][0]["doc"]["id"] == invoice


def test_applied_amounts_cannot_exceed_the_payment(ns, basics, invoice):
    response = pay(ns, basics, invoice, 200, payment=150)
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_FLD_VALUE"


def test_payment_must_apply_to_an_invoice_of_its_customer(ns, basics, invoice):
    other = ns.create("customer", {"companyName": unique("Other "), "subsidiary": {"id": basics.subsidiary}})
    response = pay(ns, basics, invoice, 10, customer={"id": other})
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_KEY_OR_REF"


def test_duplicate_payment_external_id_is_refused(ns, basics, invoice):
    external_id = unique("PAY")
    assert pay(ns, basics, invoice, 10, externalId=external_id).status_code == 204
    duplicate = pay(ns, basics, invoice, 10, externalId=external_id)
    assert duplicate.json()["o:errorDetails"][0]["o:errorCode"] == "DUP_RCRD"
    assert ns.get("invoice", invoice)["amountRemaining"] == 290.0  # the retry took nothing


def test_fulfil_then_bill_moves_the_order_along(ns, backend, basics):
    order = ns.create(
        "salesOrder",
        {"entity": {"id": basics.customer}, "item": {"items": [{"item": {"id": basics.item}, "quantity": 2}]}},
    )
    with pytest.raises(NetSuiteError, match="no fulfilled lines"):
        backend.bill_sales_order(order)  # invoices come from fulfilled orders
    fulfilment = backend.fulfill_sales_order(order, tracking_numbers=["1Z001", "1Z002"])
    assert ns.get("salesOrder", order)["status"]["refName"] == "Pending Billing"
    shipment = ns.get("itemFulfillment", fulfilment)
    assert (shipment["createdFrom"]["id"], shipment["trackingNumbers"]) == (order, "1Z001,1Z002")
    invoice = ns.get("invoice", backend.bill_sales_order(order), expandSubResources="true")
    assert invoice["createdFrom"]["id"] == order
    assert invoice["total"] == 25.0  # the item's base price, 12.50, as no rate was given
    assert invoice["dueDate"] > invoice["tranDate"]  # net-30 terms from the customer
    assert ns.get("salesOrder", order)["status"]["refName"] == "Billed"


def test_credit_memo_and_refund_reference_the_customer(ns, backend, basics, invoice):
    memo = backend.credit_invoice(invoice, items=[{"item": {"id": basics.item}, "quantity": 3, "rate": 50}])
    credit = ns.get("creditMemo", memo)
    assert (credit["entity"]["id"], credit["total"], credit["status"]["refName"]) == (basics.customer, 150.0, "Open")
    refund = backend.refund_credit_memo(memo)
    assert ns.get("customerRefund", refund)["total"] == 150.0
    assert ns.get("creditMemo", memo)["status"]["refName"] == "Fully Applied"
    with pytest.raises(NetSuiteError) as refused:
        backend.refund_credit_memo(memo, amount=1)
    assert refused.value.code == "INVALID_FLD_VALUE"


def test_refund_without_a_customer_is_refused(ns):
    response = ns.session.post(ns.record("customerRefund"), json={"apply": {"items": []}})
    detail = response.json()["o:errorDetails"][0]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("USER_ERROR", "customer")


def test_upserting_a_shipped_order_again_keeps_its_progress(ns, backend, basics):
    external_id = unique("SO")
    body = {"entity": {"id": basics.customer}, "item": {"items": [{"item": {"id": basics.item}, "quantity": 5}]}}
    url = ns.record(f"salesOrder/eid:{external_id}")
    assert ns.session.put(url, json=body).status_code == 204
    order = backend.resolve("salesOrder", f"eid:{external_id}")
    backend.fulfill_sales_order(order)
    assert ns.session.put(url, json=body | {"memo": "replayed event"}).status_code == 204
    assert ns.get("salesOrder", order)["status"]["refName"] == "Pending Billing"
    dropped = ns.session.put(url, json=body | {"item": {"items": []}})
    assert dropped.status_code == 400
    assert ns.get("salesOrder", order, expandSubResources="true")["item"]["items"][0]["quantityFulfilled"] == 5


def test_cash_refund_pays_back_item_lines_to_a_customer(ns, basics):
    body = {
        "entity": {"id": basics.customer},
        "memo": "returned goods",
        "item": {"items": [{"item": {"id": basics.item}, "quantity": 2, "rate": 15}]},
    }
    refund = ns.create("cashRefund", body)
    record = ns.get("cashRefund", refund, expandSubResources="true")
    assert (record["entity"]["id"], record["total"], record["memo"]) == (basics.customer, 30.0, "returned goods")
    assert "status" not in record  # the REST cashRefund record has no status field; SuiteQL's transaction has one
    assert record["subsidiary"]["id"] == basics.subsidiary  # from the customer, like other sales transactions
    assert record["tranId"].startswith("CRFND")
    assert [line["amount"] for line in record["item"]["items"]] == [30.0]
    query = (
        "SELECT type, status, BUILTIN.DF(status) AS statusname, BUILTIN.DF(type) AS typename, entity, foreigntotal "
        "FROM transaction WHERE id = ?"
    )
    (row,) = ns.suiteql(query, params=[refund]).json()["items"]
    assert row == {
        "links": [],
        "type": "CashRfnd",
        "status": "CashRfnd:A",
        "statusname": "Cash Refund : Open",
        "typename": "Cash Refund",
        "entity": basics.customer,
        "foreigntotal": "30",
    }


def test_cash_refund_needs_a_customer_and_lines(ns, basics):
    no_customer = ns.session.post(
        ns.record("cashRefund"), json={"item": {"items": [{"item": {"id": basics.item}, "quantity": 1}]}}
    )
    detail = no_customer.json()["o:errorDetails"][0]
    assert (no_customer.status_code, detail["o:errorCode"], detail["o:errorPath"]) == (400, "USER_ERROR", "entity")
    no_lines = ns.session.post(ns.record("cashRefund"), json={"entity": {"id": basics.customer}})
    assert no_lines.json()["o:errorDetails"][0]["o:errorPath"] == "item"


def test_the_refund_query_of_the_pipeline_finds_cash_refunds(ns, ns_sandbox, basics):
    """The refund flow's default types (CustRfnd, CustCred, CashRfnd) all come back from its own SuiteQL."""
    local = ns_sandbox.clock.now().astimezone(ZoneInfo(ns.endpoints["time_zone"]))
    since, until = ((local + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S") for h in (-1, 1))
    body = {"entity": {"id": basics.customer}, "item": {"items": [{"item": {"id": basics.item}, "quantity": 1}]}}
    refund = ns.create("cashRefund", body)
    refund_types = RefundSyncSettings.model_fields["types"].get_default(call_default_factory=True)
    params = [*refund_types, since, SUITEQL_DATETIME_FORMAT, until, SUITEQL_DATETIME_FORMAT, str(int(refund) - 1)]
    response = ns.suiteql(modified_query(len(refund_types)), params=params)
    assert response.status_code == 200, response.text
    (row,) = [item for item in response.json()["items"] if item["id"] == refund]
    assert (row["id"], row["type"], row["statusname"], row["foreigntotal"]) == (
        refund,
        "CashRfnd",
        "Cash Refund : Open",
        "12.5",
    )
    assert (row["linecount"], row["lineamount"]) == ("1", "12.5")  # the header line is not an item line
