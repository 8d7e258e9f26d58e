"""Shared fixtures: the sandboxes run in-process on free ports, with state in a temporary dir."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sfns_pipeline.sandbox.runner import Sandbox

FREE_PORTS = {"salesforce": 0, "pubsub": 0, "netsuite": 0, "smtp": 0}


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    """One running sandbox for the session: tests must create their own records (unique names/ids)."""
    with Sandbox(tmp_path_factory.mktemp("sandbox"), ports=dict(FREE_PORTS)) as running:
        yield running


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    """A sandbox for one test module that moves the clock to other dates: events and tokens created at a
    moved clock would look expired to tests sharing the session sandbox."""
    with Sandbox(tmp_path_factory.mktemp("module-sandbox"), ports=dict(FREE_PORTS)) as running:
        yield running


@pytest.fixture
def fresh_sandbox(tmp_path) -> Iterator[Sandbox]:
    """A sandbox of its own, for tests that count records, spend limits or skew clocks."""
    with Sandbox(tmp_path / "sandbox", ports=dict(FREE_PORTS)) as running:
        yield running


@pytest.fixture(autouse=True)
def _clear_faults(request) -> Iterator[None]:
    """Fault rules and clock skew never leak from one test into the next."""
    yield
    for name in ("sandbox", "module_sandbox"):
        if name in request.fixturenames:
            running: Sandbox = request.getfixturevalue(name)
            running.faults.clear()
            running.clock.set_offset(0)
