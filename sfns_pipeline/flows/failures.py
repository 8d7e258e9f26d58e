"""Systemic failures of a step: which ones a retry can fix and which ones it cannot.

The clients already retry each request with backoff (seconds). When NetSuite or Salesforce stay
down longer than that they raise ``NetSuiteUnavailable`` / ``SalesforceUnavailable``; the step's
:data:`TRANSIENT_RETRY_POLICY` then tries again minutes later (dagster-facts §4). Auth and
configuration errors cannot heal by waiting: :func:`systemic_errors` turns them into
``dg.Failure(allow_retries=False)`` so the run fails at once and its email says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from sfns_pipeline.netsuite.auth import NetSuiteAuthError
from sfns_pipeline.salesforce.auth import SalesforceAuthError

# 3 retries, ~10 s / 20 s / 40 s apart (±jitter, so parallel runs do not return to NetSuite in step).
TRANSIENT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@contextmanager
def systemic_errors() -> Iterator[None]:
    """Auth and configuration errors fail the step without retries; transient ones pass through to the policy."""
    try:
        yield
    except (NetSuiteAuthError, SalesforceAuthError, SalesforceExpiredSession) as exc:
        raise dg.Failure(f"Authentication failed, check the credentials: {exc}", allow_retries=False) from exc
    except requests.exceptions.SSLError as exc:
        raise dg.Failure(f"TLS verification failed, check SFNS_CA_BUNDLE: {exc}", allow_retries=False) from exc
    except (SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
        raise dg.Failure(
            f"Salesforce rejected the request; check the SFNS_FIELD_* names and the org: {exc}", allow_retries=False
        ) from exc
