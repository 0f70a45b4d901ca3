"""SMS gateways: how an SMS row reaches a phone. Kannel in production, a log line in the demo.

A gateway is the SMS channel's sender, shaped like the push gateway (`backend.alerts.push`):
it takes messages and gives one result per message, "sent" (the gateway took it), "retry" (a
passing failure: down, busy, a timeout) or "failed" (refused for good), and never raises for a
delivery problem; the outbox's rows decide what happens next. Whether the SMS reached the phone
comes later, from the gateway's delivery report (`backend.alerts.sms.inbound`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from backend.config import Settings

log = logging.getLogger("lindra.sms")

SmsOutcome = Literal["sent", "retry", "failed"]
# Kannel's delivery reports Lindra asks for: delivered (1), not delivered (2), taken by the
# operator's SMS centre (8), refused by it (16).
DLR_MASK = 1 | 2 | 8 | 16
# Requests to the gateway at once per sender.
PARALLEL = 20
# The user name Kannel gives with the shared secret (HTTP Basic) when it calls Lindra.
CALLBACK_USER = "kannel"


@dataclass(frozen=True, slots=True)
class SmsOut:
    sms_id: uuid.UUID  # our row; comes back in the delivery report
    to: str  # E.164
    body: str


@dataclass(frozen=True, slots=True)
class SmsResult:
    sms_id: uuid.UUID
    outcome: SmsOutcome
    error: str | None  # a code only (HTTP_403, TIMEOUT), never the number or the text


class SmsGateway(Protocol):
    async def send(self, messages: Sequence[SmsOut]) -> list[SmsResult]:
        """One result per message, in the same order."""
        ...

    async def aclose(self) -> None:
        """Let go of connections."""
        ...

    async def answers(self) -> bool | None:
        """Whether the gateway answers at all now (None: there is none to ask)."""
        ...


class LoggingSmsGateway:
    """The gateway when none is configured (the demo): logs the row's id, never the number or the code."""

    async def send(self, messages: Sequence[SmsOut]) -> list[SmsResult]:
        for message in messages:
            log.info("sms not sent (no SMS gateway configured): sms=%s", message.sms_id)
        return [SmsResult(m.sms_id, "sent", None) for m in messages]

    async def aclose(self) -> None:
        return None

    async def answers(self) -> bool | None:
        return None


class KannelGateway:
    """Kannel's smsbox `sendsms` interface, over POST with its X-Kannel headers, so that neither the
    gateway's password nor the number nor the text is in a URL any log keeps. Each SMS asks for
    delivery reports at Lindra's `/sms/kannel/status`, with the shared secret as HTTP Basic
    credentials that Kannel sends in an Authorization header."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.sms_gateway_url
        self._headers = {
            "X-Kannel-Username": settings.sms_gateway_username,
            "X-Kannel-Password": settings.sms_gateway_password,
            "X-Kannel-From": settings.sms_sender,
            "X-Kannel-DLR-Mask": str(DLR_MASK),
            "Content-Type": "text/plain; charset=utf-8",
        }
        self._status_url = callback_url(settings, "/sms/kannel/status")
        self._client = httpx.AsyncClient(timeout=settings.sms_timeout_seconds)
        self._parallel = asyncio.Semaphore(PARALLEL)

    async def send(self, messages: Sequence[SmsOut]) -> list[SmsResult]:
        return list(await asyncio.gather(*(self._send_one(m) for m in messages)))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def answers(self) -> bool:
        """Any HTTP answer of smsbox's sendsms port (a request without credentials is refused): it is up."""
        try:
            await self._client.get(self._url)
        except (httpx.TimeoutException, httpx.TransportError):
            return False
        return True

    async def _send_one(self, message: SmsOut) -> SmsResult:
        headers = self._headers | {
            "X-Kannel-To": message.to,
            # %d: Kannel puts the report's type there.
            "X-Kannel-DLR-Url": f"{self._status_url}?sms={message.sms_id}&type=%d",
        }
        async with self._parallel:
            try:
                answer = await self._client.post(self._url, headers=headers, content=message.body.encode())
            except httpx.TimeoutException:
                return SmsResult(message.sms_id, "retry", "TIMEOUT")
            except httpx.TransportError:
                return SmsResult(message.sms_id, "retry", "TRANSPORT")
        if answer.is_success:  # 202 "0: Accepted for delivery" or "3: Queued for later delivery"
            return SmsResult(message.sms_id, "sent", None)
        outcome: SmsOutcome = "retry" if answer.status_code >= 500 or answer.status_code == 429 else "failed"
        log.warning("sms=%s not taken by the gateway: HTTP %d", message.sms_id, answer.status_code)
        return SmsResult(message.sms_id, outcome, f"HTTP_{answer.status_code}")


def callback_url(settings: Settings, path: str) -> str:
    """A URL of Lindra's for Kannel to call, with the shared secret as its Basic credentials."""
    parts = urlsplit(settings.sms_callback_url.rstrip("/") + path)
    credentials = f"{CALLBACK_USER}:{quote(settings.sms_callback_secret, safe='')}@"
    return urlunsplit(parts._replace(netloc=credentials + parts.netloc))


def make_sms_gateway(settings: Settings) -> SmsGateway:
    """Kannel when its sendsms URL is configured, else the logging gateway (the demo)."""
    if settings.sms_gateway_url:
        return KannelGateway(settings)
    return LoggingSmsGateway()
