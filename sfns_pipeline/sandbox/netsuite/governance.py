"""The account's concurrency limit: one pool of request slots shared by SOAP and REST, as NetSuite does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ConcurrencyLimitExceeded(Exception):
    """Every slot of the account's concurrency limit is busy (REST 429, SOAP ``WS_REQUEST_BLOCKED``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"account concurrency limit of {limit} exceeded")
        self.limit = limit


class Governor:
    """At most ``limit`` requests in flight for the account; the excess is refused at once, never queued."""

    def __init__(self, limit: int = 5) -> None:
        if limit < 1:
            raise ValueError("the concurrency limit must be at least 1")
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Requests currently holding a slot."""
        with self._lock:
            return self._in_flight

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of a request; raises ConcurrencyLimitExceeded when none is free."""
        with self._lock:
            if self._in_flight >= self.limit:
                raise ConcurrencyLimitExceeded(self.limit)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
