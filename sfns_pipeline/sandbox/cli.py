"""``sfns sandbox ...``: run, seed and drive the local emulators."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer
from rich.console import Console

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
) -> None:
    """Run the sandboxes in the foreground until Ctrl-C / SIGTERM."""
    from sfns_pipeline.sandbox.runner import Sandbox

    ports = {"salesforce": salesforce_port, "pubsub": pubsub_port, "netsuite": netsuite_port, "smtp": smtp_port}
    sandbox = Sandbox(data_dir, host=host, ports=ports)
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
