"""A small REST client for the sandbox's own tools (seed, activity simulator), over HTTPS with TBA like any client.

The sandbox may run in another process (``sfns sandbox up``), so its tools talk to it through
``endpoints.json`` rather than reaching into its state. Not the pipeline's NetSuite client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests_oauthlib import OAuth1

from sfns_pipeline.http import make_session

RETRIES_ON_429 = 6


class SandboxApiError(RuntimeError):
    """The sandbox answered with a NetSuite error body."""

    def __init__(self, status: int, body: Any) -> None:
        details = body.get("o:errorDetails", [{}]) if isinstance(body, dict) else [{}]
        self.code = details[0].get("o:errorCode", str(status))
        super().__init__(f"NetSuite sandbox {status} {self.code}: {details[0].get('detail', body)}")


class SandboxNetSuite:
    """REST record API and SuiteQL of the sandbox account described by ``endpoints.json``."""

    def __init__(self, endpoints: dict[str, Any], *, timeout: float = 30.0) -> None:
        netsuite = endpoints["netsuite"]
        tba = netsuite["tba"]
        self.base = f"{netsuite['rest_url']}/services/rest"
        self.timeout = timeout
        self._ca_cert = endpoints["ca_cert"]
        self._auth = OAuth1(
            tba["consumer_key"],
            tba["consumer_secret"],
            tba["token_id"],
            tba["token_secret"],
            realm=netsuite["account_id"],
            signature_method="HMAC-SHA256",
        )
        self._local = threading.local()  # one session per thread: the seed works in parallel

    @property
    def session(self) -> requests.Session:
        """This thread's signed HTTPS session (one per thread: the seed works in parallel)."""
        if not hasattr(self._local, "session"):
            self._local.session = make_session(self._ca_cert)
            self._local.session.auth = self._auth
        return self._local.session

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(RETRIES_ON_429 + 1):
            response = self.session.request(method, f"{self.base}/{path}", timeout=self.timeout, **kwargs)
            if response.status_code != 429 or attempt == RETRIES_ON_429:
                break
            time.sleep(0.2 * 2**attempt)  # the account's concurrency limit is shared with the pipeline
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise SandboxApiError(response.status_code, body)
        return response

    def upsert(self, record_type: str, external_id: str, body: dict[str, Any]) -> str:
        """``PUT eid:`` — create or update by external id; returns the internal id."""
        response = self._request("PUT", f"record/v1/{record_type}/eid:{external_id}", json=body)
        return response.headers["Location"].rsplit("/", 1)[1]

    def transform(self, record_type: str, internal_id: str, target: str, body: dict[str, Any] | None = None) -> str:
        """``POST /<type>/<id>/!transform/<target>``; returns the new record's internal id."""
        response = self._request("POST", f"record/v1/{record_type}/{internal_id}/!transform/{target}", json=body or {})
        return response.headers["Location"].rsplit("/", 1)[1]

    def find(self, record_type: str, external_id: str) -> str | None:
        """The internal id of the record with this external id, or None."""
        try:
            return self.get(record_type, f"eid:{external_id}")["id"]
        except SandboxApiError as error:
            if error.code == "NONEXISTENT_ID":
                return None
            raise

    def get(self, record_type: str, key: str) -> dict[str, Any]:
        """One record by internal id or ``eid:<externalId>``, sublists expanded."""
        return self._request("GET", f"record/v1/{record_type}/{key}", params={"expandSubResources": "true"}).json()

    def suiteql(self, query: str, params: list[Any] | None = None) -> Iterator[dict[str, str]]:
        """Every row of a query, page by page."""
        offset = 0
        while True:
            page = self._request(
                "POST",
                "query/v1/suiteql",
                params={"limit": 1000, "offset": offset},
                json={"q": query, "params": params or []},
                headers={"Prefer": "transient"},
            ).json()
            yield from page["items"]
            if not page["hasMore"]:
                return
            offset += page["count"]
