"""NetSuite as a Dagster resource: configuration in, an authenticated :class:`NetSuiteRestClient` out."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from sfns_pipeline.http import make_session
from sfns_pipeline.netsuite.auth import OAuth2ClientCredentials, tba_auth
from sfns_pipeline.netsuite.rest import NetSuiteRestClient


class NetSuiteRestResource(dg.ConfigurableResource):
    """The integration's REST connection. Secrets (``consumer_secret``, ``token_secret``) come from ``dg.EnvVar``."""

    account_id: str
    rest_url: str
    auth: str = "tba"  # "tba" | "oauth2"
    consumer_key: str | None = None
    consumer_secret: str | None = None
    token_id: str | None = None
    token_secret: str | None = None
    client_id: str | None = None
    certificate_id: str | None = None
    private_key_file: str | None = None
    ca_bundle: str | None = None
    timeout_seconds: float = 60.0
    max_attempts: int = 6

    _client: NetSuiteRestClient | None = PrivateAttr(default=None)

    def get_client(self) -> NetSuiteRestClient:
        """The client for this run (one connection pool per resource instance)."""
        if self._client is None:
            session = make_session(self.ca_bundle)
            if self.auth == "oauth2":
                session.auth = OAuth2ClientCredentials(
                    token_url=f"{self.rest_url.rstrip('/')}/services/rest/auth/oauth2/v1/token",
                    client_id=self.client_id or "",
                    certificate_id=self.certificate_id or "",
                    private_key_file=Path(self.private_key_file or ""),
                    session=make_session(self.ca_bundle),
                )
            else:
                session.auth = tba_auth(
                    self.account_id,
                    self.consumer_key or "",
                    self.consumer_secret or "",
                    self.token_id or "",
                    self.token_secret or "",
                )
            self._client = NetSuiteRestClient(
                base_url=self.rest_url, session=session, timeout=self.timeout_seconds, max_attempts=self.max_attempts
            )
        return self._client
