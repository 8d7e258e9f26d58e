"""REST authentication: OAuth 1.0a TBA verified by oauthlib's server side, or an OAuth 2.0 M2M bearer token.

TBA follows NetSuite: HMAC-SHA256 only (HMAC-SHA1 refused since 2023.1), ``realm`` = the account id in
uppercase-underscore form, a timestamp within ±5 minutes of the *sandbox* clock, a nonce never reused.
The signature base string is rebuilt from the URL exactly as the client sent it (scheme, Host header
with any port, raw path and query), so a client that signed ``https://localhost:9443/...`` verifies
and one that signed another host does not. Every failure is NetSuite's 401 ``INVALID_LOGIN``; the
reason (``InvalidSignature``, ``NonceUsed``, ...) is only logged, as NetSuite keeps it for its Login
Audit Trail.
"""

from __future__ import annotations

import logging

from oauthlib.oauth1 import RequestValidator, ResourceEndpoint
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA256
from oauthlib.oauth1.rfc5849.errors import OAuth1Error
from werkzeug.wrappers import Request

from sfns_pipeline.sandbox.netsuite.credentials import Credentials

log = logging.getLogger(__name__)

_DUMMY = "0" * 64


class _TbaValidator(RequestValidator):
    """oauthlib's questions answered from the account's credentials and the sandbox clock."""

    allowed_signature_methods = (SIGNATURE_HMAC_SHA256,)
    # oauthlib compares timestamps with the host clock; NetSuite's ±5 min window is checked against the
    # sandbox clock in validate_timestamp_and_nonce instead, so clock-skew tests mean something.
    timestamp_lifetime = 10**10
    client_key_length = (6, 128)
    access_token_length = (6, 128)
    nonce_length = (6, 64)  # NetSuite: 6-64 alphanumeric characters

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self.credentials = credentials
        self.failure: str | None = None

    @property
    def dummy_client(self) -> str:
        return _DUMMY

    @property
    def dummy_access_token(self) -> str:
        return _DUMMY

    def validate_client_key(self, client_key, request) -> bool:
        known = self.credentials.known_consumer(client_key)
        if not known:
            self.failure = self.failure or "consumer_key_unknown"
        return known

    def validate_access_token(self, client_key, token, request) -> bool:
        known = self.credentials.tba_secrets(client_key, token) is not None
        if not known:
            self.failure = self.failure or "token_rejected"
        return known

    def get_client_secret(self, client_key, request) -> str:
        found = self.credentials.tba_secrets(client_key, request.resource_owner_key or "")
        return found[0] if found else _DUMMY

    def get_access_token_secret(self, client_key, token, request) -> str:
        found = self.credentials.tba_secrets(client_key, token)
        return found[1] if found else _DUMMY

    def validate_timestamp_and_nonce(
        self, client_key, timestamp, nonce, request, request_token=None, access_token=None
    ) -> bool:
        if not self.credentials.timestamp_fresh(int(timestamp)):
            self.failure = "InvalidTimestamp"
            return False
        if not self.credentials.use_nonce(client_key, access_token or "", nonce, int(timestamp)):
            self.failure = "NonceUsed"
            return False
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None) -> bool:
        if request.realm != self.credentials.account_id:
            self.failure = self.failure or "InvalidAccount"
            return False
        return True


def request_uri(request: Request) -> str:
    """The URL as the client addressed it: https, the Host header as sent, the raw path and query."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    return f"https://{request.host}{raw}"


class RestAuthenticator:
    """Decides whether a REST request carries valid NetSuite credentials."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def authenticate(self, request: Request) -> str | None:
        """None when the request is authenticated, else the reason (for the log, never for the client)."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return None if self.credentials.bearer_valid(value.strip()) else "invalid_bearer_token"
        if scheme != "OAuth":
            return "no_credentials"
        return self._verify_tba(request)

    def _verify_tba(self, request: Request) -> str | None:
        validator = _TbaValidator(self.credentials)
        endpoint = ResourceEndpoint(validator)
        headers = {"Authorization": request.headers["Authorization"]}
        body = None
        if request.mimetype == "application/x-www-form-urlencoded":  # only form bodies are signed (RFC 5849)
            headers["Content-Type"] = request.content_type or ""
            body = request.get_data(as_text=True)
        try:
            valid, _ = endpoint.validate_protected_resource_request(
                request_uri(request), http_method=request.method, body=body, headers=headers
            )
        except OAuth1Error as exc:
            return f"{type(exc).__name__}: {exc.description}"
        if valid:
            return None
        return validator.failure or "InvalidSignature"
