"""The benchmarks keep working: each runs at its smallest size, exits 0 and prints its figures.

No timing is asserted (timing goals live in bench/, and are read by people, not by tests). Each
benchmark runs as a user runs it, ``python -m bench.<name>`` from the project root, in its own process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

SMALLEST = {
    "customer_sync": (["--sizes", "1"], ["| N | change |", "| 1 | created |", "| 1 | updated |"]),
    "invoice_window": (["--sizes", "1"], ["| N | pages |", "| 1 | 1 |"]),
    "sandbox_wire": (
        [
            *("--query-rows", "3", "--collection-calls", "1", "--collection-size", "2", "--rest-upserts", "1"),
            *("--suiteql-rows", "3", "--suiteql-page", "2", "--events", "3", "--repeat", "1"),
        ],
        ["| operation | client |", "| SOQL query_all, 3 rows |", "| Pub/Sub fetch, 3 events |"],
    ),
}


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_benchmark_runs_at_its_smallest_size_and_prints_its_figures(name):
    options, expected_lines = SMALLEST[name]

    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *options],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "machine: " in out and " cores" in out
    for line in expected_lines:
        assert line in out, out
    # the command printed reproduces this run: this benchmark, every option given
    (command,) = [line for line in out.splitlines() if line.startswith("command: ")]
    assert f" -m bench.{name} " in command
    for option, value in zip(options[::2], options[1::2], strict=True):
        assert f"{option} {value}" in command
