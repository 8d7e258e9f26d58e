"""Flow 3b, refund sync: NetSuite refunds → Salesforce ``NetSuite_Refund__c``, windows at :07/:22/:37/:52.

Which NetSuite types count as refunds is ``SFNS_REFUND_SYNC_TYPES`` (default: customer refunds, credit
memos and cash refunds — ``CustRfnd,CustCred,CashRfnd``). The windows are staggered by 7 minutes so the
two flows do not ask NetSuite's shared concurrency limit for slots at the same moment.
Everything but the names lives in :mod:`sfns_pipeline.flows.transaction_sync`, shared with invoices.
"""

from __future__ import annotations

from sfns_pipeline.flows.dead_letters import register_replay
from sfns_pipeline.flows.transaction_sync import TransactionSync, build_transaction_sync
from sfns_pipeline.mapping.invoices import refund_to_salesforce
from sfns_pipeline.outcomes import Flow, System
from sfns_pipeline.settings import get_settings

REFUND_SYNC = Flow("refund_sync", source=System.NETSUITE)
REFUND_STAGGER_MINUTES = 7

_settings = get_settings()
refund_sync = TransactionSync(
    flow=REFUND_SYNC,
    noun="refunds",
    record_type="Refund",
    types=tuple(_settings.refund_sync.types),
    sobject=_settings.fields.refund_object,
    to_salesforce=refund_to_salesforce,
    settings=_settings.refund_sync,
    fields=_settings.fields,
    time_zone=_settings.netsuite.time_zone,
    minute_offset=REFUND_STAGGER_MINUTES,
)
refund_defs = build_transaction_sync(refund_sync)
refund_windows = refund_defs.partitions
register_replay(REFUND_SYNC, resource_keys=("netsuite", "salesforce"))(refund_defs.replay)
