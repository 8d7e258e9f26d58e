"""OAuth 2.0 for the integration user: client credentials or JWT bearer.

We fetch tokens ourselves rather than letting simple-salesforce log in, because its token flows
always post to ``https://{domain}.salesforce.com`` while a My Domain (and the sandbox) has its own
token URL. simple-salesforce then runs with ``instance_url`` + ``session_id``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import requests

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts at most 3 minutes


class SalesforceAuthError(RuntimeError):
    """The token endpoint refused the integration user: a configuration problem, never retried."""


class TokenEndpointUnavailable(RuntimeError):
    """The token endpoint answered 429 or 5xx: transient, retried like any other call."""


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the instance it is valid for."""

    access_token: str
    instance_url: str
    org_id: str | None = None

    def __repr__(self) -> str:  # never print the token itself
        return f"AccessToken(instance_url={self.instance_url!r}, org_id={self.org_id!r})"


@dataclass(frozen=True)
class OAuthSettings:
    """Everything needed to obtain a token; the secrets are read when a token is requested."""

    token_url: str
    flow: str  # "client_credentials" | "jwt_bearer"
    client_id: str
    client_secret: str | None = None
    username: str | None = None
    private_key_file: Path | None = None
    audience: str = "https://login.salesforce.com"

    def __repr__(self) -> str:
        return f"OAuthSettings(token_url={self.token_url!r}, flow={self.flow!r}, client_id={self.client_id!r})"


def _jwt_assertion(settings: OAuthSettings) -> str:
    if not settings.username or not settings.private_key_file:
        raise SalesforceAuthError("the JWT bearer flow needs SFNS_SALESFORCE_USERNAME and _PRIVATE_KEY_FILE")
    claims = {
        "iss": settings.client_id,
        "sub": settings.username,
        "aud": settings.audience,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, Path(settings.private_key_file).read_bytes(), algorithm="RS256")


def fetch_access_token(session: requests.Session, settings: OAuthSettings, timeout: float = 30) -> AccessToken:
    """Run the configured OAuth flow against the token URL and return the token."""
    if settings.flow == "client_credentials":
        form = {"grant_type": "client_credentials", "client_id": settings.client_id}
        form["client_secret"] = settings.client_secret or ""
    elif settings.flow == "jwt_bearer":
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": _jwt_assertion(settings)}
    else:
        raise SalesforceAuthError(f"unsupported OAuth flow {settings.flow!r}")
    response = session.post(settings.token_url, data=form, timeout=timeout)
    if response.status_code == 429 or response.status_code >= 500:
        raise TokenEndpointUnavailable(f"Salesforce token endpoint answered {response.status_code}")
    if response.status_code != 200:
        try:
            body = response.json()
            reason = f"{body.get('error')}: {body.get('error_description')}"
        except ValueError:
            reason = response.text[:200]
        raise SalesforceAuthError(f"Salesforce token request failed ({response.status_code}) {reason}")
    body = response.json()
    org_id = body.get("id", "").rstrip("/").split("/")[-2] if body.get("id") else None
    return AccessToken(access_token=body["access_token"], instance_url=body["instance_url"], org_id=org_id)


class TokenCache:
    """Access tokens shared by every client in the process, reused for up to ``max_age_seconds``.

    Sensors build fresh resources on every tick; without this each tick would log in again, and
    Salesforce caps logins per user per hour. A token that turns out to be expired is replaced through
    the 401 path (:meth:`refresh`), so the age limit only bounds how long a revoked token is tried.
    """

    def __init__(self, max_age_seconds: float = 900) -> None:
        self.max_age_seconds = max_age_seconds
        self._tokens: dict[tuple[str, ...], tuple[AccessToken, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(settings: OAuthSettings) -> tuple[str, ...]:
        # The secret is part of the identity (a rotated secret must not reuse the old token); only its hash is kept.
        secret_hash = hashlib.sha256((settings.client_secret or "").encode()).hexdigest()
        return (settings.token_url, settings.flow, settings.client_id, settings.username or "", secret_hash)

    def get(self, session: requests.Session, settings: OAuthSettings, timeout: float = 30) -> tuple[AccessToken, bool]:
        """A cached token, or a freshly fetched one; the flag says whether a token request was made."""
        key = self._key(settings)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and time.monotonic() - cached[1] < self.max_age_seconds:
                return cached[0], False
        return self.refresh(session, settings, timeout), True

    def clear(self) -> None:
        """Forget every cached token: the next client logs in again."""
        with self._lock:
            self._tokens.clear()

    def refresh(self, session: requests.Session, settings: OAuthSettings, timeout: float = 30) -> AccessToken:
        """Fetch a new token and share it."""
        token = fetch_access_token(session, settings, timeout)
        with self._lock:
            self._tokens[self._key(settings)] = (token, time.monotonic())
        return token


TOKENS = TokenCache()
