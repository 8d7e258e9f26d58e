"""The account's integration credentials: TBA consumer/token pairs, nonces, and OAuth 2.0 M2M bearer tokens.

Shared by the SOAP ``tokenPassport`` check and REST authentication. Secrets are generated on first start
and kept in ``<data dir>/netsuite/credentials.json`` (mode 600) with the integration's RSA key in
``oauth2-private-key.pem``, so a restarted sandbox accepts the same credentials.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sfns_pipeline.sandbox.clock import SandboxClock

TIMESTAMP_WINDOW_SECONDS = 300  # NetSuite refuses TBA timestamps more than 5 minutes off its clock
ACCESS_TOKEN_LIFETIME = timedelta(minutes=60)  # NetSuite M2M access tokens are valid for 60 minutes
JWT_ALGORITHMS = ("PS256", "RS256")
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class OAuth2Error(Exception):
    """A refused token request; ``error`` is the RFC 6749 code NetSuite answers with."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class TbaToken:
    """One integration record (consumer key/secret) with one access token (token id/secret)."""

    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str

    @classmethod
    def generate(cls) -> TbaToken:
        """A fresh random integration record and access token."""
        # NetSuite's keys and secrets are 64 hex characters.
        return cls(*(secrets.token_hex(32) for _ in range(4)))


@dataclass(frozen=True)
class OAuth2Client:
    """An OAuth 2.0 client-credentials integration and the certificate mapped to it."""

    client_id: str
    certificate_id: str


def realm_form(account_id: str) -> str:
    """``1234567-sb1`` / ``1234567_sb1`` -> ``1234567_SB1`` (realm and tokenPassport form)."""
    return account_id.replace("-", "_").upper()


def host_form(account_id: str) -> str:
    """``1234567_SB1`` -> ``1234567-sb1`` (host name form)."""
    return account_id.replace("_", "-").lower()


class Credentials:
    """What the account knows about its integrations, checked against the sandbox clock."""

    def __init__(
        self,
        account_id: str,
        *,
        clock: SandboxClock,
        tba: TbaToken,
        oauth2: OAuth2Client,
        oauth2_public_key_pem: bytes,
        private_key_file: Path | None = None,
    ) -> None:
        self.account_id = realm_form(account_id)
        self.private_key_file = private_key_file  # the integration's key, for clients (endpoints.json)
        self.clock = clock
        self.tba = tba
        self.oauth2 = oauth2
        self._public_key = serialization.load_pem_public_key(oauth2_public_key_pem)
        self._nonces: dict[tuple[str, str, str, int], int] = {}
        self._bearers: dict[str, float] = {}  # access token -> expiry (sandbox epoch seconds)
        self._lock = threading.Lock()

    @classmethod
    def load_or_create(
        cls, directory: Path, account_id: str, *, clock: SandboxClock, tba: dict[str, str] | None = None
    ) -> Credentials:
        """Reuse the credentials in ``directory`` or generate them; ``tba`` overrides the TBA token pair."""
        directory.mkdir(parents=True, exist_ok=True)
        store, key_file = directory / "credentials.json", directory / "oauth2-private-key.pem"
        if store.exists() and key_file.exists():
            saved = json.loads(store.read_text())
            token, client = TbaToken(**saved["tba"]), OAuth2Client(**saved["oauth2"])
            private_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        else:
            token, client = TbaToken.generate(), OAuth2Client(secrets.token_hex(32), secrets.token_urlsafe(32))
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_file.write_bytes(
                private_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            key_file.chmod(0o600)
        if tba:
            token = TbaToken(**tba)
        store.write_text(json.dumps({"tba": asdict(token), "oauth2": asdict(client)}))
        store.chmod(0o600)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            account_id,
            clock=clock,
            tba=token,
            oauth2=client,
            oauth2_public_key_pem=public_pem,
            private_key_file=key_file,
        )

    # -- TBA (SOAP tokenPassport and REST OAuth 1.0a) -----------------------------------------------
    def tba_secrets(self, consumer_key: str, token_id: str) -> tuple[str, str] | None:
        """(consumer_secret, token_secret) for a known consumer key + token pair, else None."""
        if secrets.compare_digest(consumer_key, self.tba.consumer_key) and secrets.compare_digest(
            token_id, self.tba.token_id
        ):
            return self.tba.consumer_secret, self.tba.token_secret
        return None

    def known_consumer(self, consumer_key: str) -> bool:
        """Whether ``consumer_key`` is the account's integration (compared in constant time)."""
        return secrets.compare_digest(consumer_key, self.tba.consumer_key)

    def timestamp_fresh(self, timestamp: int) -> bool:
        """Within ±5 minutes of the sandbox clock."""
        return abs(self.clock.now().timestamp() - timestamp) <= TIMESTAMP_WINDOW_SECONDS

    def use_nonce(self, consumer_key: str, token_id: str, nonce: str, timestamp: int) -> bool:
        """Record a nonce; False if it was used before with this timestamp or the timestamp is stale."""
        if not self.timestamp_fresh(timestamp):
            return False
        now = self.clock.now().timestamp()
        key = (consumer_key, token_id, nonce, int(timestamp))
        with self._lock:
            # Stale timestamps are refused anyway, so only nonces inside the window need remembering.
            for old in [k for k, seen in self._nonces.items() if now - seen > 2 * TIMESTAMP_WINDOW_SECONDS]:
                del self._nonces[old]
            if key in self._nonces:
                return False
            self._nonces[key] = int(now)
        return True

    # -- OAuth 2.0 client credentials (M2M) ---------------------------------------------------------
    def issue_bearer(self, form: dict[str, str], token_url: str) -> dict[str, Any]:
        """Exchange a client-credentials request with a JWT assertion for an access token."""
        if form.get("grant_type") != "client_credentials":
            raise OAuth2Error("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuth2Error("invalid_request", "a client_assertion of type jwt-bearer is required")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=list(JWT_ALGORITHMS),
                audience=token_url,
                options={"verify_exp": False, "verify_iat": False, "require": ["iss", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise OAuth2Error("invalid_client", f"invalid client assertion: {exc}") from None
        now = self.clock.now().timestamp()
        if header.get("kid") != self.oauth2.certificate_id or claims["iss"] != self.oauth2.client_id:
            raise OAuth2Error("invalid_client", "unknown client or certificate")
        if (
            not (claims["iat"] - TIMESTAMP_WINDOW_SECONDS <= now <= claims["exp"])
            or claims["exp"] - claims["iat"] > 3600
        ):
            raise OAuth2Error("invalid_grant", "the client assertion is expired or not yet valid")
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._bearers[token] = now + ACCESS_TOKEN_LIFETIME.total_seconds()
        return {
            "access_token": token,
            "expires_in": str(int(ACCESS_TOKEN_LIFETIME.total_seconds())),
            "token_type": "bearer",
        }

    def bearer_valid(self, access_token: str) -> bool:
        """A token issued here that has not expired on the sandbox clock."""
        with self._lock:
            expiry = self._bearers.get(access_token)
        return expiry is not None and self.clock.now().timestamp() < expiry
