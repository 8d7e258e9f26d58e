"""Who is calling: a TBA ``tokenPassport`` header or an OAuth 2.0 bearer token.

tokenPassport (netsuite-facts.md §2.4): signature = Base64(HMAC-SHA256(key = consumerSecret&tokenSecret,
msg = account&consumerKey&token&nonce&timestamp)); HMAC-SHA1 is refused since 2023.1; the timestamp must
be within ±5 minutes of the server's clock; a nonce+timestamp pair is accepted once. Every failure looks
the same on the wire ("Invalid login attempt."); the reason is only logged, like NetSuite's Login Audit
Trail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

from lxml import etree

from sfns_pipeline.sandbox.netsuite.soap.envelope import (
    ambiguous_authentication_fault,
    invalid_login_fault,
    login_required_fault,
)
from sfns_pipeline.sandbox.netsuite.soap.xsd import Namespaces

log = logging.getLogger(__name__)

SIGNATURE_ALGORITHM = "HMAC-SHA256"
MAX_CLOCK_SKEW_SECONDS = 300
_NONCE = re.compile(r"^[A-Za-z0-9]{6,64}$")


class Credentials(Protocol):
    """What the sandbox account knows about its integrations (the backend's ``Credentials``)."""

    account_id: str

    def tba_secrets(self, consumer_key: str, token_id: str) -> tuple[str, str] | None:
        """``(consumer_secret, token_secret)`` for a known consumer key and token, else None."""

    def use_nonce(self, consumer_key: str, token_id: str, nonce: str, timestamp: int) -> bool:
        """Record a nonce; False if it was used before or the timestamp is stale."""

    def bearer_valid(self, access_token: str) -> bool:
        """Whether an OAuth 2.0 access token was issued here and has not expired."""


class LoginRefused(Exception):
    """Authentication failed; ``reason`` is the Login Audit Trail's word for it (never sent to the client)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenPassport:
    """The ``tokenPassport`` header's values."""

    account: str
    consumer_key: str
    token: str
    nonce: str
    timestamp: int
    signature: str
    algorithm: str

    @classmethod
    def from_xml(cls, element: etree._Element, ns: Namespaces) -> TokenPassport:
        """Read a schema-valid ``platformMsgs:tokenPassport`` (its children are in the core namespace)."""
        core = ns.core

        def text(name: str) -> str:
            return (element.findtext(f"{{{core}}}{name}") or "").strip()

        signature = element.find(f"{{{core}}}signature")
        return cls(
            account=text("account"),
            consumer_key=text("consumerKey"),
            token=text("token"),
            nonce=text("nonce"),
            timestamp=int(text("timestamp")),
            signature=(signature.text or "").strip(),
            algorithm=signature.get("algorithm", ""),
        )


def _encode(value: str) -> str:
    return quote(value, safe="-._~")  # PHP rawurlencode, as in Oracle's example


def passport_signature(passport: TokenPassport, consumer_secret: str, token_secret: str) -> str:
    """The HMAC-SHA256 signature NetSuite expects for ``passport``."""
    parts = (passport.account, passport.consumer_key, passport.token, passport.nonce, str(passport.timestamp))
    message = "&".join(_encode(part) for part in parts)
    key = f"{_encode(consumer_secret)}&{_encode(token_secret)}"
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_token_passport(passport: TokenPassport, credentials: Credentials, now: datetime) -> None:
    """Accept ``passport`` or raise :class:`LoginRefused` (the nonce is spent only by a valid signature)."""
    if passport.account != credentials.account_id:
        raise LoginRefused("InvalidAccount")
    if passport.algorithm != SIGNATURE_ALGORITHM:
        raise LoginRefused("UnknownAlgorithm")
    if not _NONCE.match(passport.nonce):
        raise LoginRefused("MissingTokenPassportRequiredFields")
    if abs(now.timestamp() - passport.timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise LoginRefused("InvalidTimestamp")
    secrets = credentials.tba_secrets(passport.consumer_key, passport.token)
    if secrets is None:
        raise LoginRefused("token_rejected")
    expected = passport_signature(passport, *secrets)
    if not hmac.compare_digest(expected.encode(), passport.signature.encode()):
        raise LoginRefused("InvalidSignature")
    if not credentials.use_nonce(passport.consumer_key, passport.token, passport.nonce, passport.timestamp):
        raise LoginRefused("NonceUsed")


def authenticate(
    headers: tuple[etree._Element, ...],
    authorization: str | None,
    *,
    credentials: Credentials,
    now: datetime,
    ns: Namespaces,
) -> None:
    """Accept exactly one of a tokenPassport header or an ``Authorization: Bearer`` token, or raise a fault."""
    passports = [h for h in headers if h.tag == f"{{{ns.messages}}}tokenPassport"]
    scheme, _, token = (authorization or "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else None
    if passports and bearer is not None:
        raise ambiguous_authentication_fault(ns.version)
    try:
        if passports:
            verify_token_passport(TokenPassport.from_xml(passports[0], ns), credentials, now)
        elif bearer is not None:
            if not credentials.bearer_valid(bearer):
                raise LoginRefused("InvalidToken")
        else:
            raise login_required_fault(ns.version)
    except LoginRefused as refused:
        log.info("NetSuite sandbox SOAP login refused: %s", refused.reason)
        raise invalid_login_fault(ns.version) from None
