"""How every flow ends a run: record outcomes → Dagster metadata, dead letters and one error email.

Usage, for flow authors — as :mod:`.transaction_sync`'s asset does it (in an op, pass the returned
metadata to ``context.add_output_metadata``)::

    retry = claim_dead_letters(context, flow=sync.flow, ledger=ledger)    # dead letters due for another attempt
    report = sync_records(sync, ns, sf, window=window, retry_ids=[entry.source_id for entry in retry])
    metadata = report_outcomes(context, flow=sync.flow, outcomes=report.outcomes, ledger=ledger,
                               mailer=mailer, window=window)              # one RecordOutcome per record
    return dg.MaterializeResult(metadata=metadata)

and tag the flow's job with ``flow_tags(flow)`` so run-failure emails reach the flow's recipients.
How an operator's retry re-attempts a flow's dead letters (``register_replay``) is in :mod:`.dead_letters`.

The ``ledger`` and ``mailer`` resources are defined once in ``definitions.py`` from the settings.

What :func:`report_outcomes` does, in order:

1. scrubs every failure (message, error code, payload) with :class:`~sfns_pipeline.notify.redaction.Redactor`
   — known secret values and secret-shaped text — so nothing below ever sees a credential;
2. writes the ledger in one transaction: failures upserted (attempts counted, backoff scheduled,
   "needs attention" when attempts run out), successes resolve their dead letters, dead letters this
   run claimed but did not report are released;
3. logs a summary and each failure (capped) to the Dagster event log;
4. sends one digest email for the run when anything failed, to the flow's recipients
   (``SFNS_<FLOW>_RECIPIENTS``, else ``SFNS_EMAIL_RECIPIENTS``) — a mail server that is down is logged,
   never raised;
5. returns metadata: counts per outcome, the failed records as a Markdown table (first
   :data:`MAX_TABLE_ROWS`), resolved / needs-attention counts, the email's fate and the run link.

A record that fails is one ``failed`` outcome. Raise only for systemic failures (auth, outage, a bug):
the run then fails and ``email_on_run_failure`` (:mod:`.dead_letters`) sends its own email.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg

from sfns_pipeline.ledger import DeadLetter, DeadLetterStatus, LedgerUpdate
from sfns_pipeline.ledger.resource import LedgerResource
from sfns_pipeline.notify.messages import FailedRecordRow, failure_digest
from sfns_pipeline.notify.redaction import Redactor
from sfns_pipeline.notify.resource import MailerResource
from sfns_pipeline.outcomes import Flow, RecordOutcome, System, count_outcomes
from sfns_pipeline.settings import get_settings

FLOW_TAG = "sfns/flow"  # on a flow's runs: routes run-failure emails to the flow's recipients
MAX_TABLE_ROWS = 50  # failed records shown in run metadata (all of them are in the ledger)
MAX_LOGGED_FAILURES = 50
_MAX_CELL = 300

Context = dg.AssetExecutionContext | dg.OpExecutionContext


def flow_tags(flow: Flow) -> dict[str, str]:
    """Run tags for a flow's jobs (``@dg.job(tags=...)``, ``define_asset_job(tags=...)``, ``RunRequest(tags=...)``),
    so run-failure emails reach the flow's recipients."""
    return {FLOW_TAG: flow.name}


def claim_dead_letters(context: Context, *, flow: Flow, ledger: LedgerResource, limit: int = 200) -> list[DeadLetter]:
    """The flow's dead letters due for an automatic retry, claimed for this run.

    Report an outcome for each through :func:`report_outcomes`; any left out are released then.
    """
    entries = ledger.ledger().claim_due(flow.name, run_id=context.run.run_id, limit=limit)
    if entries:
        context.log.info(f"{flow.title}: retrying {len(entries)} dead letter(s)")
    return entries


