"""Event-to-NetSuite latency of flow 1 (customer sync): does a changed Account reach NetSuite "within seconds"?

For each size N, a sales user (its own login, so the org's trigger publishes ``AccountsEvent__e``)
first creates N Accounts, then changes all N (name and credit limit), each in sObject Collections calls
of 200. After each write the benchmark does what the Dagster daemon does: sensor ticks
(``build_sensor_context`` with the real resources) until every event is in a run request, then
``execute_in_process`` of each requested run, one after another (the deployment allows one run per
flow at a time). It then checks, untimed, that NetSuite holds exactly one customer per Account with
the new fields and that each Account carries its customer's id.

Run: ``.venv/bin/python -m bench.customer_sync --sizes 1,50,500``
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from simple_salesforce import format_soql

from bench._setup import (
    QUIET_RUN_CONFIG,
    BenchmarkFailed,
    BenchSandbox,
    Report,
    chunks,
    command_line,
    per_second,
    percentile,
    private_sandbox,
    size_list,
    timed,
)
from sfns_pipeline.salesforce.client import COLLECTION_LIMIT
from sfns_pipeline.settings import CustomerSyncSettings
from sfns_pipeline_tests.flows.sandbox_harness import CustomerFlow, customer_flow, run_metadata

MODULE = "bench.customer_sync"
MAX_TICKS = 50  # a tick takes at most batch_size x 10 events; more ticks than this means events went missing
IDS_PER_CHECK = 200  # Account ids per verification query (SuiteQL IN list, SOQL IN list)


@dataclass
class Sync:
    """One measured change: the sales user's writes, the sensor ticks and the runs they caused."""

    size: int
    change: str
    ticks: int = 0
    tick_seconds: float = 0.0
    runs: int = 0
    run_seconds: float = 0.0
    end_to_end: float = 0.0
    latencies: list[float] = field(default_factory=list)
    salesforce_calls: int = 0
    netsuite_calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


# Account id -> (when the write carrying it committed, the fields it wrote)
Written = dict[str, tuple[float, dict[str, Any]]]


def _sales_user_write(flow: CustomerFlow, method: str, records: Sequence[dict[str, Any]]) -> list[str]:
    """One sObject Collections call as the sales user, all or none (the org's trigger publishes one event each)."""
    body = {"allOrNone": True, "records": [{"attributes": {"type": "Account"}, **record} for record in records]}
    results = flow.sales.restful("composite/sobjects", method=method, json=body)
    if not all(result["success"] for result in results):
        raise BenchmarkFailed(f"the sales user's {method} was refused: {results[:3]}")
    return [result["id"] for result in results]


def create_accounts(flow: CustomerFlow, size: int, tag: str) -> Written:
    """N new Accounts, in Collections creates of 200."""
    written: Written = {}
    for batch in chunks(range(size), COLLECTION_LIMIT):
        fields = [
            {"Name": f"Bench {tag} {n}", "Payment_Terms__c": "Net 30", "Credit_Limit__c": 1000 + n} for n in batch
        ]
        ids = _sales_user_write(flow, "POST", fields)
        committed = time.perf_counter()
        written |= {account_id: (committed, f) for account_id, f in zip(ids, fields, strict=True)}
    return written


def change_accounts(flow: CustomerFlow, account_ids: Sequence[str], tag: str) -> Written:
    """A mass edit of the Accounts' name and credit limit, in Collections updates of 200."""
    written: Written = {}
    for batch in chunks(account_ids, COLLECTION_LIMIT):
        fields = [{"Name": f"Bench {tag} renamed {n}", "Credit_Limit__c": 5000 + n} for n in range(len(batch))]
        _sales_user_write(flow, "PATCH", [{"Id": i, **f} for i, f in zip(batch, fields, strict=True)])
        committed = time.perf_counter()
        written |= {account_id: (committed, f) for account_id, f in zip(batch, fields, strict=True)}
    return written


def event_accounts(request: dg.RunRequest) -> list[str]:
    return [event["Account_Id__c"] for event in request.run_config["ops"]["load"]["config"]["events"]]


def deliver(
    flow: CustomerFlow, cursor: str, sync: Sync, started: float, written: Written, batch_size: int | None
) -> str:
    """Tick until every written Account is in a run request, run them all; fill in ``sync``; the new cursor."""
    overrides = {"batch_size": batch_size} if batch_size else {}
    requests: list[dg.RunRequest] = []
    requested: set[str] = set()
    while not requested >= written.keys():
        if sync.ticks == MAX_TICKS:
            raise BenchmarkFailed(f"{len(written.keys() - requested)} event(s) never reached the sensor")
        tick, seconds = timed(lambda cursor=cursor: flow.tick(cursor, **overrides))
        sync.ticks, sync.tick_seconds, cursor = sync.ticks + 1, sync.tick_seconds + seconds, tick.cursor
        requests += tick.run_requests
        requested |= {account for request in tick.run_requests for account in event_accounts(request)}
    synced_at: dict[str, float] = {}
    for request in requests:
        quiet = dg.RunRequest(
            run_key=request.run_key, run_config={**request.run_config, **QUIET_RUN_CONFIG}, tags=request.tags
        )
        result, seconds = timed(lambda quiet=quiet: flow.run(quiet))
        finished = time.perf_counter()
        metadata = run_metadata(result)
        sync.runs, sync.run_seconds = sync.runs + 1, sync.run_seconds + seconds
        sync.salesforce_calls += metadata["salesforce_api_calls"]
        sync.netsuite_calls += metadata["netsuite_api_calls"]
        for outcome in ("created", "updated", "unchanged", "failed", "skipped"):
            sync.outcomes[outcome] = sync.outcomes.get(outcome, 0) + int(metadata.get(outcome) or 0)
        synced_at |= dict.fromkeys(event_accounts(request), finished)
    sync.end_to_end = max(synced_at.values()) - started
    sync.latencies = [synced_at[account] - committed for account, (committed, _) in written.items()]
    return cursor


