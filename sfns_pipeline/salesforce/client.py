"""The Salesforce REST client every flow uses: SOQL reads and sObject Collections writes.

Built on simple-salesforce (unmodified) over a session that pins the configured CA. It adds what a
production integration needs and simple-salesforce leaves out:

- token refresh: a 401 ``INVALID_SESSION_ID`` fetches a new token and repeats the call once;
- batching: Collections writes in chunks of at most 200 records, one call per chunk;
- retries with backoff for transient trouble (503, dropped connections, ``UNABLE_TO_LOCK_ROW``) —
  never for validation errors, which are per-record outcomes;
- API usage from ``Sforce-Limit-Info`` after every call, for run metadata.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from sfns_pipeline.salesforce.auth import (
    TOKENS,
    AccessToken,
    OAuthSettings,
    SalesforceAuthError,
    TokenEndpointUnavailable,
)

log = logging.getLogger(__name__)

COLLECTION_LIMIT = 200  # sObject Collections accept at most 200 records per call
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})

T = TypeVar("T")


class SalesforceUnavailable(RuntimeError):
    """Salesforce stayed unavailable after retries, or refused the integration (limits): fail the run."""


@dataclass(frozen=True)
class RecordError:
    """One error Salesforce reported for one record."""

    code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteResult:
    """What Salesforce did with one record of a Collections write (same order as the input)."""

    success: bool
    id: str | None = None
    created: bool | None = None
    errors: tuple[RecordError, ...] = ()

    @property
    def transient(self) -> bool:
        """True when retrying the same record can succeed (a row lock)."""
        return bool(self.errors) and all(error.code in TRANSIENT_CODES for error in self.errors)


@dataclass
class ApiUsage:
    """Calls made by this client and the org's daily allowance as last reported."""

    calls: int = 0
    used: int | None = None
    limit: int | None = None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a subclass of ConnectionError, but an untrusted certificate is configuration
    if isinstance(exc, requests.ConnectionError | requests.Timeout | TokenEndpointUnavailable):
        return True
    if isinstance(exc, SalesforceError) and not isinstance(exc, SalesforceRefusedRequest):
        if exc.status >= 500:
            return True
        content = exc.content if isinstance(exc.content, list) else []
        return any(isinstance(item, dict) and item.get("errorCode") in TRANSIENT_CODES for item in content)
    return False


_retry_transient = retry(
    retry=retry_if_exception(_is_transient),
    wait=wait_exponential_jitter(multiplier=0.2, max=5),
    stop=stop_after_attempt(5),
    reraise=True,
)


