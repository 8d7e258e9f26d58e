"""The ``sfns`` command line: sandboxes, diagnostics and the demo.

Every command validates settings first, so a bad ``SFNS_*`` variable is reported as one readable
message instead of a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

from sfns_pipeline.ledger import cli as ledger_cli
from sfns_pipeline.sandbox import cli as sandbox_cli
from sfns_pipeline.sandbox_profile import apply_sandbox_environment, sandbox_environment
from sfns_pipeline.settings import SettingsError, get_settings

app = typer.Typer(
    name="sfns",
    help="Salesforce ⇄ NetSuite integration for wholesale distributors.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(ledger_cli.app, name="dead-letters")
console = Console(stderr=True)


def settings_or_exit():
    """Validated settings, or a clear message and exit code 2."""
    try:
        return get_settings()
    except SettingsError as exc:
        console.print(f"[bold red]{exc}[/]")
        raise typer.Exit(code=2) from None


@app.command()
def settings() -> None:
    """Validate the configuration and print it (secrets masked)."""
    apply_sandbox_environment()
    loaded = settings_or_exit()
    Console().print_json(loaded.model_dump_json(indent=2))


def main() -> None:  # pragma: no cover - console-script entry
    """The ``sfns`` console script."""
    app()


@app.command()
def doctor() -> None:
    """Check that Salesforce, the Pub/Sub API, NetSuite, the ledger and SMTP answer with the configured settings."""
    from rich.table import Table

    from sfns_pipeline.doctor import run_checks

    apply_sandbox_environment()
    results = run_checks(settings_or_exit())
    table = Table("check", "", "detail", title="sfns doctor")
    for result in results:
        table.add_row(result.name, "[green]ok[/]" if result.ok else "[bold red]FAILED[/]", result.detail)
    Console().print(table)
    if not all(result.ok for result in results):
        raise typer.Exit(code=1)


@app.command()
def demo(
    port: int = typer.Option(3000, help="Port of the Dagster UI."),
    sandbox_dir: Path = typer.Option(Path(".sfns/sandbox"), help="Sandbox data dir."),
    simulate_every: float = typer.Option(20.0, help="Seconds between rounds of simulated sales/finance activity."),
) -> None:
    """Start the sandboxes, seed them, start Dagster (UI on http://localhost:3000) and simulate activity."""
    settings_or_exit()
    endpoints_file = sandbox_dir / "endpoints.json"
    endpoints_file.unlink(missing_ok=True)
    sfns = [sys.executable, "-m", "sfns_pipeline.cli", "sandbox"]
    children = [subprocess.Popen([*sfns, "up", "--data-dir", str(sandbox_dir)])]  # noqa: S603 - fixed argv
    try:
        _wait_for(endpoints_file, children[0])
        subprocess.run([*sfns, "seed", "--data-dir", str(sandbox_dir)], check=True)  # noqa: S603
        environment = os.environ | sandbox_environment(endpoints_file)
        environment.setdefault("DAGSTER_HOME", str(Path(".sfns/dagster_home").resolve()))
        for flow in ("INVOICE_SYNC", "REFUND_SYNC", "SHIP_CONFIRM_SYNC"):  # the demo's history is minutes old
            environment.setdefault(f"SFNS_{flow}_FIRST_RUN_LOOKBACK_MINUTES", "60")
        Path(environment["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        simulate = [*sfns, "simulate", "--data-dir", str(sandbox_dir), "--interval", str(simulate_every)]
        children.append(subprocess.Popen(simulate))  # noqa: S603
        console.print(f"Dagster UI: http://localhost:{port}")
        dagster = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)]
        subprocess.run(dagster, env=environment, check=False)  # noqa: S603
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as exc:
        console.print(f"[bold red]Seeding the sandbox failed (exit {exc.returncode}); see the output above.[/]")
        raise typer.Exit(code=1) from None
    finally:
        for child in reversed(children):
            child.terminate()
            child.wait(timeout=30)


def _wait_for(endpoints_file: Path, sandbox: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not endpoints_file.exists():
        if sandbox.poll() is not None or time.monotonic() > deadline:
            console.print("[bold red]The sandbox did not start; see its output above.[/]")
            raise typer.Exit(code=1)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
