"""Mail to one user: over SMTP when a server is configured, else into a file only the operator reads.

The only mail is a one-time code to choose a password, so what matters is that it reaches the
user and no one else: never the administrator's answer, never a log. With `smtp_host` set it goes
by SMTP (stdlib smtplib in a thread, STARTTLS unless told otherwise); a server that refuses it is
a 503 and the caller's transaction rolls back, so no code exists that nobody received. Without
one (the demo on a laptop) the mail is written to `<data_dir>/outbox/` with mode 0600 in a 0700
folder, a warning says where, and the caller tells the administrator it was not sent.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import smtplib
import ssl
import uuid
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from backend.config import Settings
from backend.errors import Problem

log = logging.getLogger("lindra.mail")


class Delivery(enum.StrEnum):
    EMAIL = "email"  # handed to the mail server
    OPERATOR_FILE = "operator_file"  # no mail server configured: in the operator's outbox folder


def _message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def _send_smtp(settings: Settings, message: EmailMessage) -> None:
    timeout = settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    if settings.smtp_security == "tls":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
        )
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with server:
        if settings.smtp_security == "starttls":
            server.starttls(context=context)
        if settings.smtp_username:
            server.login(settings.smtp_username, settings.smtp_password)
        server.send_message(message)


def _write_outbox(settings: Settings, message: EmailMessage, now: datetime) -> Path:
    outbox = settings.data_dir / "outbox"
    outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    outbox.chmod(0o700)
    path = outbox / f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(message.as_bytes())
    return path


async def send_mail(settings: Settings, to: str, subject: str, body: str, now: datetime) -> Delivery:
    """Deliver one mail to `to`; say how. A mail server that fails is a 503 (nothing is kept)."""
    message = _message(settings, to, subject, body)
    if not settings.smtp_host:
        path = await asyncio.to_thread(_write_outbox, settings, message, now)
        log.warning("no mail server configured (LINDRA_SMTP_HOST): a mail was written to %s for the operator", path)
        return Delivery.OPERATOR_FILE
    try:
        await asyncio.to_thread(_send_smtp, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("the mail server refused or could not be reached: %s", type(exc).__name__)
        raise Problem(
            503,
            "Mail not sent",
            "The mail server did not take the message, so nothing was changed. Try again later.",
            rule="mail_unavailable",
            headers={"Retry-After": "60"},
        ) from exc
    return Delivery.EMAIL
