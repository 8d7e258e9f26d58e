"""The mailer as a Dagster resource: SMTP settings, default and per-flow recipients, the Dagster UI address.

The SMTP password is only ever ``dg.EnvVar("SFNS_EMAIL_PASSWORD")``: Dagster resolves it when a run
starts and shows the variable's name, never its value, in the UI and the run config.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg

from sfns_pipeline.notify.mailer import Mailer, Security, SmtpServer
from sfns_pipeline.settings import SECTIONS, Settings


class MailerResource(dg.ConfigurableResource):
    """Who gets the error emails and how they are sent (``SFNS_EMAIL_*``, ``SFNS_<FLOW>_RECIPIENTS``).

    With no ``smtp_host`` nothing is sent: failures are still in the run's metadata and the ledger.
    """

    smtp_host: str | None = None
    smtp_port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = None  # dg.EnvVar("SFNS_EMAIL_PASSWORD") only
    sender: str = "sfns-pipeline@localhost"
    recipients: list[str] = []  # the default, for flows without their own list and for run failures
    flow_recipients: dict[str, list[str]] = {}  # flow name -> its own recipients
    timeout_seconds: float = 15.0
    ca_bundle: str | None = None  # extra CA to trust for STARTTLS / SSL (the sandbox's); system store otherwise
    dagster_base_url: str = "http://localhost:3000"

    @classmethod
    def from_settings(cls, settings: Settings) -> MailerResource:
        """The mailer the settings describe, with the password (if any) as an ``EnvVar``."""
        email = settings.email
        flow_recipients = {
            name: recipients
            for name in SECTIONS
            if name != "email" and (recipients := getattr(getattr(settings, name), "recipients", None))
        }
        return cls(
            smtp_host=email.smtp_host,
            smtp_port=email.smtp_port,
            security=email.security,
            username=email.username,
            password=dg.EnvVar("SFNS_EMAIL_PASSWORD") if email.password else None,
            sender=email.sender,
            recipients=email.recipients,
            flow_recipients=flow_recipients,
            timeout_seconds=email.timeout_seconds,
            ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
            dagster_base_url=settings.dagster_base_url,
        )

    def mailer(self, log: logging.Logger | None = None) -> Mailer:
        """A mailer that logs to ``log`` (e.g. ``context.log``)."""
        server = None
        if self.smtp_host:
            server = SmtpServer(
                host=self.smtp_host,
                port=self.smtp_port,
                security=self.security,
                username=self.username,
                password=self.password,
                timeout_seconds=self.timeout_seconds,
                ca_bundle=Path(self.ca_bundle) if self.ca_bundle else None,
            )
        return Mailer(server, self.sender, log=log)

    def recipients_for(self, flow_name: str | None) -> list[str]:
        """The flow's own recipients, or the default list."""
        return self.flow_recipients.get(flow_name or "") or self.recipients

    def run_url(self, run_id: str) -> str:
        """Link to the run in the Dagster UI."""
        return f"{self.dagster_base_url.rstrip('/')}/runs/{run_id}"
