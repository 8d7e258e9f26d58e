"""Warehouse and finance activity in the NetSuite sandbox: ship orders, bill them, take payments, credit and refund.

Used by the seed (history) and by ``sfns sandbox simulate`` (:meth:`NetSuiteActivity.step`), through the
REST API like any client: fulfilments and invoices are NetSuite's ``!transform`` of a sales order,
credit memos a transform of an invoice, refunds a transform of a credit memo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sfns_pipeline.sandbox.netsuite.client import SandboxNetSuite


@dataclass
class ActivityReport:
    """What one simulation step did (internal ids)."""

    fulfilled: list[str] = field(default_factory=list)
    billed: list[str] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)
    credited: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A log line such as ``2 fulfilled, 1 billed, 0 paid, ...``."""
        return ", ".join(f"{len(ids)} {name}" for name, ids in vars(self).items())


class NetSuiteActivity:
    """Acts on the sandbox account as its warehouse and finance staff would."""

    def __init__(self, client: SandboxNetSuite | dict[str, Any], *, rng: random.Random | None = None) -> None:
        """``client``: a :class:`SandboxNetSuite`, or the content of ``endpoints.json``."""
        self.client = client if isinstance(client, SandboxNetSuite) else SandboxNetSuite(client)
        self.rng = rng or random.Random()

    # -- single actions -----------------------------------------------------------------------------
    def fulfil(self, sales_order_id: str, tracking_numbers: list[str] | None = None) -> str:
        """Ship everything still open on an order; returns the item fulfilment's id."""
        numbers = tracking_numbers or [f"1Z{self.rng.randrange(10**15):015d}"]
        return self.client.transform(
            "salesOrder", sales_order_id, "itemFulfillment", {"trackingNumbers": ",".join(numbers)}
        )

    def bill(self, sales_order_id: str) -> str:
        """Invoice what was shipped and not yet billed; returns the invoice's id."""
        return self.client.transform("salesOrder", sales_order_id, "invoice")

    def pay(self, invoice_id: str, amount: float | None = None, *, external_id: str | None = None) -> str:
        """Record a customer payment against one invoice (default: its amount remaining); returns the payment's id."""
        invoice = self.client.get("invoice", invoice_id)
        amount = round(amount if amount is not None else invoice["amountRemaining"], 2)
        body = {
            "customer": {"id": invoice["entity"]["id"]},
            "payment": amount,
            "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]},
        }
        return self.client.upsert("customerPayment", external_id or f"SIM-PAY-{self.rng.randrange(10**12)}", body)

    def credit(self, invoice_id: str, *, share: float = 1.0) -> str:
        """A credit memo for ``share`` of an invoice's lines (a return or an allowance); returns its id."""
        invoice = self.client.get("invoice", invoice_id)
        items = [
            {"item": {"id": line["item"]["id"]}, "quantity": line["quantity"], "rate": round(line["rate"] * share, 2)}
            for line in invoice["item"]["items"]
        ]
        return self.client.transform("invoice", invoice_id, "creditMemo", {"item": {"items": items}})

    def refund(self, credit_memo_id: str) -> str:
        """Pay a credit memo's amount remaining back to the customer; returns the customer refund's id."""
        return self.client.transform("creditMemo", credit_memo_id, "customerRefund")

    # -- state ---------------------------------------------------------------------------------------
    def order_status(self, sales_order_id: str) -> str:
        """The order's status letter (``B`` pending fulfilment, ``F`` pending billing, ``G`` billed, ...)."""
        return self.client.get("salesOrder", sales_order_id)["status"]["id"]

    def today(self) -> date:
        """Today in the account's time zone (per the sandbox's clock, via SuiteQL)."""
        (row,) = self.client.suiteql("SELECT TO_CHAR(SYSDATE, 'YYYY-MM-DD') AS today FROM dual")
        return date.fromisoformat(row["today"])

    def _ids(self, query: str) -> list[str]:
        return [row["id"] for row in self.client.suiteql(query)]

    # -- simulation ---------------------------------------------------------------------------------
    def step(self, *, batch: int = 3, pay_share: float = 0.2, credit_share: float = 0.2) -> ActivityReport:
        """One round: ship up to ``batch`` open orders, bill up to ``batch`` shipped ones, pay some open invoices
        (``pay_share`` of them) and credit and refund some paid ones (returns after payment, ``credit_share``).

        Payments are mostly the pipeline's job (Salesforce -> NetSuite), so ``pay_share`` stays small."""
        report = ActivityReport()
        for order in self._sample("SalesOrd:B", batch):
            report.fulfilled.append(self.fulfil(order))
        for order in self._sample("SalesOrd:F", batch):
            report.billed.append(self.bill(order))
        for invoice in self._sample("CustInvc:A", batch):
            if self.rng.random() < pay_share:
                report.paid.append(self.pay(invoice))
        for invoice in self._sample("CustInvc:B", batch):
            if self.rng.random() < credit_share:
                memo = self.credit(invoice, share=round(self.rng.uniform(0.1, 0.5), 2))
                report.credited.append(memo)
                report.refunded.append(self.refund(memo))
        return report

    def _sample(self, status: str, size: int) -> list[str]:
        ids = self._ids(f"SELECT id FROM transaction WHERE status = '{status}' ORDER BY id")  # noqa: S608 - constant
        return self.rng.sample(ids, min(size, len(ids)))
