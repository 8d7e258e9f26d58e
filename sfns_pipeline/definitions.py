"""The one entry point of the code location: every job, asset, sensor and resource is reachable from here."""

import dagster as dg

from sfns_pipeline.flows.customers import customer_sync_job, customer_sync_sensor
from sfns_pipeline.flows.dead_letters import build_replay_job, email_on_run_failure
from sfns_pipeline.flows.invoices import invoice_defs
from sfns_pipeline.flows.refunds import refund_defs
from sfns_pipeline.resources import build_resources
from sfns_pipeline.sandbox_profile import apply_sandbox_environment
from sfns_pipeline.settings import Settings, get_settings

TRANSACTION_FLOWS = (invoice_defs, refund_defs)  # NetSuite -> Salesforce, 15-minute windows


def build_defs(settings: Settings) -> dg.Definitions:
    """The code location for ``settings``; ``sfns dead-letters retry`` builds it too, to run the replay job."""
    return dg.Definitions(
        # the replay job comes after the flows: it serves the retry handlers they register on import
        jobs=[customer_sync_job, *(flow.job for flow in TRANSACTION_FLOWS), build_replay_job()],
        assets=[asset for flow in TRANSACTION_FLOWS for asset in (flow.source, flow.asset)],
        asset_checks=[flow.check for flow in TRANSACTION_FLOWS],
        sensors=[email_on_run_failure, customer_sync_sensor(settings), *(flow.sensor for flow in TRANSACTION_FLOWS)],
        resources=build_resources(settings),
    )


apply_sandbox_environment()  # sandbox target: unset SFNS_* variables come from a running sandbox's endpoints.json
settings = get_settings()  # invalid SFNS_* variables fail here, at code load, with a readable message

defs = build_defs(settings)