def verify(flow: CustomerFlow, written: Written, sync: Sync) -> None:
    """Exactly one NetSuite customer per Account, with the written name and credit limit, its id written back."""
    expected_outcome = "created" if sync.change == "created" else "updated"
    if sync.outcomes.get(expected_outcome) != sync.size or sync.outcomes.get("failed"):
        raise BenchmarkFailed(f"{sync.change} N={sync.size}: run outcomes {sync.outcomes}")
    customers: dict[str, list[dict[str, Any]]] = {}
    accounts: dict[str, dict[str, Any]] = {}
    for ids in chunks(list(written), IDS_PER_CHECK):
        quoted = ", ".join(f"'{i}'" for i in ids)  # Salesforce ids: [A-Za-z0-9] only
        query = f"SELECT id, externalid, companyname, creditlimit FROM customer WHERE externalid IN ({quoted})"  # noqa: S608
        for page in flow.netsuite.suiteql_pages(query):
            for row in page.items:
                customers.setdefault(row["externalid"], []).append(row)
        soql = format_soql(
            "SELECT Id, NetSuite_Customer_Id__c, NetSuite_Sync_Status__c FROM Account WHERE Id IN {}", ids
        )
        accounts |= {row["Id"]: row for row in flow.sales.query_all(soql)["records"]}
    for account_id, (_, fields) in written.items():
        found = customers.get(account_id, [])
        if len(found) != 1:
            raise BenchmarkFailed(f"Account {account_id}: {len(found)} NetSuite customers, expected 1")
        (customer,) = found
        if customer["companyname"] != fields["Name"] or float(customer["creditlimit"]) != fields["Credit_Limit__c"]:
            raise BenchmarkFailed(f"Account {account_id}: NetSuite holds {customer}, expected {fields}")
        account = accounts[account_id]
        if (account["NetSuite_Customer_Id__c"], account["NetSuite_Sync_Status__c"]) != (str(customer["id"]), "Synced"):
            raise BenchmarkFailed(f"Account {account_id}: writeback {account}, expected NetSuite id {customer['id']}")


def measure(bench: BenchSandbox, sizes: list[int], batch_size: int | None) -> tuple[list[Sync], CustomerSyncSettings]:
    """Create, then change, N Accounts for each size; every record synced and checked. Also: the flow's settings."""
    measured: list[Sync] = []
    with customer_flow(bench.sandbox, bench.work_dir, bench.env) as flow:
        cursor = flow.pin()
        for size in sizes:
            tag = uuid.uuid4().hex[:6]
            created = Sync(size, "created")
            started = time.perf_counter()
            written = create_accounts(flow, size, tag)
            cursor = deliver(flow, cursor, created, started, written, batch_size)
            verify(flow, written, created)
            changed = Sync(size, "updated")
            started = time.perf_counter()
            written = change_accounts(flow, list(written), tag)
            cursor = deliver(flow, cursor, changed, started, written, batch_size)
            verify(flow, written, changed)
            measured += [created, changed]
        return measured, flow.settings.customer_sync


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=size_list, default=[1, 50, 500], help="Accounts changed per measurement")
    parser.add_argument("--batch-size", type=int, help="events per run (default: SFNS_CUSTOMER_SYNC_BATCH_SIZE)")
    args = parser.parse_args(argv)
    with private_sandbox("customer-sync") as bench:
        measured, settings = measure(bench, args.sizes, args.batch_size)
    batch_size = args.batch_size or settings.batch_size
    report = Report(
        "customer_sync — Account change → NetSuite customer (flow 1)",
        [
            "N", "change", "ticks", "tick s", "runs", "run s", "end-to-end s", "records/s",
            "p50 s", "p95 s", "SF calls", "NS calls",
        ],
    )  # fmt: skip
    for s in measured:
        report.add(
            s.size, s.change, s.ticks, s.tick_seconds, s.runs, s.run_seconds, s.end_to_end,
            per_second(s.size, s.end_to_end), percentile(s.latencies, 0.5), percentile(s.latencies, 0.95),
            s.salesforce_calls, s.netsuite_calls,
        )  # fmt: skip
    report.notes += [
        "end-to-end: from the sales user's first Collections write until the last run finished (every customer "
        "in NetSuite, its id written back); p50/p95: per Account, from its write's commit to the end of its run.",
        f"tick s: sensor evaluations (one bounded Pub/Sub fetch each); run s: sum of the "
        f"execute_in_process runs, {batch_size} events per run, run one after another.",
        "SF / NS calls: the runs' own counts from their metadata (Salesforce REST, a login only when the process "
        "holds no valid token; NetSuite REST: one write per Account). Each tick adds one Pub/Sub Subscribe stream.",
        "Not included: the daemon's wait for the next tick (minimum_interval_seconds="
        f"{settings.minimum_interval_seconds}) and Dagster's run start-up in a deployed "
        "instance, 2-11 s per run (shared/reference/dagster-facts.md §6); execute_in_process skips both.",
    ]
    report.print(command_line(MODULE, {"sizes": args.sizes, "batch_size": batch_size}))


if __name__ == "__main__":
    main()
