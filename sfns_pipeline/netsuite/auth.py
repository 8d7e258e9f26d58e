"""NetSuite REST authentication: TBA (OAuth 1.0a, HMAC-SHA256 with realm) or OAuth 2.0 M2M.

TBA is what most accounts run today, but Oracle stops new TBA integrations, so OAuth 2.0 client
credentials (a JWT assertion signed with the integration's certificate key) is the other choice.
Both are ``requests`` auth objects; a fresh nonce/signature is made for every request (NetSuite
refuses a reused nonce), so retries re-sign automatically.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import requests
from requests_oauthlib import OAuth1

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class NetSuiteAuthError(RuntimeError):
    """NetSuite refused the integration's credentials: a configuration problem, never retried."""


def realm(account_id: str) -> str:
    """The account id as NetSuite signs it: uppercase with underscores (``1234567_SB1``)."""
    return account_id.strip().upper().replace("-", "_")


class TBAAuth(OAuth1):
    """OAuth 1.0a signer whose timestamps can follow NetSuite's clock.

    NetSuite refuses TBA timestamps more than 5 minutes off *its* clock, so a host clock that drifted
    would lock the integration out; the client sets ``clock_offset`` from the server's ``Date`` header
    when it sees that happen (:meth:`NetSuiteRestClient._adopt_server_clock`).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock_offset = 0.0  # seconds NetSuite's clock is ahead of this host's
        self._sign_lock = threading.Lock()

    def __call__(self, request):
        """Signs the request, stamped with NetSuite's time once the host clock is known to be off.

        Locked because the timestamp is set on the shared oauthlib client, between setting it and signing.
        """
        with self._sign_lock:
            self.client.timestamp = str(int(time.time() + self.clock_offset)) if self.clock_offset else None
            return super().__call__(request)


def tba_auth(account_id: str, consumer_key: str, consumer_secret: str, token_id: str, token_secret: str) -> TBAAuth:
    """OAuth 1.0a signer for the REST API (the realm is sent but not signed, as NetSuite expects)."""
    return TBAAuth(
        client_key=consumer_key,
        client_secret=consumer_secret,
        resource_owner_key=token_id,
        resource_owner_secret=token_secret,
        realm=realm(account_id),
        signature_method="HMAC-SHA256",
    )


@dataclass
class OAuth2ClientCredentials(requests.auth.AuthBase):
    """Bearer tokens from the OAuth 2.0 client credentials (M2M) flow, renewed before they expire."""

    token_url: str
    client_id: str
    certificate_id: str
    private_key_file: Path
    session: requests.Session = field(repr=False)
    scope: str = "rest_webservices"
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Adds the bearer token, renewed first when it is about to expire."""
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    def access_token(self, *, force: bool = False) -> str:
        """A valid bearer token, fetched when missing, forced or within a minute of expiry."""
        with self._lock:
            if force or self._token is None or time.time() > self._expires_at - 60:
                self._fetch()
            return self._token

    def _fetch(self) -> None:
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self.client_id,
                "scope": self.scope,
                "aud": self.token_url,
                "iat": now,
                "exp": now + 300,
                "jti": uuid.uuid4().hex,
            },
            Path(self.private_key_file).read_bytes(),
            algorithm="PS256",
            headers={"kid": self.certificate_id},
        )
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        response = self.session.post(self.token_url, data=form, timeout=30)
        if response.status_code != 200:
            raise NetSuiteAuthError(f"NetSuite OAuth 2.0 token request failed ({response.status_code})")
        body = response.json()
        self._token = body["access_token"]
        self._expires_at = time.time() + float(body.get("expires_in", 3600))
