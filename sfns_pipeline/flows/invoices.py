"""Flow 3a, invoice sync: NetSuite invoices → Salesforce ``NetSuite_Invoice__c``, windows at :00/:15/:30/:45.

Everything but the names lives in :mod:`sfns_pipeline.flows.transaction_sync`, shared with refunds.
"""

from __future__ import annotations

from sfns_pipeline.flows.dead_letters import register_replay
from sfns_pipeline.flows.transaction_sync import TransactionSync, build_transaction_sync
from sfns_pipeline.mapping.invoices import INVOICE_TYPES, invoice_to_salesforce
from sfns_pipeline.outcomes import Flow, System
from sfns_pipeline.settings import get_settings

INVOICE_SYNC = Flow("invoice_sync", source=System.NETSUITE)

_settings = get_settings()
invoice_sync = TransactionSync(
    flow=INVOICE_SYNC,
    noun="invoices",
    record_type="Invoice",
    types=INVOICE_TYPES,
    sobject=_settings.fields.invoice_object,
    to_salesforce=invoice_to_salesforce,
    settings=_settings.invoice_sync,
    fields=_settings.fields,
    time_zone=_settings.netsuite.time_zone,
)
invoice_defs = build_transaction_sync(invoice_sync)
invoice_windows = invoice_defs.partitions
register_replay(INVOICE_SYNC, resource_keys=("netsuite", "salesforce"))(invoice_defs.replay)
