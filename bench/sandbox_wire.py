"""Raw throughput of the sandboxes over the wire, with the real clients: what the emulators carry in tests.

Each operation goes through the client the pipeline uses in production (simple-salesforce, the
pipeline's Salesforce and NetSuite REST clients, its Pub/Sub gRPC client) over HTTPS/gRPC with TLS
verification on. Rows to read are seeded beforehand through the sandbox backends (untimed); rows
written are checked afterwards. One timed unit is one call (or one whole ``query_all`` / fetch), so
p50/p95 are per call.

Run: ``.venv/bin/python -m bench.sandbox_wire`` (options for bigger or smaller runs: ``--help``)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from bench._setup import (
    BenchmarkFailed,
    BenchSandbox,
    Report,
    chunks,
    command_line,
    per_second,
    percentile,
    private_sandbox,
    timed,
)
from sfns_pipeline.netsuite.rest import NetSuiteRestClient
from sfns_pipeline.resources import build_resources
from sfns_pipeline.salesforce.client import COLLECTION_LIMIT, SalesforceClient
from sfns_pipeline.salesforce.pubsub import PubSubClient
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline.settings import Settings
from sfns_pipeline_tests.flows.sandbox_harness import load_reference_data, sandbox_settings

MODULE = "bench.sandbox_wire"
PUBLISH_BATCH = 100  # events per Publish call
FETCH_WAIT_SECONDS = 30.0  # a fetch returns at the first keep-alive; this only bounds a stuck stream


@dataclass
class Operation:
    """One measured operation: each timed unit's seconds, and the calls and records it took in total."""

    name: str
    client: str
    unit: str
    seconds: list[float] = field(default_factory=list)
    calls: int = 0
    records: int = 0

    def time(self, work: Callable[[], Any]) -> Any:
        """Run and time one unit."""
        result, seconds = timed(work)
        self.seconds.append(seconds)
        return result


class Clients:
    """The pipeline's clients for the sandbox, built from its ``SFNS_*`` settings as a deployment builds them."""

    def __init__(self, settings: Settings) -> None:
        resources = build_resources(settings)
        self._context = dg.build_resources({key: resources[key] for key in ("salesforce", "netsuite", "pubsub")})
        self.settings = settings

    def __enter__(self) -> Clients:
        built = self._context.__enter__()
        self.salesforce: SalesforceClient = built.salesforce.get_client()
        self.netsuite: NetSuiteRestClient = built.netsuite.get_client()
        self.pubsub: PubSubClient = built.pubsub.get_client()
        # every Salesforce REST request, simple-salesforce's own included (requests' documented response hook)
        self.salesforce_requests = 0
        self.salesforce.session.hooks["response"].append(self._count_salesforce_request)
        return self

    def _count_salesforce_request(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.salesforce_requests += 1

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)


def soql_query_all(clients: Clients, sandbox: Sandbox, rows: int, repeat: int) -> Operation:
    """``query_all`` of ``rows`` Accounts (seeded in the org directly), ``repeat`` times."""
    backend = sandbox.components["salesforce"].backend
    actor = backend.actors["integration"]
    for batch in chunks(range(rows), COLLECTION_LIMIT):
        records = [{"attributes": {"type": "Account"}, "Name": f"Wire read {n}"} for n in batch]
        backend.collection("create", records, actor, all_or_none=True)
    operation = Operation(f"SOQL query_all, {rows:,} rows", "simple-salesforce", "one query_all")
    before = clients.salesforce_requests
    for _ in range(repeat):
        result = operation.time(lambda: clients.salesforce.sf.query_all("SELECT Id, Name FROM Account"))
        if len(result["records"]) != rows:
            raise BenchmarkFailed(f"query_all returned {len(result['records'])} rows, {rows} were seeded")
        operation.records += rows
    operation.calls = clients.salesforce_requests - before
    return operation


def collections_upsert(clients: Clients, calls: int, size: int) -> Operation:
    """``calls`` sObject Collections upserts of ``size`` new Accounts, keyed by NetSuite customer id."""
    operation = Operation(f"Collections upsert, {size} x {calls}", "SalesforceClient.upsert", f"one call of {size}")
    before = clients.salesforce.usage.calls
    for call in range(calls):
        records = [
            {"NetSuite_Customer_Id__c": f"WIRE-{call}-{n}", "Name": f"Wire write {call}-{n}"} for n in range(size)
        ]
        results = operation.time(
            lambda r=records: clients.salesforce.upsert("Account", r, key="NetSuite_Customer_Id__c")
        )
        if not all(result.success and result.created for result in results):
            raise BenchmarkFailed(f"Collections upsert: {[r for r in results if not r.success][:3]}")
        operation.records += size
    operation.calls = clients.salesforce.usage.calls - before
    return operation


def rest_upsert(clients: Clients, count: int) -> Operation:
    """``count`` NetSuite customers written one by one with ``PUT customer/eid:…``."""
    subsidiary, _ = load_reference_data(clients.netsuite)
    operation = Operation(f"REST record upsert (PUT eid:) x {count}", "NetSuiteRestClient.upsert", "one record")
    before = clients.netsuite.calls
    for n in range(count):
        body = {"companyName": f"Wire customer {n}", "subsidiary": {"id": subsidiary}}
        operation.time(lambda n=n, body=body: clients.netsuite.upsert("customer", f"WIRE-CUST-{n}", body))
        operation.records += 1
    operation.calls = clients.netsuite.calls - before
    return operation


