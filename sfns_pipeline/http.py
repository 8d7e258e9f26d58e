"""HTTP sessions for every client of the pipeline (Salesforce, NetSuite REST and SOAP).

Why not just ``session.verify = ca_bundle``: requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``
from the environment override a session's ``verify`` (the per-request value wins the merge), so a
host-wide bundle silently replaces the CA the operator configured. The adapter here pins the
configured bundle on every request instead. Verification is never switched off.
"""

from __future__ import annotations

from pathlib import Path

import requests
from requests.adapters import HTTPAdapter


class _PinnedCAAdapter(HTTPAdapter):
    def __init__(self, ca_bundle: str, **kwargs) -> None:
        self._ca_bundle = ca_bundle
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        kwargs["verify"] = self._ca_bundle
        return super().send(request, **kwargs)


def make_session(ca_bundle: Path | str | None = None, *, pool_size: int = 10) -> requests.Session:
    """A requests session that verifies TLS against ``ca_bundle`` (or the system store when None)."""
    session = requests.Session()
    if ca_bundle is not None:
        adapter = _PinnedCAAdapter(str(ca_bundle), pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("https://", adapter)
    return session
