"""An SMTP sink for the sandbox: accepts every message and keeps it as files for people and tests.

Each message lands in ``<data_dir>/mail/`` as ``<n>.eml`` (the bytes as received) and ``<n>.html``
(its HTML part, or its text wrapped in ``<pre>``) — open the ``.html`` in a browser to see what an
operator would. Plain SMTP works; STARTTLS is offered with the sandbox's certificate (clients trust
the sandbox CA) and after it any ``AUTH`` login is accepted, so the mailer's TLS and login paths can
be exercised too. ``endpoints.json`` gets ``"smtp": {"host", "port", "mail_dir"}``.
"""

from __future__ import annotations

import email
import email.policy
import html
import itertools
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

from sfns_pipeline.sandbox.runner import SandboxContext


class _FreePortController(Controller):
    """aiosmtpd's controller, able to listen on port 0: it learns the real port once the server is bound."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True)


class _MailStore:
    """aiosmtpd handler: writes each accepted message to the mail directory."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self._numbers = itertools.count(len(list(mail_dir.glob("*.eml"))) + 1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        raw = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        with self._lock:
            stem = self.mail_dir / f"{next(self._numbers):05d}"
        stem.with_suffix(".eml").write_bytes(raw)
        stem.with_suffix(".html").write_text(_rendered(email.message_from_bytes(raw, policy=email.policy.default)))
        return "250 Message accepted for delivery"


def _rendered(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html", "plain"))
    if part is None:
        return "<p>(no body)</p>"
    content = part.get_content()
    return content if part.get_content_subtype() == "html" else f"<pre>{html.escape(content)}</pre>"


def read_mailbox(mail_dir: Path) -> list[EmailMessage]:
    """Every message in a sink's mail directory, oldest first."""
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(Path(mail_dir).glob("*.eml"))
    ]


class SmtpSink:
    """Sandbox component: an SMTP server on ``ports["smtp"]`` (0 = any free port) storing mail as files."""

    name = "smtp"

    def __init__(self) -> None:
        self._controller: _FreePortController | None = None
        self.mail_dir: Path | None = None

    def start(self, context: SandboxContext) -> dict[str, Any]:
        """Start the SMTP server; returns its ``endpoints.json`` section."""
        self.mail_dir = context.data_dir / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self._controller = _FreePortController(
            _MailStore(self.mail_dir),
            hostname=context.host,
            port=context.ports.get("smtp", 0),
            tls_context=context.tls.server_context(),
            authenticator=_accept_any_login,
        )
        self._controller.start()
        return {"host": context.host, "port": self._controller.port, "mail_dir": str(self.mail_dir)}

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first."""
        return read_mailbox(self.mail_dir) if self.mail_dir else []

    def stop(self) -> None:
        """Stop the SMTP server."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
