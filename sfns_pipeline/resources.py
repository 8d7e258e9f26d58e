"""Dagster resources built from settings: the one place that turns ``SFNS_*`` configuration into clients.

Secrets are passed as ``dg.EnvVar`` so Dagster resolves them at run launch and shows only the
variable's name in the UI and run config.
"""

from __future__ import annotations

import dagster as dg

from sfns_pipeline.flows.customers import IN_MEMORY_IO, CustomerSyncResource
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.netsuite.resource import NetSuiteRestResource
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.salesforce.resource import SENSOR_CALL_TIMEOUT_SECONDS, PubSubResource, SalesforceResource
from sfns_pipeline.settings import Settings
from sfns_pipeline.sync_state import SyncStateResource


def _path(value) -> str | None:
    return str(value) if value else None


def _secret(variable: str, configured) -> dg.EnvVar | None:
    """The secret's variable, only when it is set: Dagster resolves every bound resource at run launch,
    so an EnvVar for an unset variable would fail jobs that never use that system."""
    return dg.EnvVar(variable) if configured else None


def salesforce_resource(settings: Settings, *, timeout_seconds: float | None = None) -> SalesforceResource:
    """The integration user's Salesforce connection (``timeout_seconds`` overrides the setting)."""
    sf = settings.salesforce
    return SalesforceResource(
        token_url=sf.token_url or "",
        auth_flow=sf.auth_flow,
        client_id=sf.client_id or "",
        client_secret=_secret(
            "SFNS_SALESFORCE_CLIENT_SECRET", sf.auth_flow == "client_credentials" and sf.client_secret
        ),
        username=sf.username,
        private_key_file=_path(sf.private_key_file),
        jwt_audience=sf.jwt_audience,
        api_version=sf.api_version,
        ca_bundle=_path(settings.ca_bundle),
        timeout_seconds=timeout_seconds or sf.timeout_seconds,
        expected_org_id=sf.tenant_id,
    )


def netsuite_resource(settings: Settings) -> NetSuiteRestResource:
    """The integration's NetSuite REST connection (TBA or OAuth 2.0)."""
    ns = settings.netsuite
    tba = ns.auth == "tba"
    return NetSuiteRestResource(
        account_id=ns.account_id or "",
        rest_url=ns.rest_url or "",
        auth=ns.auth,
        consumer_key=ns.consumer_key,
        consumer_secret=_secret("SFNS_NETSUITE_CONSUMER_SECRET", tba and ns.consumer_secret),
        token_id=ns.token_id,
        token_secret=_secret("SFNS_NETSUITE_TOKEN_SECRET", tba and ns.token_secret),
        client_id=ns.client_id,
        certificate_id=ns.certificate_id,
        private_key_file=_path(ns.private_key_file),
        ca_bundle=_path(settings.ca_bundle),
        timeout_seconds=ns.timeout_seconds,
    )


def pubsub_resource(settings: Settings) -> PubSubResource:
    """The Pub/Sub API for the Platform Event sensors, sharing the Salesforce login; its calls and its token
    requests get the short sensor timeout, so a tick ends well inside Dagster's 60 s."""
    return PubSubResource(
        salesforce=salesforce_resource(
            settings, timeout_seconds=min(SENSOR_CALL_TIMEOUT_SECONDS, settings.salesforce.timeout_seconds)
        ),
        target=settings.salesforce.pubsub_target or "",
        tenant_id=settings.salesforce.tenant_id,
        ca_bundle=_path(settings.ca_bundle),
    )


def sync_state_resource(settings: Settings) -> SyncStateResource:
    """Last-synced fingerprints, in the ledger's database (a URL from the environment may hold a password)."""
    return SyncStateResource(url=_secret("SFNS_LEDGER_URL", settings.ledger.url) or settings.ledger_url)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource | dg.IOManagerDefinition]:
    """Every resource the flows use, keyed as the flows name them."""
    salesforce = salesforce_resource(settings)
    return {
        IN_MEMORY_IO: dg.mem_io_manager,
        "salesforce": salesforce,
        "netsuite": netsuite_resource(settings),
        "pubsub": pubsub_resource(settings),
        "sync_state": sync_state_resource(settings),
        "customer_sync": CustomerSyncResource.from_settings(settings),
        "ledger": LedgerResource.from_settings(settings),
        "mailer": MailerResource.from_settings(settings),
    }
