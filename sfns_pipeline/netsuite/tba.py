"""Token-based authentication (TBA) for SuiteTalk SOAP: the ``tokenPassport`` header.

signature = Base64(HMAC-SHA256(key = consumerSecret&tokenSecret, msg = account&consumerKey&token&nonce&timestamp)),
each part percent-encoded like PHP's rawurlencode (Oracle's reference code; hex keys are unchanged by it).
NetSuite accepts a passport once (nonce + timestamp) and only within ±5 minutes of its clock, so every
call needs a fresh one. The account id is the uppercase-underscore form (``1234567_SB1``): the
lowercase-hyphen host form gives "Invalid login attempt".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from typing import Any
from urllib.parse import quote

from sfns_pipeline.netsuite.auth import realm

SIGNATURE_ALGORITHM = "HMAC-SHA256"
_NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 20  # NetSuite allows 6-64 alphanumerics and recommends 20


def _encode(value: str) -> str:
    return quote(value, safe="-._~")


def passport_signature(
    account: str, consumer_key: str, token_id: str, nonce: str, timestamp: int, consumer_secret: str, token_secret: str
) -> str:
    """The base64 HMAC-SHA256 signature of one passport."""
    message = "&".join(_encode(part) for part in (account, consumer_key, token_id, nonce, str(timestamp)))
    key = f"{_encode(consumer_secret)}&{_encode(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def token_passport(
    account_id: str,
    consumer_key: str,
    consumer_secret: str,
    token_id: str,
    token_secret: str,
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A signed ``platformCore:TokenPassport`` as zeep takes it (the signature's text is ``_value_1``).

    ``nonce`` and ``timestamp`` default to a fresh random nonce and now; pass them only to reproduce a
    known signature.
    """
    account = realm(account_id)
    nonce = nonce or "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH))
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signature = passport_signature(account, consumer_key, token_id, nonce, timestamp, consumer_secret, token_secret)
    return {
        "account": account,
        "consumerKey": consumer_key,
        "token": token_id,
        "nonce": nonce,
        "timestamp": timestamp,
        "signature": {"_value_1": signature, "algorithm": SIGNATURE_ALGORITHM},
    }
