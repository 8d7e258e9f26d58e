"""Dagster resources built from settings: the one place that turns ``SFNS_*`` configuration into clients.

Secrets are passed as ``dg.EnvVar`` so Dagster resolves them at run launch and shows only the
variable's name in the UI and run config.
"""

from __future__ import annotations

import dagster as dg

from sfns_pipeline.netsuite.resource import NetSuiteRestResource
from sfns_pipeline.salesforce.resource import SalesforceResource
from sfns_pipeline.settings import Settings


def _path(value) -> str | None:
    return str(value) if value else None


def salesforce_resource(settings: Settings) -> SalesforceResource:
    """The integration user's Salesforce connection."""
    sf = settings.salesforce
    return SalesforceResource(
        token_url=sf.token_url or "",
        auth_flow=sf.auth_flow,
        client_id=sf.client_id or "",
        client_secret=dg.EnvVar("SFNS_SALESFORCE_CLIENT_SECRET") if sf.auth_flow == "client_credentials" else None,
        username=sf.username,
        private_key_file=_path(sf.private_key_file),
        jwt_audience=sf.jwt_audience,
        api_version=sf.api_version,
        ca_bundle=_path(settings.ca_bundle),
        timeout_seconds=sf.timeout_seconds,
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
        consumer_secret=dg.EnvVar("SFNS_NETSUITE_CONSUMER_SECRET") if tba else None,
        token_id=ns.token_id,
        token_secret=dg.EnvVar("SFNS_NETSUITE_TOKEN_SECRET") if tba else None,
        client_id=ns.client_id,
        certificate_id=ns.certificate_id,
        private_key_file=_path(ns.private_key_file),
        ca_bundle=_path(settings.ca_bundle),
        timeout_seconds=ns.timeout_seconds,
    )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource the flows use, keyed as the flows name them."""
    return {"salesforce": salesforce_resource(settings), "netsuite": netsuite_resource(settings)}
