"""Scrub secrets from anything that leaves a run: log lines, emails, ledger rows, run metadata.

Two nets, because a careless error message can carry a credential either way:

- **known values**: every secret the configuration holds (``SecretStr`` settings, and any ``SFNS_*``
  environment variable whose name says PASSWORD / SECRET / TOKEN / KEY), replaced wherever they
  appear, also URL-encoded;
- **shapes**: ``Bearer``/``Basic`` credentials, JWTs, PEM private keys, and ``name=value`` /
  ``"name": "value"`` pairs whose name looks secret (``password``, ``client_secret``,
  ``oauth_signature``, ``access_token``, ...). In payloads, values under such keys are replaced whole.

The reporting layer (:mod:`sfns_pipeline.flows.reporting`) applies it to every outcome before the
ledger, the email or the metadata see it; the mailer applies it to what it logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, SecretStr

from sfns_pipeline.outcomes import RecordOutcome
from sfns_pipeline.settings import Settings

REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 4  # shorter "secrets" would blank out ordinary words; they are not secrets anyway

_SECRET_WORD = re.compile(
    r"passw(?:or)?d|pwd|secret|token|api[_-]?key|consumer[_-]?key|private[_-]?key|signature|authorization|credential",
    re.IGNORECASE,
)
_SECRET_ENV = re.compile(r"^SFNS_\w*(PASSWORD|SECRET|TOKEN|KEY)\w*$")
# name=value, name: value, "name": "value" — the name is checked by _SECRET_WORD in _scrub_pair.
_PAIR = re.compile(r"""(["']?)\b([\w.-]+)(\1\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s&,;"'<>]+)""")
_SHAPES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL), REDACTED),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), rf"\1 {REDACTED}"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),  # a JWT (its header always starts with '{"')
]


def _scrub_pair(match: re.Match[str]) -> str:
    quote_char, name, separator, _ = match.groups()
    return f"{quote_char}{name}{separator}{REDACTED}" if _SECRET_WORD.search(name) else match.group(0)


def is_secret_name(name: str) -> bool:
    """Whether a field or parameter name says its value is a credential."""
    return bool(_SECRET_WORD.search(name))


def environment_secrets(settings: Settings | None = None) -> set[str]:
    """Secret values from the settings' ``SecretStr`` fields and secret-looking ``SFNS_*`` variables."""
    values = {value for name, value in os.environ.items() if _SECRET_ENV.match(name) and not name.endswith("_FILE")}
    for _, section in settings or ():
        if isinstance(section, BaseModel):
            values |= {value.get_secret_value() for _, value in section if isinstance(value, SecretStr)}
    return values


class Redactor:
    """Replaces known secret values and secret-shaped text; ``Redactor.from_environment()`` for the usual set."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        known = {secret for secret in secrets if secret and len(secret) >= _MIN_SECRET_LENGTH}
        known |= {quote(secret, safe="") for secret in known}
        self._known = sorted(known, key=len, reverse=True)  # longest first: a secret containing another

    @classmethod
    def from_environment(cls, settings: Settings | None = None, *extra: str | None) -> Redactor:
        """Every secret the configuration holds, plus ``extra`` values (e.g. a resource's password)."""
        return cls([*environment_secrets(settings), *extra])

    def text(self, value: str | None) -> str | None:
        """``value`` with secrets replaced by ``[redacted]``."""
        if not value:
            return value
        for secret in self._known:
            value = value.replace(secret, REDACTED)
        for pattern, replacement in _SHAPES:
            value = pattern.sub(replacement, value)
        return _PAIR.sub(_scrub_pair, value)

    def payload(self, value: Any) -> Any:
        """A copy of a JSON-like value with secret-named keys blanked and every string scrubbed."""
        if isinstance(value, Mapping):
            return {key: REDACTED if is_secret_name(str(key)) else self.payload(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.payload(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def outcome(self, outcome: RecordOutcome) -> RecordOutcome:
        """The outcome with its message, error code and payload scrubbed (ids are kept: they are not secrets)."""
        if not outcome.failed:
            return outcome
        return replace(
            outcome,
            error_code=self.text(outcome.error_code),
            message=self.text(outcome.message),
            payload=self.payload(outcome.payload),
        )
