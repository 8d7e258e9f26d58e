"""Salesforce as Dagster resources: configuration in, a logged-in :class:`SalesforceClient` (REST) or
:class:`PubSubClient` (Pub/Sub API) out."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from sfns_pipeline.http import make_session
from sfns_pipeline.salesforce.auth import OAuthSettings, SalesforceAuthError
from sfns_pipeline.salesforce.client import SalesforceClient
from sfns_pipeline.salesforce.pubsub import FetchResult, Preset, PubSubAuthError, PubSubClient


class SalesforceResource(dg.ConfigurableResource):
    """The integration user's connection to the org. ``client_secret`` comes from ``dg.EnvVar``."""

    token_url: str
    auth_flow: str = "client_credentials"
    client_id: str
    client_secret: str | None = None
    username: str | None = None
    private_key_file: str | None = None
    jwt_audience: str = "https://login.salesforce.com"
    api_version: str = "62.0"
    ca_bundle: str | None = None
    timeout_seconds: float = 30.0
    expected_org_id: str | None = None

    _client: SalesforceClient | None = PrivateAttr(default=None)

    def get_client(self) -> SalesforceClient:
        """The client for this run (one token and one connection pool per resource instance)."""
        if self._client is None:
            oauth = OAuthSettings(
                token_url=self.token_url,
                flow=self.auth_flow,
                client_id=self.client_id,
                client_secret=self.client_secret,
                username=self.username,
                private_key_file=Path(self.private_key_file) if self.private_key_file else None,
                audience=self.jwt_audience,
            )
            self._client = SalesforceClient(
                oauth=oauth,
                session=make_session(self.ca_bundle),
                api_version=self.api_version,
                timeout=self.timeout_seconds,
                expected_org_id=self.expected_org_id,
            )
        return self._client


# The Platform Event sensors use PubSubResource, and a sensor tick is cancelled after 60 s (dagster-facts §1).
SENSOR_CALL_TIMEOUT_SECONDS = 10.0


class PubSubResource(dg.ConfigurableResource):
    """The Salesforce Pub/Sub API (gRPC over TLS) for the integration user.

    The access token and instance URL come from the nested :class:`SalesforceResource`, so both APIs
    share one OAuth login; a token the Pub/Sub API refuses is refreshed once and the call repeated.
    ``tenant_id`` (the org id) defaults to the one in the token response. ``timeout_seconds`` bounds
    GetTopic/GetSchema/Publish (a Subscribe is bounded by the fetch's wait); it is short because
    sensors call it — give the nested resource a short timeout too, it bounds the token request.
    """

    salesforce: SalesforceResource
    target: str  # host:port, e.g. api.pubsub.salesforce.com:7443
    tenant_id: str | None = None
    ca_bundle: str | None = None  # PEM to trust for the server certificate; None: the system roots
    timeout_seconds: float = SENSOR_CALL_TIMEOUT_SECONDS

    _client: PubSubClient | None = PrivateAttr(default=None)

    def get_client(self) -> PubSubClient:
        """The client for this evaluation or run (one channel per resource instance)."""
        if self._client is None:
            salesforce = self.salesforce.get_client()
            token = salesforce.token
            tenant_id = self.tenant_id or token.org_id
            if not tenant_id:
                raise SalesforceAuthError("no org id for Pub/Sub: set SFNS_SALESFORCE_TENANT_ID")
            self._client = PubSubClient(
                self.target,
                access_token=lambda: salesforce.token.access_token,
                instance_url=token.instance_url,
                tenant_id=tenant_id,
                ca_file=self.ca_bundle,
                timeout_seconds=self.timeout_seconds,
            )
        return self._client

    def fetch(
        self, topic: str, *, replay_id: bytes | None, preset: Preset, max_events: int, wait_seconds: float
    ) -> FetchResult:
        """One bounded :meth:`PubSubClient.fetch`, re-authenticating once if the token was refused."""
        client = self.get_client()
        salesforce = self.salesforce.get_client()
        token = salesforce.token
        options = {"replay_id": replay_id, "preset": preset, "max_events": max_events, "wait_seconds": wait_seconds}
        try:
            return client.fetch(topic, **options)
        except PubSubAuthError:
            salesforce.refresh_token(token)
            return client.fetch(topic, **options)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the gRPC channel."""
        if self._client is not None:
            self._client.close()
            self._client = None
