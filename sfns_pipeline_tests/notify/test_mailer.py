"""The mailer against a real SMTP server (the sandbox sink): TLS verified, login, failures never raise."""

import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from sfns_pipeline.notify.mailer import Mailer, SmtpServer
from sfns_pipeline_tests.flows.example_flow import mail_sink


@pytest.fixture
def sink(tmp_path):
    with mail_sink(tmp_path / "sandbox") as sandbox:
        yield sandbox


def message(subject: str = "Grüße — 3 records failed") -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = subject
    mail.set_content("Zoë & Sons: 東京")
    mail.add_alternative("<p>Zoë &amp; Sons: 東京</p>", subtype="html")
    return mail


def server_for(sink, **overrides) -> SmtpServer:
    smtp = sink.endpoints["smtp"]
    return SmtpServer(**{"host": smtp["host"], "port": smtp["port"]} | overrides)


def test_starttls_with_login_verified_against_the_configured_ca(sink):
    server = server_for(
        sink, security="starttls", username="sfns", password="pw", ca_bundle=Path(sink.endpoints["ca_cert"])
    )

    assert Mailer(server, "sfns@example.com").send(message(), ["ops@example.com", "finance@example.com"])

    [received] = sink.components["smtp"].messages()
    assert received["Subject"] == "Grüße — 3 records failed"
    assert received["To"] == "ops@example.com, finance@example.com"
    assert received.get_body(("plain",)).get_content().strip() == "Zoë & Sons: 東京"


def test_starttls_refuses_a_certificate_it_cannot_verify(sink, caplog):
    server = server_for(sink, security="starttls")  # system trust store: does not know the sandbox CA

    with caplog.at_level(logging.ERROR):
        assert not Mailer(server, "sfns@example.com").send(message(), ["ops@example.com"])

    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert sink.components["smtp"].messages() == []


def test_server_down_is_logged_not_raised(tmp_path, caplog):
    with mail_sink(tmp_path / "stopped") as stopped:
        server = server_for(stopped)

    with caplog.at_level(logging.ERROR):
        assert not Mailer(server, "sfns@example.com").send(message("Down"), ["ops@example.com"])

    assert "'Down' not sent via" in caplog.text


def test_no_smtp_host_sends_nothing_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        assert not Mailer(None, "sfns@example.com").send(message("Nowhere"), ["ops@example.com"])
    assert "no SMTP host configured" in caplog.text