def report_outcomes(
    context: Context,
    *,
    flow: Flow,
    outcomes: Iterable[RecordOutcome],
    ledger: LedgerResource,
    mailer: MailerResource,
    window: dg.TimeWindow | None = None,
) -> dict[str, dg.MetadataValue]:
    """Write the ledger, send the digest (only if something failed) and return the run's metadata."""
    redactor = Redactor.from_environment(get_settings(), mailer.password)
    reported = [redactor.outcome(outcome) for outcome in outcomes]
    failures = [outcome for outcome in reported if outcome.failed]
    update = ledger.ledger().record(flow.name, reported, run_id=context.run.run_id)
    rows = [_row(flow, outcome, update, ledger.max_attempts) for outcome in failures]
    counts = count_outcomes(reported)

    context.log.info(
        f"{flow.title}: {len(reported)} records, "
        + ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
        + f"; {update.resolved} dead letter(s) resolved, {update.needs_attention} need attention"
    )
    for row in rows[:MAX_LOGGED_FAILURES]:
        ids = f"Salesforce {row.salesforce_id or '-'}, NetSuite {row.netsuite_id or '-'}"
        context.log.warning(f"{flow.title}: {row.record_type} ({ids}) failed: {row.error_code}: {row.message}")

    email = _send_digest(context, flow, rows, len(reported), update.needs_attention, mailer, window)
    return {
        "records": dg.MetadataValue.int(len(reported)),
        **{str(outcome): dg.MetadataValue.int(count) for outcome, count in counts.items()},
        "dead_letters_resolved": dg.MetadataValue.int(update.resolved),
        "needs_attention": dg.MetadataValue.int(update.needs_attention),
        "failed_records": dg.MetadataValue.md(failed_records_table(rows)),
        "error_email": dg.MetadataValue.text(email),
        "dagster_run": dg.MetadataValue.dagster_run(context.run.run_id),
    }


def _send_digest(
    context: Context,
    flow: Flow,
    rows: Sequence[FailedRecordRow],
    total: int,
    needs_attention: int,
    mailer: MailerResource,
    window: dg.TimeWindow | None,
) -> str:
    if not rows:
        return "not needed: nothing failed"
    message = failure_digest(
        flow,
        rows,
        total=total,
        needs_attention=needs_attention,
        run_id=context.run.run_id,
        run_url=mailer.run_url(context.run.run_id),
        window_start=window.start if window else None,
    )
    recipients = mailer.recipients_for(flow.name)
    sent = mailer.mailer(log=context.log).send(message, recipients)
    return f"sent to {', '.join(recipients)}" if sent else "not sent (see the run's log)"


def _row(flow: Flow, outcome: RecordOutcome, update: LedgerUpdate, max_attempts: int) -> FailedRecordRow:
    salesforce_id, netsuite_id = (
        (outcome.source_id, outcome.target_id)
        if flow.source is System.SALESFORCE
        else (outcome.target_id, outcome.source_id)
    )
    return FailedRecordRow(
        record_type=outcome.record_type,
        salesforce_id=salesforce_id,
        netsuite_id=netsuite_id,
        error_code=outcome.error_code,
        message=outcome.message,
        next_step=_next_step(update.failures[outcome.key], max_attempts),
    )


def _next_step(entry: DeadLetter, max_attempts: int) -> str:
    if entry.status is DeadLetterStatus.NEEDS_ATTENTION:
        why = "not retryable" if not entry.retryable else f"gave up after {entry.attempts} attempts"
        return f"needs attention ({why})"
    return (
        f"retried automatically after {entry.next_attempt_at:%Y-%m-%d %H:%M} UTC "
        f"(attempt {entry.attempts} of {max_attempts} failed)"
    )


def _cell(value: str | None) -> str:
    # One table cell of Markdown: no line breaks, no column breaks, no markup.
    text = " ".join((value or "").split())
    text = text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`")):
        text = text.replace(char, escaped)
    return text


def failed_records_table(rows: Sequence[FailedRecordRow]) -> str:
    """The failed records as a Markdown table for run metadata (first :data:`MAX_TABLE_ROWS` rows)."""
    if not rows:
        return "No failed records."
    header = (
        "| record type | Salesforce id | NetSuite id | error code | message | next step |\n|---|---|---|---|---|---|"
    )
    lines = [
        "| "
        + " | ".join(
            _cell(value)
            for value in (r.record_type, r.salesforce_id, r.netsuite_id, r.error_code, r.message, r.next_step)
        )
        + " |"
        for r in rows[:MAX_TABLE_ROWS]
    ]
    if len(rows) > MAX_TABLE_ROWS:
        lines.append(f"\n… and {len(rows) - MAX_TABLE_ROWS} more: `sfns dead-letters list`")
    return "\n".join([header, *lines])
