"""The sandbox's own clock, which tests can skew against the host's."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """UTC wall clock plus an adjustable offset (to prove the pipeline trusts the server's clock)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_seconds)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The sandbox's idea of now (timezone-aware UTC)."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    @property
    def offset_seconds(self) -> float:
        """How far the sandbox clock is set from the host's, in seconds."""
        with self._lock:
            return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        """Shift the sandbox clock relative to the host (positive = ahead)."""
        with self._lock:
            self._offset = timedelta(seconds=seconds)
