"""Faults on demand: latency, error responses and dropped connections, per service and endpoint.

Rules are shared by every sandbox service. Tests add them in-process (``sandbox.faults.add(...)``) or
over HTTPS (``POST /__sandbox__/faults`` on any sandbox HTTP service). Each service renders a fault
``kind`` in its own wire shape (a Salesforce ``UNABLE_TO_LOCK_ROW`` body, a NetSuite SOAP
``WS_REQUEST_BLOCKED`` fault, ...), so the rule only names what should happen.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, field_validator


class FaultRule(BaseModel):
    """Inject ``kind`` into matching requests.

    ``kind`` is a service-specific name (``"503"``, ``"UNABLE_TO_LOCK_ROW"``, ``"WS_REQUEST_BLOCKED"``,
    ``"drop"`` to cut the connection, ``"latency"`` to only delay). ``count`` limits how many requests
    are hit (None = unlimited); ``rate`` is the probability for each matching request.
    """

    service: str  # "salesforce", "pubsub", "netsuite"
    kind: str
    path: str = ".*"  # regex searched in the request path (or the gRPC method name)
    method: str | None = None
    rate: float = Field(default=1.0, ge=0, le=1)
    count: int | None = Field(default=None, ge=1)
    latency_ms: int = Field(default=0, ge=0, le=60_000)

    @field_validator("path")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"path is not a valid regular expression: {exc}") from None
        return value


@dataclass
class _ActiveRule:
    rule: FaultRule
    pattern: re.Pattern
    remaining: int | None
    hits: int = 0


@dataclass
class FaultInjector:
    """Thread-safe store of active fault rules; services ask it once per request."""

    seed: int = 0
    _rules: list[_ActiveRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def add(self, rule: FaultRule | dict) -> FaultRule:
        """Activate a rule (validated); returns it."""
        rule = rule if isinstance(rule, FaultRule) else FaultRule.model_validate(rule)
        with self._lock:
            self._rules.append(_ActiveRule(rule, re.compile(rule.path), rule.count))
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        """Active rules with their hit counts (for the admin API)."""
        with self._lock:
            return [{**a.rule.model_dump(), "hits": a.hits, "remaining": a.remaining} for a in self._rules]

    def match(self, service: str, path: str, method: str | None = None) -> FaultRule | None:
        """The rule to apply to this request, if any (consumes one from a counted rule)."""
        with self._lock:
            for active in self._rules:
                rule = active.rule
                if rule.service != service or (rule.method and method and rule.method.upper() != method.upper()):
                    continue
                if not active.pattern.search(path) or active.remaining == 0:
                    continue
                if self._random.random() >= rule.rate:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                active.hits += 1
                return rule
        return None
