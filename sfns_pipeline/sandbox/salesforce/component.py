"""The Salesforce sandbox as a runner component: one org behind HTTPS (REST, OAuth) and gRPC (Pub/Sub API).

Options (``Sandbox(options={"salesforce": {...}})``):
``token_lifetime_seconds`` (default 7200) — how long an access token lives on the sandbox clock;
``api_daily_limit`` (default 100000) — the org's daily API request allowance;
``event_retention_hours`` (default 72) — how long platform events stay replayable (sandbox clock).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sfns_pipeline.sandbox.runner import SandboxContext
from sfns_pipeline.sandbox.salesforce.auth import JWT_GRANT, ApiUsage, OrgAuth
from sfns_pipeline.sandbox.salesforce.backend import SalesforceBackend
from sfns_pipeline.sandbox.salesforce.eventbus import EventBus, EventField
from sfns_pipeline.sandbox.salesforce.pubsub_server import PubSubServer
from sfns_pipeline.sandbox.salesforce.schema import Org, load_org
from sfns_pipeline.sandbox.salesforce.service import SalesforceService
from sfns_pipeline.sandbox.salesforce.store import OrgStore

DEFAULT_TOKEN_LIFETIME_SECONDS = 7200
DEFAULT_API_DAILY_LIMIT = 100_000
DEFAULT_EVENT_RETENTION_HOURS = 72

# org.json field types -> the event bus's Avro-level types
_EVENT_FIELD_TYPES = {
    "string": "string",
    "textarea": "string",
    "picklist": "string",
    "reference": "string",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "int": "int",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}


def event_topics(org: Org) -> dict[str, list[EventField]]:
    """The org's platform events as the event bus declares them (custom fields only)."""
    return {
        event.name: [EventField(f.name, _EVENT_FIELD_TYPES[f.type]) for f in event.fields.values() if f.custom]
        for event in org.platform_events
    }


class SalesforceSandbox:
    """Starts the org's store, event bus, REST service and Pub/Sub server; describes them for clients."""

    name = "salesforce"

    def __init__(self) -> None:
        self.backend: SalesforceBackend | None = None
        self.auth: OrgAuth | None = None
        self.bus: EventBus | None = None
        self._store: OrgStore | None = None
        self._service: SalesforceService | None = None
        self._pubsub: PubSubServer | None = None

    def start(self, context: SandboxContext) -> dict[str, Any]:
        """Open (or create) the org in ``<data dir>/salesforce`` and serve it."""
        options = context.options.get("salesforce", {})
        data_dir = context.data_dir / "salesforce"
        data_dir.mkdir(parents=True, exist_ok=True)
        org = load_org()
        self._store = OrgStore(f"sqlite:///{data_dir / 'org.db'}")
        self.backend = SalesforceBackend(org, self._store, context.clock)
        retention = timedelta(hours=options.get("event_retention_hours", DEFAULT_EVENT_RETENTION_HOURS))
        events_db = f"sqlite:///{data_dir / 'events.db'}"
        self.bus = EventBus(events_db, context.clock, self.backend.org_id, event_topics(org), retention=retention)
        self.backend.publisher = self.bus
        lifetime = timedelta(seconds=options.get("token_lifetime_seconds", DEFAULT_TOKEN_LIFETIME_SECONDS))
        self.auth = OrgAuth(self.backend, data_dir, token_lifetime=lifetime)
        usage = ApiUsage(self.backend, options.get("api_daily_limit", DEFAULT_API_DAILY_LIMIT))
        self._service = SalesforceService(self.backend, self.auth, usage, clock=context.clock, faults=context.faults)
        instance_url = self._service.start(context.host, context.ports.get("salesforce", 0), context.tls)
        self.auth.instance_url = instance_url
        self._pubsub = PubSubServer(self.bus, faults=context.faults, authenticate=self.auth.authenticate)
        pubsub_target = self._pubsub.start(context.host, context.ports.get("pubsub", 0), context.tls)
        return self._endpoints(instance_url, pubsub_target, org)

    def _endpoints(self, instance_url: str, pubsub_target: str, org: Org) -> dict[str, Any]:
        auth, backend = self.auth, self.backend
        integration, sales = auth.apps["integration"], auth.apps["sales"]
        integration_user = backend.actors["integration"]
        return {
            "instance_url": instance_url,
            "token_url": f"{instance_url}/services/oauth2/token",
            "pubsub_target": pubsub_target,
            "api_version": org.default_api_version,
            "org_id": backend.org_id,
            "auth_flow": "client_credentials",  # the flow the pipeline uses against this sandbox
            "client_credentials": {"client_id": integration.client_id, "client_secret": integration.client_secret},
            "password": {
                "username": integration_user.username,
                "password": auth.passwords["integration"],
                "client_id": integration.client_id,
                "client_secret": integration.client_secret,
            },
            "jwt_bearer": {
                "client_id": integration.client_id,
                "username": integration_user.username,
                "private_key_file": str(auth.private_key_file),
                "audience": instance_url,
                "grant_type": JWT_GRANT,
            },
            "sales_user": {
                "username": backend.actors["sales"].username,
                "password": auth.passwords["sales"],
                "client_id": sales.client_id,
                "client_secret": sales.client_secret,
            },
            "integration_user_id": integration_user.user_id,
            "sales_user_id": backend.actors["sales"].user_id,
        }

    def stop(self) -> None:
        """Stop both servers, then close the event bus and the store."""
        if self._pubsub is not None:
            self._pubsub.stop()
        if self._service is not None:
            self._service.stop()
        if self.bus is not None:
            self.bus.close()
        if self._store is not None:
            self._store.close()
        self._pubsub = self._service = self.bus = self._store = None
