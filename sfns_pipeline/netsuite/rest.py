"""The NetSuite REST client: record API writes and SuiteQL reads.

- Records are written with ``PUT …/eid:<externalId>`` (upsert), never a bare ``POST``: a request
  retried after a timeout then updates instead of creating a duplicate.
- Transient trouble (429 concurrency limit, 5xx, dropped connections) is retried with exponential
  backoff and jitter — NetSuite's advice, since the limit is shared with every other integration.
  Validation errors (4xx) are never retried: they become :class:`NetSuiteRecordError`, a per-record
  outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from sfns_pipeline.netsuite.auth import NetSuiteAuthError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
SUITEQL_MAX_PAGE = 1000
CLOCK_TOLERANCE_SECONDS = 60  # TBA allows ±300 s; re-sync well before that


class NetSuiteRecordError(Exception):
    """NetSuite rejected one record (validation, bad reference, business rule): not retryable."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(f"{code}: {detail}" + (f" (at {path})" if path else ""))
        self.status, self.code, self.detail, self.path = status, code, detail, path


class NetSuiteUnavailable(RuntimeError):
    """NetSuite stayed unavailable or over its concurrency limit after every retry: fail the run."""


class _Transient(Exception):
    def __init__(self, response: requests.Response | None, cause: Exception | None = None) -> None:
        super().__init__(f"HTTP {response.status_code}" if response is not None else str(cause))
        self.response = response


@dataclass
class SuiteQLPage:
    """One page of SuiteQL rows (values are strings, keys lowercase, as NetSuite returns them)."""

    items: list[dict[str, Any]]
    has_more: bool
    offset: int
    total_results: int


