"""The emails as people read them: subject, both parts, and record fields escaped but intact."""

from datetime import UTC, datetime

import lxml.html

from sfns_pipeline.notify.messages import MAX_EMAIL_ROWS, FailedRecordRow, failure_digest, run_failure_email
from sfns_pipeline.outcomes import Flow, System

INVOICE_SYNC = Flow("invoice_sync", source=System.NETSUITE)
HOSTILE = """<script>alert("x")</script> & 'Zoë' — Müller GmbH, 東京 <b>bold</b>"""


def row(**overrides) -> FailedRecordRow:
    values = {
        "record_type": "Invoice",
        "salesforce_id": "a0B5g00000XyZabEAF",
        "netsuite_id": "4711",
        "error_code": "INVALID_CROSS_REFERENCE_KEY",
        "message": "Account not found",
        "next_step": "retried automatically",
    }
    return FailedRecordRow(**values | overrides)


def digest(rows, **overrides):
    arguments = {
        "total": 50,
        "needs_attention": 0,
        "run_id": "8c6f3f2e-1111-2222-3333-444455556666",
        "run_url": "https://dagster.example.com/runs/8c6f3f2e-1111-2222-3333-444455556666",
        "window_start": datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
    }
    return failure_digest(INVOICE_SYNC, rows, **arguments | overrides)


def cells(html: str) -> list[list[str]]:
    return [[td.text_content() for td in tr.findall("td")] for tr in lxml.html.fromstring(html).iter("tr")][1:]


def test_subject_names_flow_counts_and_window():
    message = digest([row(), row(netsuite_id="4712"), row(netsuite_id="4713")])
    assert message["Subject"] == "[sfns] invoice sync — 3 of 50 records failed (window 2026-12-03 10:15 UTC)"


def test_subject_without_window_names_the_run():
    assert digest([row()], window_start=None)["Subject"].endswith("(run 8c6f3f2e)")


def test_hostile_fields_are_escaped_in_html_and_intact_in_both_parts():
    message = digest([row(message=HOSTILE, error_code="E&<>", record_type='Account "quoted"')])
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()

    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;" in html and "&amp;" in html
    [[record_type, _, _, error_code, message_cell, _]] = cells(html)
    assert (record_type, error_code, message_cell) == ('Account "quoted"', "E&<>", HOSTILE)  # intact after parsing
    assert HOSTILE in text  # the text part is not HTML: no entities


def test_table_lists_ids_under_the_right_system():
    html = digest([row()]).get_body(("html",)).get_content()
    [[_, salesforce_id, netsuite_id, *_]] = cells(html)
    assert (salesforce_id, netsuite_id) == ("a0B5g00000XyZabEAF", "4711")


def test_long_digests_are_capped_and_say_so():
    message = digest([row(netsuite_id=str(n)) for n in range(MAX_EMAIL_ROWS + 5)], total=1000)
    html = message.get_body(("html",)).get_content()
    assert len(cells(html)) == MAX_EMAIL_ROWS
    assert "and 5 more" in html


def test_run_failure_email_has_error_and_link():
    message = run_failure_email(
        job_name="invoice_sync_job",
        run_id="r-123456789",
        run_url="https://dagster.example.com/runs/r-123456789",
        error="NetSuiteAuthError: INVALID_LOGIN_ATTEMPT <check the token>",
        flow_title="invoice sync",
    )
    html = message.get_body(("html",)).get_content()
    assert message["Subject"] == "[sfns] run failed: invoice_sync_job (run r-123456)"
    assert "INVALID_LOGIN_ATTEMPT &lt;check the token&gt;" in html
    assert 'href="https://dagster.example.com/runs/r-123456789"' in html
    assert "INVALID_LOGIN_ATTEMPT <check the token>" in message.get_body(("plain",)).get_content()
