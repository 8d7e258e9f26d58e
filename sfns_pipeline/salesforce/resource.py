"""Salesforce as a Dagster resource: configuration in, a logged-in :class:`SalesforceClient` out."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from sfns_pipeline.http import make_session
from sfns_pipeline.salesforce.auth import OAuthSettings
from sfns_pipeline.salesforce.client import SalesforceClient


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
            )
        return self._client
