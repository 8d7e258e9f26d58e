"""Start every sandbox service on one host, and describe them in ``endpoints.json``.

``endpoints.json`` holds everything a client needs (URLs, credentials, the CA file): the pipeline,
the tests and the demo read it; nothing else about the sandbox is shared with them.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.faults import FaultInjector
from sfns_pipeline.sandbox.tls import SandboxTLS

# Each entry: "module:Class" of a SandboxComponent, imported when the sandbox starts (so importing the
# runner stays cheap); `Sandbox(components=[...])` starts a subset.
COMPONENTS: list[str] = [
    "sfns_pipeline.sandbox.mail:SmtpSink",
    "sfns_pipeline.sandbox.netsuite.component:NetSuiteSandbox",
    "sfns_pipeline.sandbox.salesforce.component:SalesforceSandbox",
]


@dataclass
class SandboxContext:
    """What every component shares: where state lives, the host, TLS, the clock and the fault rules."""

    data_dir: Path
    host: str
    tls: SandboxTLS
    clock: SandboxClock
    faults: FaultInjector
    ports: dict[str, int] = field(default_factory=dict)  # requested ports by name; 0 = any free port
    options: dict[str, Any] = field(default_factory=dict)  # component options (e.g. token lifetime)


class SandboxComponent(Protocol):
    """One emulated system (or part of one): starts its servers and says how to reach them."""

    name: str

    def start(self, context: SandboxContext) -> dict[str, Any]:
        """Start serving; return this component's section of ``endpoints.json``."""

    def stop(self) -> None:
        """Stop serving and release files."""


def _load(path: str) -> type[SandboxComponent]:
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


class Sandbox:
    """All sandbox services in one process: ``with Sandbox(dir) as sandbox: sandbox.endpoints[...]``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
        options: dict[str, Any] | None = None,
        components: list[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.clock = SandboxClock()
        self.faults = FaultInjector()
        self.host = host
        self.ports = ports or {}
        self.options = options or {}
        self._component_paths = COMPONENTS if components is None else components
        self.components: dict[str, SandboxComponent] = {}
        self.endpoints: dict[str, Any] = {}

    @property
    def endpoints_file(self) -> Path:
        """Where ``start`` writes the endpoints of every component."""
        return self.data_dir / "endpoints.json"

    def start(self) -> dict[str, Any]:
        """Start every component and write ``endpoints.json`` atomically; returns its content."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tls = SandboxTLS.load_or_create(self.data_dir / "tls")
        context = SandboxContext(
            data_dir=self.data_dir,
            host=self.host,
            tls=tls,
            clock=self.clock,
            faults=self.faults,
            ports=self.ports,
            options=self.options,
        )
        self.endpoints = {"ca_cert": str(tls.ca_cert)}
        try:
            for path in self._component_paths:
                component = _load(path)()
                self.endpoints[component.name] = component.start(context)
                self.components[component.name] = component
        except BaseException:
            self.stop()
            raise
        self._write_endpoints()
        return self.endpoints

    def _write_endpoints(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".endpoints.", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.endpoints, handle, indent=2)
        os.chmod(tmp, 0o600)  # sandbox credentials, but credentials all the same
        os.replace(tmp, self.endpoints_file)

    def stop(self) -> None:
        """Stop every started component (in reverse order) and remove ``endpoints.json``."""
        for component in reversed(list(self.components.values())):
            component.stop()
        self.components.clear()
        self.endpoints_file.unlink(missing_ok=True)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