@dataclass
class NetSuiteRestClient:
    """REST record API + SuiteQL for one account. ``session.auth`` signs every request."""

    base_url: str  # e.g. https://1234567-sb1.suitetalk.api.netsuite.com
    session: requests.Session = field(repr=False)
    timeout: float = 60.0
    max_attempts: int = 6
    calls: int = 0

    # -- record API -------------------------------------------------------------------------------
    def upsert(self, record_type: str, external_id: str, body: dict[str, Any], *, replace: Sequence[str] = ()) -> str:
        """Create or update the record whose ``externalId`` is ``external_id``; returns its internal id.

        ``replace`` names sublists (e.g. ``addressBook``) to replace with the lines sent, not add to.
        """
        path = f"record/v1/{record_type}/eid:{quote(external_id, safe='')}"
        response = self._request("PUT", path, json=body, params=_replace_params(replace))
        if response.headers.get("Location"):
            return _id_from_location(response)
        return str(self.get(record_type, external_id=external_id, fields="id")["id"])

    def update(self, record_type: str, internal_id: str, body: dict[str, Any], *, replace: Sequence[str] = ()) -> None:
        """PATCH fields of an existing record (omitted fields stay, ``None`` clears; ``replace`` as for upsert)."""
        path = f"record/v1/{record_type}/{quote(str(internal_id), safe='')}"
        self._request("PATCH", path, json=body, params=_replace_params(replace))

    def get(
        self,
        record_type: str,
        *,
        internal_id: str | None = None,
        external_id: str | None = None,
        fields: str | None = None,
    ) -> dict[str, Any]:
        """Read one record by internal id or external id."""
        key = quote(str(internal_id), safe="") if internal_id is not None else f"eid:{quote(str(external_id), safe='')}"
        params = {"fields": fields} if fields else None
        return self._request("GET", f"record/v1/{record_type}/{key}", params=params).json()

    # -- SuiteQL ----------------------------------------------------------------------------------
    def suiteql(
        self, query: str, params: list[Any] | None = None, *, limit: int = 1000, offset: int = 0
    ) -> SuiteQLPage:
        """One page of a SuiteQL query (``offset`` must be a multiple of ``limit``)."""
        if not 1 <= limit <= SUITEQL_MAX_PAGE or offset % limit:
            raise ValueError("SuiteQL needs 1 <= limit <= 1000 and offset a multiple of limit")
        body: dict[str, Any] = {"q": query}
        if params:
            body["params"] = [str(p) for p in params]
        response = self._request(
            "POST",
            "query/v1/suiteql",
            params={"limit": limit, "offset": offset},
            json=body,
            headers={"Prefer": "transient"},
        )
        data = response.json()
        items = [{k.lower(): v for k, v in row.items() if k != "links"} for row in data.get("items", [])]
        return SuiteQLPage(
            items, bool(data.get("hasMore")), int(data.get("offset", offset)), int(data.get("totalResults", 0))
        )

    def suiteql_pages(
        self, query: str, params: list[Any] | None = None, *, page_size: int = 1000
    ) -> Iterator[SuiteQLPage]:
        """Every page of a query by offset; the query needs a unique ORDER BY or rows may repeat or vanish."""
        offset = 0
        while True:
            page = self.suiteql(query, params, limit=page_size, offset=offset)
            yield page
            if not page.has_more:
                return
            offset += page_size

    # -- clock ------------------------------------------------------------------------------------
    def server_time(self) -> datetime:
        """NetSuite's own clock, from the HTTP ``Date`` header of the cheapest SuiteQL call (one row).

        Watermark sensors close windows by this clock, never the Dagster host's: a host running fast
        must not read a window before NetSuite has finished writing it.
        """
        response = self._request(
            "POST",
            "query/v1/suiteql",
            params={"limit": 1, "offset": 0},
            json={"q": "SELECT id FROM currency"},
            headers={"Prefer": "transient"},
        )
        stamp = response.headers.get("Date")
        if not stamp:
            raise NetSuiteUnavailable("NetSuite sent no Date header: cannot read its clock")
        return parsedate_to_datetime(stamp).astimezone(UTC)

    # -- transport --------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url.rstrip('/')}/services/rest/{path}"
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=wait_exponential_jitter(multiplier=0.5, max=20),
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(method, url, **kwargs)
        except _Transient as exc:
            status = exc.response.status_code if exc.response is not None else "no response"
            raise NetSuiteUnavailable(
                f"NetSuite {method} {path} failed after {self.max_attempts} attempts ({status})"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls += 1
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError:
            raise  # a subclass of ConnectionError, but an untrusted certificate is configuration
        except (requests.ConnectionError, requests.Timeout) as exc:
            log.warning("NetSuite %s %s: %s; retrying", method, url, type(exc).__name__)
            raise _Transient(None, exc) from exc
        if response.status_code in RETRYABLE_STATUS:
            log.warning("NetSuite %s %s: HTTP %d; retrying", method, url, response.status_code)
            raise _Transient(response)
        if response.status_code == 401:
            if self._adopt_server_clock(response):
                return self._send(method, url, **kwargs)
            raise NetSuiteAuthError(f"NetSuite refused the credentials: {_error_detail(response)[1]}")
        if response.status_code >= 400:
            code, detail, path = _error_detail(response)
            raise NetSuiteRecordError(response.status_code, code, detail, path)
        return response

    def _adopt_server_clock(self, response: requests.Response) -> bool:
        """After a 401: if NetSuite's ``Date`` is far from this host's clock, sign by NetSuite's time (once)."""
        auth, stamp = self.session.auth, response.headers.get("Date")
        if not stamp or not hasattr(auth, "clock_offset"):
            return False
        offset = parsedate_to_datetime(stamp).timestamp() - time.time()
        if abs(offset - auth.clock_offset) < CLOCK_TOLERANCE_SECONDS:
            return False  # the clocks agree: the credentials themselves were refused
        log.warning("NetSuite's clock is %+.0f s from this host's; signing requests with NetSuite's time", offset)
        auth.clock_offset = offset
        return True


def _error_detail(response: requests.Response) -> tuple[str, str, str | None]:
    try:
        body = response.json()
        details = body.get("o:errorDetails") or [{}]
        first = details[0]
        return (
            first.get("o:errorCode") or body.get("o:errorCode") or "UNKNOWN",
            first.get("detail") or body.get("title") or "",
            first.get("o:errorPath"),
        )
    except (ValueError, AttributeError):
        return "UNKNOWN", response.text[:300], None


def _replace_params(sublists: Sequence[str]) -> dict[str, str] | None:
    # Without it, lines sent for a sublist are added to the record's existing lines (netsuite-facts §3.2).
    return {"replace": ",".join(sublists)} if sublists else None


def _id_from_location(response: requests.Response) -> str:
    location = response.headers.get("Location", "")
    if not location:
        raise NetSuiteRecordError(response.status_code, "NO_LOCATION", "NetSuite returned no Location header")
    return location.rstrip("/").rsplit("/", 1)[-1]
