"""The sandbox SMTP sink: free port, endpoints.json, every message kept as .eml + viewable .html."""

import json
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from sfns_pipeline.sandbox.runner import COMPONENTS, Sandbox
from sfns_pipeline.sandbox_profile import sandbox_environment

SMTP_SINK = "sfns_pipeline.sandbox.mail:SmtpSink"


def send(endpoints: dict, message: EmailMessage, *, starttls: bool = False) -> None:
    with smtplib.SMTP(endpoints["smtp"]["host"], endpoints["smtp"]["port"], timeout=10) as smtp:
        if starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=endpoints["ca_cert"]))
        smtp.send_message(message, from_addr="sfns@example.com", to_addrs=["ops@example.com"])


def test_sink_is_a_sandbox_component():
    assert SMTP_SINK in COMPONENTS


def test_sink_on_a_free_port_is_described_in_endpoints_and_profile(tmp_path):
    with Sandbox(tmp_path / "sb", ports={"smtp": 0}, components=[SMTP_SINK]) as sandbox:
        smtp = json.loads(sandbox.endpoints_file.read_text())["smtp"]
        assert smtp["port"] > 0
        assert Path(smtp["mail_dir"]) == tmp_path / "sb" / "mail"
        environment = sandbox_environment(sandbox.endpoints_file)
    assert environment["SFNS_EMAIL_SMTP_HOST"] == "127.0.0.1"
    assert environment["SFNS_EMAIL_SMTP_PORT"] == str(smtp["port"])


def test_messages_are_kept_as_eml_and_html(tmp_path):
    message = EmailMessage()
    message["Subject"] = "[sfns] order sync — 1 of 2 records failed"
    message.set_content("plain <not html>")
    message.add_alternative("<p>Zoë &amp; Sons</p>", subtype="html")
    text_only = EmailMessage()
    text_only["Subject"] = "text only"
    text_only.set_content("a <b> c")

    with Sandbox(tmp_path / "sb", ports={"smtp": 0}, components=[SMTP_SINK]) as sandbox:
        send(sandbox.endpoints, message, starttls=True)  # STARTTLS with the sandbox CA, as the mailer does
        send(sandbox.endpoints, text_only)
        received = sandbox.components["smtp"].messages()

    assert [m["Subject"] for m in received] == [message["Subject"], "text only"]
    mail_dir = tmp_path / "sb" / "mail"
    first, second = sorted(mail_dir.glob("*.html"))
    assert first.read_text() == "<p>Zoë &amp; Sons</p>\n"
    assert second.read_text() == "<pre>a &lt;b&gt; c\n</pre>"
    assert len(list(mail_dir.glob("*.eml"))) == 2
