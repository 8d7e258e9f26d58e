"""``sfns doctor``: can this deployment reach everything it needs, with the configured credentials?

Each check is small, read-only and independent, so one broken system does not hide the state of the
others. A check returns a one-line detail on success and raises on failure; the message of the
exception is what the operator sees (never a credential).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sfns_pipeline.ledger.store import UNRESOLVED, open_ledger
from sfns_pipeline.resources import netsuite_resource, salesforce_resource
from sfns_pipeline.salesforce.pubsub import PubSubClient
from sfns_pipeline.settings import Settings

CLOCK_SKEW_WARNING_SECONDS = 60


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str


def _resolved(resource):
    """A resource with its ``EnvVar`` secrets read from the environment (as Dagster does at run launch)."""
    return resource.process_config_and_initialize()


def check_salesforce(settings: Settings) -> str:
    """One SOQL query as the integration user; reports the org and how much of today's API allowance is used."""
    client = _resolved(salesforce_resource(settings)).get_client()
    client.query("SELECT Id FROM Account LIMIT 1")
    usage = client.usage
    allowance = f"{usage.used}/{usage.limit} API calls used today" if usage.limit else "API usage not reported"
    return f"org {client.token.org_id or '?'} at {client.token.instance_url}; {allowance}"


def check_pubsub(settings: Settings) -> str:
    """The integration user may subscribe to every Platform Event topic the flows listen on (Pub/Sub API)."""
    sf = settings.salesforce
    if not sf.pubsub_target:
        raise RuntimeError("SFNS_SALESFORCE_PUBSUB_TARGET is not set")
    client = _resolved(salesforce_resource(settings)).get_client()
    token = client.token
    topics = [settings.customer_sync.topic, settings.order_sync.topic, settings.payment_sync.topic]
    with PubSubClient(
        sf.pubsub_target,
        access_token=lambda: client.token.access_token,
        instance_url=token.instance_url,
        tenant_id=sf.tenant_id or token.org_id or "",
        ca_file=settings.ca_bundle,
    ) as pubsub:
        infos = [pubsub.get_topic(topic) for topic in topics]
    refused = [info.topic_name for info in infos if not info.can_subscribe]
    if refused:
        raise RuntimeError(f"the integration user cannot subscribe to {', '.join(refused)}")
    return f"can subscribe to {len(infos)} topics at {sf.pubsub_target}"


def check_netsuite(settings: Settings) -> str:
    """NetSuite answers SuiteQL with the configured credentials; notes a clock more than a minute off this host's."""
    client = _resolved(netsuite_resource(settings)).get_client()
    server_now = client.server_time()
    skew = (server_now - datetime.now(UTC)).total_seconds()
    note = f"; clock differs from this host by {skew:+.0f} s" if abs(skew) > CLOCK_SKEW_WARNING_SECONDS else ""
    return f"account {settings.netsuite.account_id} answers SuiteQL{note}"


def check_ledger(settings: Settings) -> str:
    """The dead-letter ledger's database answers; reports how many entries are still unresolved."""
    unresolved = len(open_ledger(settings.ledger_url).entries(statuses=UNRESOLVED))
    return f"{settings.ledger_url.split('://', 1)[0]} ledger reachable; {unresolved} unresolved dead letters"


def check_smtp(settings: Settings) -> str:
    """The SMTP server for error emails accepts a connection (and STARTTLS when configured); nothing is sent.

    No SMTP host passes: error emails are optional, and failures still reach run metadata and the ledger.
    """
    email = settings.email
    if not email.smtp_host:
        return "no SMTP host configured: error emails are disabled (failures stay in metadata and the ledger)"
    smtp_class = smtplib.SMTP_SSL if email.security == "ssl" else smtplib.SMTP
    with smtp_class(email.smtp_host, email.smtp_port, timeout=email.timeout_seconds) as server:
        if email.security == "starttls":
            server.starttls()
        server.noop()
    return f"{email.smtp_host}:{email.smtp_port} accepts connections"


CHECKS: dict[str, Callable[[Settings], str]] = {
    "Salesforce REST": check_salesforce,
    "Salesforce Pub/Sub": check_pubsub,
    "NetSuite REST": check_netsuite,
    "dead-letter ledger": check_ledger,
    "SMTP": check_smtp,
}


def run_checks(settings: Settings) -> list[CheckResult]:
    """Run every check; a failing check is reported, never raised."""
    results = []
    for name, check in CHECKS.items():
        try:
            results.append(CheckResult(name, True, check(settings)))
        except Exception as exc:  # every failure is a finding to report, not a crash
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results
