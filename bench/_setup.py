"""What every benchmark shares: a sandbox of its own, the clock, percentiles and the figures report.

A benchmark starts both sandboxes in-process on free ports in a temporary directory, points the pipeline
at them with the same ``SFNS_*`` variables a deployment sets (scoped to the benchmark), and prints a
report: date, machine, the command that reproduces it, one Markdown table and notes. It exits non-zero
only when the run itself fails (:class:`BenchmarkFailed`, or any error), never because of a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pytest

from sfns_pipeline.sandbox.runner import Sandbox

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Run config for in-process runs: Dagster's console logger prints every event at DEBUG by default; the
# figures should not include (nor drown in) a terminal's worth of log lines. The event log is still kept.
QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
T = TypeVar("T")


class BenchmarkFailed(RuntimeError):
    """The benchmark's run did not do what it measures (a record missing, a duplicate, a failed run)."""


@dataclass
class BenchSandbox:
    """A running sandbox, the benchmark's scratch directory and its scoped environment variables."""

    sandbox: Sandbox
    work_dir: Path
    env: pytest.MonkeyPatch  # what the test harnesses take to set SFNS_* variables; undone on exit


@contextlib.contextmanager
def private_sandbox(name: str) -> Iterator[BenchSandbox]:
    """Both sandboxes on free ports with state in a fresh temporary directory, removed afterwards."""
    # werkzeug logs each request to stderr synchronously: a cost the figures should not carry
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with (
        tempfile.TemporaryDirectory(prefix=f"sfns-bench-{name}-") as scratch,
        pytest.MonkeyPatch.context() as env,
        Sandbox(Path(scratch) / "sandbox") as sandbox,  # no ports given: every service takes a free one
    ):
        yield BenchSandbox(sandbox, Path(scratch), env)


# -- measuring -----------------------------------------------------------------------------------------
def timed(work: Callable[[], T]) -> tuple[T, float]:
    """``work()``'s result and its wall seconds."""
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1): always one of the measured values, never interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def per_second(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a run (STEP_START → STEP_SUCCESS/FAILURE), by step key."""
    started: dict[str, float] = {}
    durations: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            durations[event.step_key] = entry.timestamp - started[event.step_key]
    return durations


def size_list(text: str) -> list[int]:
    """``"1,50,500"`` → ``[1, 50, 500]`` (an argparse type)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated record counts, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("every size must be at least 1")
    return sizes


# -- reporting -----------------------------------------------------------------------------------------
def machine() -> str:
    """Cores, CPU model, OS and the versions that matter for the figures."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    model = _cpu_model()
    load = f", load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") else ""
    return (
        f"{usable} cores usable of {cores}{f' ({model})' if model else ''}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, dagster {dg.__version__}{load}"
    )


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return ""


def command_line(module: str, options: dict[str, Any]) -> str:
    """The command that reproduces this run, every option spelled out (defaults included)."""
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(PROJECT_ROOT)  # the project venv: `.venv/bin/python`
    words = [str(python), "-m", module]
    for name, value in options.items():
        shown = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        words += [f"--{name.replace('_', '-')}", shown]
    return shlex.join(words)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class Report:
    """The figures of one benchmark run: a title, one table and notes on how to read it."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        """One table row; floats are shown with 3 significant digits (or as whole numbers from 100)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([_cell(cell) for cell in cells])

    def table(self) -> str:
        """The rows as a Markdown table (pastes into bench/README.md as it is)."""
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def print(self, command: str) -> None:
        """Print date, machine, command, table and notes to stdout."""
        print(
            f"\n## {self.title}\n\n"
            f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
            f"machine: {machine()}\n"
            f"command: {command}   (from {PROJECT_ROOT})\n\n"
            f"{self.table()}\n",
            flush=True,
        )
        for note in self.notes:
            print(f"- {note}")
        sys.stdout.flush()
