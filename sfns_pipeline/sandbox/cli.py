"""``sfns sandbox ...``: run, seed and drive the local emulators."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

app = typer.Typer(help="Local emulators of Salesforce and NetSuite.", no_args_is_help=True)
console = Console(stderr=True)

DEFAULT_DIR = Path(".sfns/sandbox")


@app.command()
def up(
    data_dir: Path = typer.Option(DEFAULT_DIR, help="Where state, TLS files and endpoints.json live."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    salesforce_port: int = typer.Option(8443, help="Salesforce REST/OAuth port (0 = any free port)."),
    pubsub_port: int = typer.Option(7443, help="Salesforce Pub/Sub API (gRPC) port (0 = any free port)."),
    netsuite_port: int = typer.Option(9443, help="NetSuite SOAP/REST port (0 = any free port)."),
    smtp_port: int = typer.Option(8025, help="SMTP sink port (0 = any free port)."),
    salesforce_api_daily_limit: int | None = typer.Option(
        None, min=1, help="Salesforce org's daily API request allowance.", show_default="100000"
    ),
    salesforce_token_lifetime: int | None = typer.Option(
        None, min=1, help="Seconds a Salesforce access token lives (sandbox clock).", show_default="7200"
    ),
    salesforce_event_retention_hours: float | None = typer.Option(
        None, min=0, help="Hours platform events stay replayable.", show_default="72"
    ),
    netsuite_account_id: str | None = typer.Option(None, help="NetSuite account id.", show_default="1234567_SB1"),
    netsuite_version: str | None = typer.Option(None, help="NetSuite SuiteTalk version.", show_default="2023_2"),
    netsuite_time_zone: str | None = typer.Option(
        None, help="NetSuite account time zone (IANA name).", show_default="America/Los_Angeles"
    ),
    netsuite_concurrency_limit: int | None = typer.Option(
        None, min=1, help="NetSuite account's concurrent-request limit.", show_default="5"
    ),
) -> None:
    """Run the sandboxes in the foreground until Ctrl-C / SIGTERM."""
    from sfns_pipeline.sandbox.runner import Sandbox

    ports = {"salesforce": salesforce_port, "pubsub": pubsub_port, "netsuite": netsuite_port, "smtp": smtp_port}
    # Only options given on the command line: each component owns its defaults.
    options = {
        "salesforce": _given(
            api_daily_limit=salesforce_api_daily_limit,
            token_lifetime_seconds=salesforce_token_lifetime,
            event_retention_hours=salesforce_event_retention_hours,
        ),
        "netsuite": _given(
            account_id=netsuite_account_id,
            version=netsuite_version,
            time_zone=netsuite_time_zone,
            concurrency_limit=netsuite_concurrency_limit,
        ),
    }
    sandbox = Sandbox(data_dir, host=host, ports=ports, options=options)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        sandbox.start()
    except OSError as exc:
        console.print(f"[bold red]Could not start the sandbox: {exc}[/] (is another sandbox running? try port 0)")
        raise typer.Exit(code=1) from None
    typer.echo(f"sandbox ready: {sandbox.endpoints_file}", err=False)
    try:
        stopping.wait()
    finally:
        sandbox.stop()
        console.print("sandbox stopped")


def _given(**options: object) -> dict[str, object]:
    """The options that were set (not None)."""
    return {name: value for name, value in options.items() if value is not None}


def _endpoints(data_dir: Path) -> dict:
    endpoints_file = data_dir / "endpoints.json"
    if not endpoints_file.exists():
        console.print(
            f"[bold red]No running sandbox: {endpoints_file} is missing.[/] Start one with `sfns sandbox up`."
        )
        raise typer.Exit(code=1)
    return json.loads(endpoints_file.read_text())


@app.command()
def seed(
    data_dir: Path = typer.Option(DEFAULT_DIR, help="Data dir of the running sandbox."),
    seed: int = typer.Option(7, help="Same seed, same distributor."),
) -> None:
    """Load a believable distributor into both running sandboxes (items and SKUs match across systems)."""
    from sfns_pipeline.sandbox.netsuite.seed import seed_netsuite
    from sfns_pipeline.sandbox.salesforce.seed import seed_salesforce

    endpoints = _endpoints(data_dir)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        netsuite = seed_netsuite(endpoints, seed, progress)
        salesforce = seed_salesforce(endpoints, seed, progress)
    console.print(f"NetSuite: {netsuite.get('items')} items, {len(netsuite.get('customers', []))} customers")
    console.print("Salesforce: " + ", ".join(f"{count} {name}" for name, count in salesforce.items()))


@app.command()
def simulate(
    data_dir: Path = typer.Option(DEFAULT_DIR, help="Data dir of the running sandbox."),
    rounds: int = typer.Option(0, help="Rounds to run (0 = until Ctrl-C)."),
    interval: float = typer.Option(20.0, help="Seconds between rounds."),
    batch: int = typer.Option(3, help="Records touched per kind and round."),
) -> None:
    """Simulate sales (Salesforce) and finance (NetSuite) activity so every flow has fresh work."""
    from sfns_pipeline.sandbox.simulate import Simulator

    simulator = Simulator(_endpoints(data_dir))
    done = 0
    try:
        while rounds == 0 or done < rounds:
            done += 1
            console.print(f"round {done}: {simulator.step(batch=batch)}")
            if rounds == 0 or done < rounds:
                time.sleep(interval)
    except KeyboardInterrupt:
        console.print("simulation stopped")
