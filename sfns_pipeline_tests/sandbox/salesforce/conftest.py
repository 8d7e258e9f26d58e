"""Clients of the Salesforce sandbox: simple-salesforce, unmodified, over HTTPS verified against the sandbox CA;
a raw gRPC Pub/Sub subscription built from the pipeline's generated stubs."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from sfns_pipeline.http import make_session
from sfns_pipeline.salesforce.proto import pubsub_api_pb2 as pb
from sfns_pipeline.salesforce.proto import pubsub_api_pb2_grpc as pb_grpc
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline.sandbox.salesforce.eventbus import EventBus

SALESFORCE_ONLY = ["sfns_pipeline.sandbox.salesforce.component:SalesforceSandbox"]
MY_DOMAIN = "sfns-sandbox.my"  # simple-salesforce turns a domain into https://<domain>.salesforce.com


class LoginHostAdapter(HTTPAdapter):
    """Answers for ``https://<domain>.salesforce.com`` with the sandbox, like a hosts-file entry would.

    simple-salesforce hard-codes its token URLs on salesforce.com; this transport adapter (not a patch of
    the client) sends those requests to the sandbox and verifies TLS against the sandbox CA.
    """

    def __init__(self, instance_url: str, ca_bundle: str) -> None:
        super().__init__()
        self._target = urlsplit(instance_url)
        self._ca_bundle = ca_bundle

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = urlunsplit(parts._replace(scheme=self._target.scheme, netloc=self._target.netloc))
        kwargs["verify"] = self._ca_bundle
        return super().send(request, **kwargs)


def login_session(endpoints: dict) -> requests.Session:
    """A pinned-CA session on which simple-salesforce's login hosts reach the sandbox."""
    session = make_session(endpoints["ca_cert"])
    adapter = LoginHostAdapter(endpoints["salesforce"]["instance_url"], endpoints["ca_cert"])
    for domain in ("login", "test", MY_DOMAIN):
        session.mount(f"https://{domain}.salesforce.com", adapter)
    return session


def client_credentials_token(endpoints: dict) -> str:
    """An access token for the integration user, fetched the way the pipeline does (POST to token_url)."""
    sf = endpoints["salesforce"]
    response = make_session(endpoints["ca_cert"]).post(
        sf["token_url"], data={"grant_type": "client_credentials", **sf["client_credentials"]}, timeout=10
    )
    response.raise_for_status()
    return response.json()["access_token"]


def integration_client(endpoints: dict) -> Salesforce:
    """simple-salesforce as the integration user (client credentials token + instance URL)."""
    sf = endpoints["salesforce"]
    return Salesforce(
        instance_url=sf["instance_url"],
        session_id=client_credentials_token(endpoints),
        session=make_session(endpoints["ca_cert"]),
        version=sf["api_version"],
    )


def sales_client(endpoints: dict) -> Salesforce:
    """simple-salesforce as the sales user, logging in itself with the OAuth password flow (refreshable)."""
    user = endpoints["salesforce"]["sales_user"]
    return Salesforce(
        username=user["username"],
        password=user["password"],
        consumer_key=user["client_id"],
        consumer_secret=user["client_secret"],
        domain=MY_DOMAIN,
        session=login_session(endpoints),
        version=endpoints["salesforce"]["api_version"],
    )


@pytest.fixture(scope="session")
def endpoints(sandbox: Sandbox) -> dict:
    return sandbox.endpoints


@pytest.fixture(scope="session")
def sf(endpoints) -> Salesforce:
    """The integration user's client on the shared sandbox."""
    return integration_client(endpoints)


@pytest.fixture(scope="session")
def sales(endpoints) -> Salesforce:
    """The sales user's client on the shared sandbox."""
    return sales_client(endpoints)


@pytest.fixture(scope="session")
def bus(sandbox: Sandbox) -> EventBus:
    return sandbox.components["salesforce"].bus


@pytest.fixture
def tag() -> str:
    """A unique marker for this test's records (the shared sandbox is shared by every test in the worker)."""
    return uuid.uuid4().hex[:10]


@contextmanager
def salesforce_sandbox(data_dir: Path, **options) -> Iterator[Sandbox]:
    """A sandbox running only the Salesforce component, with component options."""
    with Sandbox(
        data_dir, ports={"salesforce": 0, "pubsub": 0}, options={"salesforce": options}, components=SALESFORCE_ONLY
    ) as running:
        yield running


def events_since(bus: EventBus, topic: str, after: int) -> list[dict]:
    """Decoded payloads of ``topic`` published after replay id ``after``."""
    events, _ = bus.read(topic, after=after, limit=1000)
    return [bus.decode(event) for event in events]


def first_error(exc: Exception) -> dict:
    """The first ``{message, errorCode, fields}`` of a simple-salesforce exception."""
    return exc.content[0]


class Subscription:
    """A Subscribe stream whose FetchRequests the test sends one by one (the first fixes topic and replay)."""

    def __init__(self, stub: pb_grpc.PubSubStub, first: pb.FetchRequest, metadata) -> None:
        self.topic = first.topic_name
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._requests.put(first)
        self.call = stub.Subscribe(iter(self._requests.get, None), metadata=metadata, timeout=30)

    def send(self, request: pb.FetchRequest) -> None:
        self._requests.put(request)

    def request(self, num_requested: int) -> None:
        self.send(pb.FetchRequest(topic_name=self.topic, num_requested=num_requested))

    def next(self) -> pb.FetchResponse:
        return next(self.call)

    def until_keepalive(self) -> tuple[list[pb.ConsumerEvent], pb.FetchResponse]:
        """Events received before the first response without events, and that keep-alive."""
        events = []
        while (response := self.next()).events:
            events.extend(response.events)
        return events, response

    def until_caught_up(self, batch: int = 100) -> list[pb.ConsumerEvent]:
        """Every event up to the first keep-alive, asking for ``batch`` more whenever the requested ones are spent
        (a long retained stream needs several rounds of flow control)."""
        events = []
        while (response := self.next()).events:
            events.extend(response.events)
            if response.pending_num_requested == 0:
                self.request(batch)
        return events

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()
