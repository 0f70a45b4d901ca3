"""A real SMTP server on a loopback port (aiosmtpd), keeping what it was sent for tests to read."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# How a one-time code looks in the mails (backend.people.codes).
CODE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")


class MailServer:
    """Receives every mail; `code_for(address)` waits for the newest one to that address."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(([str(r).lower() for r in envelope.rcpt_tos], message))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.received if address.lower() in recipients]

    def code_for(self, address: str) -> str:
        """The code in the newest mail to `address`. The app hands a mail over before it answers, so
        it is here by the time the request that sent it has its answer."""
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        body = mails[-1].get_body(preferencelist=("plain",))
        assert body is not None
        found = CODE.search(body.get_content())
        assert found is not None, "no code in the mail"
        return found.group(0)
