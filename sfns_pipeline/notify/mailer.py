"""Sending mail over SMTP with the standard library: plain, STARTTLS or implicit TLS, optional login.

TLS is always verified — against ``ca_bundle`` when one is configured (the sandbox's CA), else the
system store. A failure to send is logged (scrubbed) and reported as ``False``; it never raises,
because an unreachable mail server must not fail the sync whose errors it was meant to announce.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from sfns_pipeline.notify.redaction import Redactor

logger = logging.getLogger(__name__)

Security = Literal["none", "starttls", "ssl"]


@dataclass(frozen=True)
class SmtpServer:
    """How to reach the mail server."""

    host: str
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 15.0
    ca_bundle: Path | None = None

    def tls_context(self) -> ssl.SSLContext:
        """A verifying context that trusts ``ca_bundle`` (or the system store)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)


class Mailer:
    """Sends messages from ``sender``; with no server configured it sends nothing and says so."""

    def __init__(self, server: SmtpServer | None, sender: str, *, log: logging.Logger | None = None) -> None:
        self.server = server
        self.sender = sender
        self._log = log or logger
        self._redactor = Redactor.from_environment(None, server.password if server else None)

    def send(self, message: EmailMessage, recipients: list[str]) -> bool:
        """Send ``message`` to ``recipients``; True if the server accepted it. Never raises."""
        subject = message["Subject"]
        if self.server is None or not recipients:
            reason = "no SMTP host configured" if self.server is None else "no recipients configured"
            self._log.warning(f"Email {subject!r} not sent: {reason}")
            return False
        del message["From"], message["To"]  # the mailer owns the envelope; a re-send must not double them
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        try:
            self._deliver(message, recipients)
        except (smtplib.SMTPException, OSError) as error:
            problem = self._redactor.text(f"{type(error).__name__}: {error}")
            self._log.error(f"Email {subject!r} not sent via {self.server.host}:{self.server.port}: {problem}")
            return False
        self._log.info(f"Email {subject!r} sent to {len(recipients)} recipient(s)")
        return True

    def _deliver(self, message: EmailMessage, recipients: list[str]) -> None:
        server = self.server
        if server.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout_seconds, context=server.tls_context()
            )
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=server.timeout_seconds)
        with smtp:
            if server.security == "starttls":
                smtp.starttls(context=server.tls_context())
            if server.username:
                smtp.login(server.username, server.password or "")
            smtp.send_message(message, from_addr=self.sender, to_addrs=recipients)