def suiteql_paging(clients: Clients, sandbox: Sandbox, rows: int, page_size: int, repeat: int) -> Operation:
    """``rows`` customers (seeded in the account directly) read with SuiteQL, ``page_size`` per page."""
    backend = sandbox.components["netsuite"].backend
    subsidiary = backend.create("subsidiary", {"name": "Wire subsidiary"})
    first = int(backend.create("customer", {"companyName": "Wire read 0", "subsidiary": {"id": subsidiary}}))
    for n in range(1, rows):
        backend.create("customer", {"companyName": f"Wire read {n}", "subsidiary": {"id": subsidiary}})
    query = "SELECT id, companyname FROM customer WHERE id >= ? ORDER BY id"
    operation = Operation(f"SuiteQL, {rows:,} rows at {page_size:,}/page", "NetSuiteRestClient.suiteql", "one page")
    before = clients.netsuite.calls
    for _ in range(repeat):
        pages = clients.netsuite.suiteql_pages(query, [first], page_size=page_size)
        read = sum(len(page.items) for page in _timed_pages(operation, pages))
        if read != rows:
            raise BenchmarkFailed(f"SuiteQL paging read {read} rows, {rows} were seeded")
        operation.records += read
    operation.calls = clients.netsuite.calls - before
    return operation


def _timed_pages(operation: Operation, pages: Iterator[Any]) -> Iterator[Any]:
    while True:
        start = time.perf_counter()
        page = next(pages, None)
        if page is None:
            return
        operation.seconds.append(time.perf_counter() - start)
        yield page


def pubsub_round_trip(clients: Clients, sandbox: Sandbox, count: int, repeat: int) -> list[Operation]:
    """Publish ``count`` events, then fetch the same ``count`` from the position before them, ``repeat`` times."""
    topic = clients.settings.customer_sync.topic
    author = sandbox.endpoints["salesforce"]["integration_user_id"]
    pin = clients.pubsub.fetch(topic, preset="LATEST", max_events=1, wait_seconds=FETCH_WAIT_SECONDS).latest_replay_id
    publish = Operation(
        f"Pub/Sub publish, {count:,} events", "PubSubClient.publish", f"one Publish of ≤{PUBLISH_BATCH}"
    )
    for batch in chunks(range(count), PUBLISH_BATCH):
        payloads = [
            {"Account_Id__c": f"001WIRE{n:011d}", "Change_Type__c": "UPDATE", "CreatedById": author} for n in batch
        ]
        publish.time(lambda p=payloads: clients.pubsub.publish(topic, p))
        publish.calls += 1
        publish.records += len(payloads)
    fetch = Operation(f"Pub/Sub fetch, {count:,} events", "PubSubClient.fetch", "one fetch (Subscribe stream)")
    for _ in range(repeat):
        result = fetch.time(
            lambda: clients.pubsub.fetch(
                topic, replay_id=pin, preset="EARLIEST", max_events=count, wait_seconds=FETCH_WAIT_SECONDS
            )
        )
        if len(result.events) != count:
            raise BenchmarkFailed(f"Pub/Sub fetch delivered {len(result.events)} of {count} events")
        fetch.calls += 1
        fetch.records += count
    return [publish, fetch]


def measure(bench: BenchSandbox, args: argparse.Namespace) -> list[Operation]:
    """Every operation against one sandbox, in an order where none sees another's records."""
    settings = sandbox_settings(bench.sandbox, bench.work_dir / "state", bench.env)
    with Clients(settings) as clients:
        return [
            soql_query_all(clients, bench.sandbox, args.query_rows, args.repeat),  # before any other Account exists
            collections_upsert(clients, args.collection_calls, args.collection_size),
            rest_upsert(clients, args.rest_upserts),
            suiteql_paging(clients, bench.sandbox, args.suiteql_rows, args.suiteql_page, args.repeat),
            *pubsub_round_trip(clients, bench.sandbox, args.events, args.repeat),
        ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--query-rows", type=int, default=5000, help="Accounts read by SOQL query_all")
    parser.add_argument("--collection-calls", type=int, default=10, help="Collections upsert calls")
    parser.add_argument("--collection-size", type=int, default=COLLECTION_LIMIT, help="records per Collections call")
    parser.add_argument("--rest-upserts", type=int, default=100, help="NetSuite REST upserts, one record each")
    parser.add_argument("--suiteql-rows", type=int, default=5000, help="rows read by SuiteQL paging")
    parser.add_argument("--suiteql-page", type=int, default=1000, help="SuiteQL page size (≤ 1000)")
    parser.add_argument("--events", type=int, default=1000, help="Platform Events published and fetched")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each read")
    args = parser.parse_args(argv)
    if min(vars(args).values()) < 1 or args.collection_size > COLLECTION_LIMIT or args.suiteql_page > 1000:
        parser.error("every count must be at least 1; --collection-size ≤ 200; --suiteql-page ≤ 1000")
    with private_sandbox("sandbox-wire") as bench:
        operations = measure(bench, args)
    report = Report(
        "sandbox_wire — raw sandbox throughput with the real clients",
        ["operation", "client", "timed unit", "units", "calls", "records", "seconds", "records/s", "p50 ms", "p95 ms"],
    )
    for op in operations:
        total = sum(op.seconds)
        report.add(
            op.name, op.client, op.unit, len(op.seconds), op.calls, op.records, total, per_second(op.records, total),
            percentile(op.seconds, 0.5) * 1000, percentile(op.seconds, 0.95) * 1000,
        )  # fmt: skip
    report.notes += [
        "calls: HTTP requests (query_more pages included) or gRPC calls; the Pub/Sub fetch "
        "is one Subscribe stream that asks for events 100 at a time (flow control).",
        "seconds: the sum of the timed units; reads are repeated (--repeat), so records counts every repetition.",
        "Both sandboxes run in this process (threads), so client and server share the same cores.",
    ]
    report.print(command_line(MODULE, vars(args)))


if __name__ == "__main__":
    main()
