"""One 15-minute window of flow 3a (invoice sync): what a window of N invoices costs, and what a re-run costs.

For each size N, NetSuite bills N sales orders of one customer inside its own past window (the sandbox
clock is moved there, as the invoice tests do), and the customer's Account and Orders are put in
Salesforce with their NetSuite ids (what flows 1 and 2 would have written). Then the window is
materialized through the real asset and its reconciliation check (``materialize`` on an ephemeral
instance, the production resources), and materialized again: the re-run must write nothing.

Run: ``.venv/bin/python -m bench.invoice_window --sizes 50,500,2000``
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from bench._setup import (
    QUIET_RUN_CONFIG,
    BenchmarkFailed,
    Report,
    command_line,
    per_second,
    private_sandbox,
    size_list,
    step_seconds,
    timed,
)
from sfns_pipeline.flows.invoices import invoice_defs, invoice_sync, invoice_windows
from sfns_pipeline.salesforce.client import COLLECTION_LIMIT
from sfns_pipeline_tests.flows.transaction_harness import Harness, check_result, metadata

MODULE = "bench.invoice_window"
ASSET = invoice_defs.asset.key.to_user_string()  # salesforce_invoices: also its step key
FIRST_WINDOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # each size gets its own window, an hour apart


@dataclass
class WindowRun:
    """One materialization of the window: wall seconds, per-step seconds and the asset's metadata."""

    seconds: float
    sync_seconds: float
    check_seconds: float
    stats: dict[str, Any]
    check_passed: bool

    @property
    def written(self) -> int:
        return int(self.stats["created"]) + int(self.stats["updated"])


def bill_window(harness: Harness, window: datetime, size: int) -> None:
    """N invoices of one customer, all last modified inside ``window``; their parents in Salesforce."""
    harness.at(window + timedelta(minutes=1))
    customer = harness.customer(in_salesforce=False)
    billed = harness.bill(customer, size, in_salesforce=False)
    # Back to the present before touching Salesforce: a token issued on the moved clock would look expired
    # to the runs, and a re-login would be counted in their API calls.
    harness.sandbox.clock.set_offset(0)
    harness.sync_parents(customer, billed)


def materialize(harness: Harness, partition_key: str) -> WindowRun:
    """The window's asset and check, on a fresh ephemeral instance, timed."""
    with dg.DagsterInstance.ephemeral() as instance:  # disposed here: its SQLite must not be freed by another thread
        result, seconds = timed(
            lambda: harness.materialize(invoice_defs, partition_key, instance=instance, run_config=QUIET_RUN_CONFIG)
        )
        steps = step_seconds(instance, result.run_id)
    check = sum(duration for step, duration in steps.items() if step != ASSET)
    return WindowRun(seconds, steps[ASSET], check, metadata(result, ASSET), check_result(result).passed)


def verify(size: int, first: WindowRun, again: WindowRun) -> None:
    """Every invoice landed once; the re-run found them all unchanged and wrote nothing."""
    stats = first.stats
    if (stats["fetched"], stats["created"], stats["failed"]) != (size, size, 0) or not first.check_passed:
        raise BenchmarkFailed(f"N={size}: first run {stats}, reconciled={first.check_passed}")
    if (again.written, again.stats["unchanged"], again.stats["failed"]) != (0, size, 0) or not again.check_passed:
        raise BenchmarkFailed(f"N={size}: re-run {again.stats}, reconciled={again.check_passed}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=size_list, default=[50, 500, 2000], help="invoices in the window")
    args = parser.parse_args(argv)
    page_size = invoice_sync.settings.page_size
    report = Report(
        "invoice_window — one 15-minute window of NetSuite invoices → NetSuite_Invoice__c (flow 3a)",
        [
            "N", "pages", "run s", "sync step s", "check step s", "records/s", "SF calls", "NS calls",
            "re-run s", "re-run SF calls", "re-run writes",
        ],
    )  # fmt: skip
    with private_sandbox("invoice-window") as bench:
        harness = Harness.start(bench.sandbox, bench.work_dir, bench.env)
        for index, size in enumerate(args.sizes):
            window = FIRST_WINDOW + timedelta(hours=index)
            bill_window(harness, window, size)
            partition_key = invoice_windows.get_partition_key_for_timestamp(window.timestamp())
            first = materialize(harness, partition_key)
            again = materialize(harness, partition_key)
            verify(size, first, again)
            stats = first.stats
            report.add(
                size, stats["pages"], first.seconds, first.sync_seconds, first.check_seconds,
                per_second(size, first.sync_seconds), stats["salesforce_api_calls"], stats["netsuite_api_calls"],
                again.seconds, again.stats["salesforce_api_calls"], again.written,
            )  # fmt: skip
    expected = ", ".join(f"N={n}: {2 * math.ceil(n / COLLECTION_LIMIT)}" for n in args.sizes)
    report.notes += [
        f"pages: SuiteQL pages of SFNS_INVOICE_SYNC_PAGE_SIZE={page_size}; NS calls: one per page.",
        "run s: the whole materialize (asset + reconciliation check, run start-up included); sync step s: the "
        "asset's step alone, which records/s is based on; check step s: the reconciliation check.",
        f"SF calls (the asset's own): per 200 records one SOQL read and one Collections upsert, i.e. {expected}, "
        "plus a login when the process holds no valid token. A re-run reads the same and upserts nothing: "
        "re-run writes must be 0.",
        "Not included: the watermark sensor's tick and Dagster's run start-up in a deployed instance, 2-11 s per "
        "run (shared/reference/dagster-facts.md §6); materialize() runs in-process.",
    ]
    report.print(command_line(MODULE, {"sizes": args.sizes}))


if __name__ == "__main__":
    main()
