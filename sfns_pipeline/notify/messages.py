"""The emails the pipeline sends, rendered from Jinja2 templates (``notify/templates``) as text + HTML.

HTML templates are autoescaped: a Salesforce field holding ``<script>`` arrives as text, never markup.
Each message is ``multipart/alternative`` with the plain-text part first (the fallback) and HTML last
(the preferred part), which is what mail clients expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import jinja2

from sfns_pipeline.outcomes import Flow

MAX_EMAIL_ROWS = 200  # a digest stays readable; the run's metadata and the ledger hold the rest

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("sfns_pipeline.notify", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class FailedRecordRow:
    """One line of the digest table."""

    record_type: str
    salesforce_id: str | None
    netsuite_id: str | None
    error_code: str | None
    message: str | None
    next_step: str  # "retried automatically (attempt 2 of 5)", "needs attention", ...


def _utc_minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _message(subject: str, template: str, **context) -> EmailMessage:
    context |= {"subject": subject}
    message = EmailMessage()
    message["Subject"] = subject
    message.set_content(_templates.get_template(f"{template}.txt").render(**context))
    message.add_alternative(_templates.get_template(f"{template}.html").render(**context), subtype="html")
    return message


def failure_digest(
    flow: Flow,
    rows: Sequence[FailedRecordRow],
    *,
    total: int,
    needs_attention: int,
    run_id: str,
    run_url: str,
    window_start: datetime | None = None,
) -> EmailMessage:
    """The one email per run and flow listing its failed records (the caller sends none when none failed)."""
    window = _utc_minute(window_start) if window_start else None
    noun = "record" if total == 1 else "records"
    subject = f"[sfns] {flow.title} — {len(rows)} of {total} {noun} failed"
    subject += f" (window {window})" if window else f" (run {run_id[:8]})"
    return _message(
        subject,
        "digest",
        heading=f"{flow.title.capitalize()}: {len(rows)} failed",
        flow_title=flow.title,
        failed=len(rows),
        total=total,
        needs_attention=needs_attention,
        window=window,
        rows=rows[:MAX_EMAIL_ROWS],
        omitted=max(0, len(rows) - MAX_EMAIL_ROWS),
        run_id=run_id,
        run_url=run_url,
    )


def run_failure_email(
    *, job_name: str, run_id: str, run_url: str, error: str, flow_title: str | None = None
) -> EmailMessage:
    """The email for a run that failed as a whole (auth, outage, a bug): the error and the run link."""
    return _message(
        f"[sfns] run failed: {job_name} (run {run_id[:8]})",
        "run_failure",
        heading=f"Run failed: {job_name}",
        job_name=job_name,
        flow_title=flow_title,
        error=error,
        run_id=run_id,
        run_url=run_url,
    )
