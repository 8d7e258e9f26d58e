"""Sales and finance activity for the demo: sales users edit accounts and activate orders in Salesforce,
finance ships, bills, credits and refunds in NetSuite — so every flow has fresh work within a minute.

Everything goes over the sandboxes' public APIs as the users who would do it, so the Salesforce
triggers fire exactly as they would for a person.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simple_salesforce import Salesforce

from sfns_pipeline.sandbox.netsuite.activity import NetSuiteActivity
from sfns_pipeline.sandbox.salesforce.seed import sales_user_client


@dataclass
class SalesActivity:
    """What the sales team did in one round."""

    accounts_updated: list[str] = field(default_factory=list)
    orders_activated: list[str] = field(default_factory=list)


def sales_step(sf: Salesforce, rng: random.Random, *, batch: int = 3) -> SalesActivity:
    """Raise some credit limits (→ AccountsEvent__e) and activate some draft orders (→ Create_NS_Order__e)."""
    activity = SalesActivity()
    accounts = sf.query("SELECT Id, Credit_Limit__c FROM Account ORDER BY LastModifiedDate LIMIT 200")["records"]
    for account in rng.sample(accounts, min(batch, len(accounts))):
        limit = float(account.get("Credit_Limit__c") or 0) + 5000
        sf.Account.update(account["Id"], {"Credit_Limit__c": limit})
        activity.accounts_updated.append(account["Id"])
    drafts = sf.query("SELECT Id FROM Order WHERE Status = 'Draft' LIMIT 200")["records"]
    for order in rng.sample(drafts, min(batch, len(drafts))):
        sf.Order.update(order["Id"], {"Status": "Activated"})
        activity.orders_activated.append(order["Id"])
    return activity


class Simulator:
    """Rounds of sales (Salesforce) and finance (NetSuite) activity against running sandboxes."""

    def __init__(self, endpoints: dict, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.salesforce = sales_user_client(endpoints)
        self.netsuite = NetSuiteActivity(endpoints, rng=self.rng)

    def step(self, *, batch: int = 3) -> str:
        """One round; returns a one-line summary."""
        sales = sales_step(self.salesforce, self.rng, batch=batch)
        finance = self.netsuite.step(batch=batch)
        return (
            f"sales: {len(sales.accounts_updated)} accounts updated, {len(sales.orders_activated)} orders activated; "
            f"finance: {finance.summary()}"
        )