@dataclass
class SalesforceClient:
    """A logged-in Salesforce REST client for one run (thread-safe token refresh)."""

    oauth: OAuthSettings
    session: requests.Session
    api_version: str = "62.0"
    timeout: float = 30.0
    expected_org_id: str | None = None  # refuse any other org: a refreshed sandbox must not write to production
    usage: ApiUsage = field(default_factory=ApiUsage)
    _token: AccessToken | None = field(default=None, repr=False)
    _sf: Salesforce | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- auth -------------------------------------------------------------------------------------
    @property
    def token(self) -> AccessToken:
        """The current access token (fetched on first use)."""
        with self._lock:
            if self._token is None:
                self._login()
            return self._token

    def _login(self, *, fresh: bool = False) -> None:
        if fresh:
            token, requested = TOKENS.refresh(self.session, self.oauth, self.timeout), True
        else:
            token, requested = TOKENS.get(self.session, self.oauth, self.timeout)
        self.usage.calls += int(requested)
        if self.expected_org_id and token.org_id and token.org_id[:15] != self.expected_org_id[:15]:
            raise SalesforceAuthError(
                f"the credentials log in to org {token.org_id}, but SFNS_SALESFORCE_TENANT_ID is "
                f"{self.expected_org_id}: refusing to write to an org other than the configured one"
            )
        self._token = token
        self._sf = Salesforce(
            instance_url=self._token.instance_url,
            session_id=self._token.access_token,
            session=self.session,
            version=self.api_version,
        )

    def refresh_token(self, stale: AccessToken | None = None) -> AccessToken:
        """Fetch a new token unless another thread already replaced ``stale``."""
        with self._lock:
            if self._token is None or self._token is stale:
                self._login(fresh=True)
            return self._token

    @property
    def sf(self) -> Salesforce:
        """The underlying simple-salesforce client."""
        self.token  # noqa: B018 - logs in on first use
        return self._sf

    def _call(self, operation: Callable[[Salesforce], T]) -> T:
        """Run one API call with transient retries and one re-login on an expired session."""

        @_retry_transient
        def attempt() -> T:
            token = self.token
            try:
                return self._counted(operation)
            except SalesforceExpiredSession:
                log.info("Salesforce session expired; fetching a new token")
                self.refresh_token(token)
                return self._counted(operation)

        try:
            return attempt()
        except SalesforceRefusedRequest as exc:
            raise SalesforceUnavailable(f"Salesforce refused the request: {exc}") from exc
        except Exception as exc:
            # still transient after every retry (503, row lock, dropped connection): systemic
            if _is_transient(exc):
                raise SalesforceUnavailable(f"Salesforce unavailable after retries: {exc}") from exc
            raise

    def _counted(self, operation: Callable[[Salesforce], T]) -> T:
        self.usage.calls += 1
        result = operation(self._sf)
        usage = (self._sf.api_usage or {}).get("api-usage")
        if usage is not None:
            self.usage.used, self.usage.limit = usage.used, usage.total
        return result

    # -- reads ------------------------------------------------------------------------------------
    def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following ``nextRecordsUrl`` pages."""
        first = self._call(lambda sf: sf.query(soql))
        records = list(first["records"])
        next_url = first.get("nextRecordsUrl")
        while next_url:
            page = self._call(lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True))
            records.extend(page["records"])
            next_url = page.get("nextRecordsUrl")
        return records

    # -- writes -----------------------------------------------------------------------------------
    def upsert(self, sobject: str, records: list[dict[str, Any]], *, key: str) -> list[WriteResult]:
        """Upsert records keyed by the external id field ``key``; one result per record, in order."""
        path = f"composite/sobjects/{sobject}/{key}"
        return self._write_collections("PATCH", path, [{"attributes": {"type": sobject}, **r} for r in records])

    def update(self, sobject: str, records: list[dict[str, Any]]) -> list[WriteResult]:
        """Update records by ``Id``; one result per record, in order."""
        return self._write_collections(
            "PATCH", "composite/sobjects", [{"attributes": {"type": sobject}, **r} for r in records]
        )

    def _write_collections(self, method: str, path: str, records: list[dict[str, Any]]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in _chunks(records, COLLECTION_LIMIT):
            results.extend(self._write_chunk(method, path, chunk))
        return results

    def _write_chunk(self, method: str, path: str, chunk: list[dict[str, Any]]) -> list[WriteResult]:
        """One Collections call; records that only hit a row lock are sent again (bounded)."""
        results: list[WriteResult | None] = [None] * len(chunk)
        pending = list(range(len(chunk)))
        for attempt in range(4):
            body = {"allOrNone": False, "records": [chunk[i] for i in pending]}
            raw = self._call(lambda sf, body=body: sf.restful(path, method=method, json=body))
            for index, item in zip(pending, raw, strict=True):
                results[index] = _write_result(item)
            pending = [i for i in pending if results[i].transient]
            if not pending:
                break
            log.info("retrying %d locked records (attempt %d)", len(pending), attempt + 2)
            time.sleep(0.2 * 2**attempt)
        return [r for r in results if r is not None]


def _write_result(item: dict[str, Any]) -> WriteResult:
    errors = tuple(
        RecordError(
            e.get("statusCode") or e.get("errorCode") or "UNKNOWN", e.get("message", ""), tuple(e.get("fields") or ())
        )
        for e in item.get("errors") or ()
    )
    return WriteResult(success=bool(item.get("success")), id=item.get("id"), created=item.get("created"), errors=errors)


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
