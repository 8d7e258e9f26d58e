"""``sfns dead-letters ...``: see, retry and dismiss failed records from a shell.

``retry`` runs the same ``replay_dead_letters`` job as the Dagster UI, in this process (recorded in
the instance at ``DAGSTER_HOME`` when it is set), so the shell and the UI can never disagree.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sfns_pipeline.ledger.store import UNRESOLVED, DeadLetter, DeadLetterLedger, DeadLetterStatus, open_ledger

app = typer.Typer(help="Failed records kept in the dead-letter ledger.", no_args_is_help=True)

_STATUS_STYLE = {
    DeadLetterStatus.OPEN: "yellow",
    DeadLetterStatus.RETRYING: "cyan",
    DeadLetterStatus.NEEDS_ATTENTION: "bold red",
    DeadLetterStatus.RESOLVED: "green",
    DeadLetterStatus.DISMISSED: "dim",
}


def _ledger() -> DeadLetterLedger:
    from sfns_pipeline.cli import settings_or_exit  # the root CLI imports this module

    settings = settings_or_exit()
    return open_ledger(
        settings.ledger_url,
        max_attempts=settings.ledger.max_attempts,
        retry_backoff_seconds=settings.ledger.retry_backoff_seconds,
    )


def _since(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%m-%d %H:%M")


def _table(entries: list[DeadLetter], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("flow", "record", "status", "tries"):
        table.add_column(column, no_wrap=True)  # ids are copied from here: never broken across lines
    table.add_column("error", overflow="fold", ratio=1, min_width=24)
    table.add_column("failed (UTC)", no_wrap=True)
    for entry in entries:
        # Text(...) and not str: record fields must never be read as rich markup.
        record = Text(f"{entry.record_type} {entry.source_id}")
        if entry.target_id:
            record.append(f"\n→ {entry.target_id}", style="dim")
        error = Text(entry.error_code or "", style="bold")
        error.append(f"\n{entry.error_message or ''}", style="default")
        table.add_row(
            Text(entry.flow),
            record,
            Text(entry.status.value.replace("_", " "), style=_STATUS_STYLE[entry.status]),
            str(entry.attempts),
            error,
            _since(entry.last_seen),
        )
    return table


def _selection(ids: list[str] | None, every: bool) -> list[str] | None:
    if bool(ids) == every:
        Console(stderr=True).print("[bold red]Give either --id (repeatable) or --all.[/]")
        raise typer.Exit(code=2)
    return None if every else ids


@app.command("list")
def list_entries(
    flow: str | None = typer.Option(None, help="Only this flow, e.g. invoice_sync."),
    status: list[DeadLetterStatus] | None = typer.Option(None, help="Only these statuses (repeatable)."),
    every: bool = typer.Option(False, "--all", help="Include resolved and dismissed entries."),
    limit: int = typer.Option(200, help="Show at most this many."),
) -> None:
    """Show dead letters (default: the unresolved ones: open, retrying, needs attention)."""
    statuses = status or (None if every else list(UNRESOLVED))
    entries = _ledger().entries(flow, statuses=statuses, limit=limit)
    if not entries:
        Console().print("No dead letters." if every else "No unresolved dead letters.")
        return
    Console().print(_table(entries, f"{len(entries)} dead letter(s)"))


@app.command()
def retry(
    flow: str = typer.Argument(..., help="Flow whose dead letters to retry, e.g. invoice_sync."),
    ids: list[str] | None = typer.Option(None, "--id", help="Source record id to retry (repeatable)."),
    every: bool = typer.Option(False, "--all", help="Retry every open, retrying and needs-attention entry."),
) -> None:
    """Retry dead letters now (backoff ignored) through the replay_dead_letters job."""
    import dagster as dg

    from sfns_pipeline.cli import settings_or_exit
    from sfns_pipeline.definitions import build_defs

    chosen = _selection(ids, every)
    job = build_defs(settings_or_exit()).resolve_job_def("replay_dead_letters")
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    config = {"flow": flow, "ids": chosen or [], "all": every}
    console = Console()
    with console.status(f"Retrying {flow} dead letters..."):
        result = job.execute_in_process(
            run_config={"ops": {"replay": {"config": config}}}, instance=instance, raise_on_error=False
        )
    if not result.success:
        failure = result.get_run_failure_event()
        step_errors = [event.step_failure_data.error for event in result.get_step_failure_events()]
        reason = (step_errors[0].cause or step_errors[0]).message if step_errors else failure.message
        Console(stderr=True).print(Text(f"Replay run {result.run_id} failed: {reason.strip()}", style="bold red"))
        raise typer.Exit(code=1)
    entries = _ledger().entries(flow, source_ids=chosen) if chosen else _ledger().entries(flow, limit=200)
    touched = [entry for entry in entries if entry.last_run_id == result.run_id]
    if not touched:
        console.print(f"Nothing to retry for {flow} (run {result.run_id}).")
        return
    resolved = sum(entry.status is DeadLetterStatus.RESOLVED for entry in touched)
    console.print(_table(touched, f"Run {result.run_id}: {resolved} of {len(touched)} resolved"))


@app.command()
def dismiss(
    flow: str = typer.Argument(..., help="Flow whose dead letters to dismiss."),
    ids: list[str] | None = typer.Option(None, "--id", help="Source record id to dismiss (repeatable)."),
    every: bool = typer.Option(False, "--all", help="Dismiss every unresolved entry of the flow."),
) -> None:
    """Stop retrying dead letters (they stay in the ledger as dismissed)."""
    count = _ledger().dismiss(flow, source_ids=_selection(ids, every))
    Console().print(f"Dismissed {count} dead letter(s) of {flow}.")
