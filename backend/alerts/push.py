"""Push gateways: how an escalation alert reaches a nurse's phone.

A push carries ids only (notification, alert, severity) and a fixed Danish text; the phone fetches
the details over the authenticated API. Never put a name, CPR number, diagnosis or address here:
the payload passes through Google and Apple and sits on lock screens.

A gateway never raises for a delivery problem: every message gets a `PushResult`, and the caller
(the outbox, whose rows are the truth) decides what to do with "retry", "invalid_token" and "failed".
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import firebase_admin
import httpx
import requests
from firebase_admin import _http_client, credentials, exceptions, messaging
from firebase_admin._retry import HttpxRetry
from google.auth import exceptions as auth_exceptions
from google.auth.transport import requests as auth_requests

from backend.config import Settings

log = logging.getLogger("lindra.push")

TITLE = "Lindra"
BODY = "Ny akut alarm i Lindra"
RECALL_BODY = "Din alarm i Lindra mangler status"
# The phone app creates both channels (see README, "What the phone app must declare"): critical
# alerts on a channel of their own, importance high and allowed through Do Not Disturb.
CRITICAL_CHANNEL = "lindra_critical"
CHECK_BODY = "Test af din telefon: tryk for at bekræfte"
ANDROID_CHANNEL = "lindra_alerts"
# send_each_async takes up to 500 messages, but firebase-admin's httpx client runs at most 100
# requests at once (httpx's default pool). The rest wait in the pool, where the wait counts against
# the request timeout (they come back DEADLINE_EXCEEDED, unsent) and httpcore's queue bookkeeping,
# quadratic in the queue, holds the event loop for seconds. So no call gets more than the pool runs.
MESSAGES_PER_CALL = 100

Outcome = Literal["sent", "retry", "invalid_token", "failed"]


@dataclass(frozen=True, slots=True)
class PushMessage:
    notification_id: uuid.UUID  # our row id; lets the phone confirm receipt
    token: str  # the device's FCM registration token
    alert_id: uuid.UUID | None  # None: the test push of a phone check (`notification_id` is the check's id)
    severity: str  # critical | high | normal
    # How long the push may wait for the phone (offline, switched off) before it is dropped
    # unseen: the tier's timeout, after which the climb has moved on and the page is stale.
    ttl_seconds: int
    recall: bool = False  # the holder of an acknowledged alert is called again for want of progress


@dataclass(frozen=True, slots=True)
class PushResult:
    notification_id: uuid.UUID
    # "sent" | "retry" (429, 5xx, timeout, network) | "invalid_token" (forget the device's token)
    # | "failed" (anything else)
    outcome: Outcome
    error: str | None  # an error code only, never message text that could hold data
    message_id: str | None


class PushGateway(Protocol):
    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """One result per message, in the same order."""
        ...


class LoggingGateway:
    """The gateway when no FCM credentials are configured (the demo): logs ids, pretends it sent."""

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        results = []
        for m in messages:
            log.info(
                "push not sent (no FCM credentials): notification=%s alert=%s severity=%s",
                m.notification_id,
                m.alert_id,
                m.severity,
            )
            results.append(PushResult(m.notification_id, "sent", None, f"logged:{uuid.uuid4()}"))
        return results


class FcmGateway:
    """Sends through firebase-admin's FCM HTTP v1 client, with a named firebase App of its own.

    Each message is one HTTP request, tried once (see `_try_once`), up to `MESSAGES_PER_CALL` at a
    time, so `send` takes at most about ceil(n / 100) x `timeout`, plus an OAuth token fetch about
    once an hour. A message FCM accepted but whose answer was lost (a timeout) comes back "retry",
    so a phone may get the same notification twice: it de-duplicates on `notification_id`.
    """

    def __init__(
        self,
        credentials_path: str | Path,
        project_id: str | None = None,
        fcm_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        certificate = credentials.Certificate(str(credentials_path))
        options: dict[str, Any] = {"httpTimeout": timeout}
        if project_id:
            options["projectId"] = project_id
        self._app = firebase_admin.initialize_app(certificate, options, name=f"lindra-push-{uuid.uuid4().hex}")
        self._service = messaging._get_messaging_service(self._app)
        self._credential = certificate.get_credential()
        self._auth_request = auth_requests.Request()
        self._token_lock = asyncio.Lock()
        self._timeout = timeout
        _try_once(self._service, self._credential, timeout)
        if fcm_url:
            _redirect_fcm(self._service, fcm_url, self._app.project_id)

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), MESSAGES_PER_CALL):
            results.extend(await self._send_batch(messages[start : start + MESSAGES_PER_CALL]))
        return results

    async def aclose(self) -> None:
        """Close the connections and delete the App.

        firebase-admin's own cleanup (delete_app) closes its async HTTP client with asyncio.run(),
        which fails inside a running loop and, from another thread, on connections of this loop.
        So the client is closed here, on its own loop, and delete_app then runs in a worker thread,
        where closing it again is a no-op.
        """
        await self._service._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self._app)
        self._auth_request.session.close()

    async def _send_batch(self, batch: Sequence[PushMessage]) -> list[PushResult]:
        with warnings.catch_warnings():
            # firebase-admin 7.5+ prefers Firebase installation ids (`fid`); our phones register
            # FCM registration tokens, which FCM still accepts in `token`.
            warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)
            fcm_messages = [_fcm_message(m) if m.alert_id else _check_message(m) for m in batch]
        try:
            await self._ensure_access_token()
            response = await messaging.send_each_async(fcm_messages, app=self._app)
        except Exception as exc:  # the call as a whole failed; never let that stop the outbox
            code = _whole_call_error(exc)
            log.warning("push batch of %d not sent: %s (%s)", len(batch), code, type(exc).__name__)
            return [PushResult(m.notification_id, "retry", code, None) for m in batch]
        results = []
        for m, r in zip(batch, response.responses, strict=True):
            if r.success:
                results.append(PushResult(m.notification_id, "sent", None, r.message_id))
            else:
                outcome, code = _classify(r.exception)
                log.info("push notification=%s not sent: %s -> %s", m.notification_id, code, outcome)
                results.append(PushResult(m.notification_id, outcome, code, None))
        return results

    async def _ensure_access_token(self) -> None:
        """Fetch the OAuth2 token in a thread, with our timeout.

        Left to itself, firebase-admin fetches it inside its httpx auth flow with blocking
        `requests` and google-auth's 120 s default timeout: that would freeze the event loop.
        A token stays valid for an hour, so this costs a thread hop about once an hour.
        """
        async with self._token_lock:
            if not self._credential.valid:
                request = functools.partial(self._auth_request, timeout=self._timeout)
                await asyncio.to_thread(self._credential.refresh, request)


def _try_once(service: Any, credential: Any, timeout: float) -> None:
    """Make firebase-admin try each message once; the outbox owns retries.

    By default its async client retries a 500/503 answer up to 4 times, after 0, 1, 2 and 4 s,
    inside one send: a call can then last 5 x `timeout` + 7 s (longer than the outbox holds its
    claim on a batch) and the attempts are invisible to the outbox, which counts attempts in its
    rows and backs off itself. The replacement is firebase-admin's own client class with a no-retry
    config, so auth, HTTP/2 and error parsing are unchanged. Like `_redirect_fcm` this sets a private
    attribute (present from 6.9 to 7.7); if a release renames it we fail here, loudly.
    """
    if not isinstance(getattr(service, "_async_client", None), _http_client.HttpxAsyncClient):
        raise RuntimeError("this firebase-admin version's retries cannot be turned off")
    service._async_client = _http_client.HttpxAsyncClient(
        credential=credential, timeout=timeout, retry_config=HttpxRetry(max_retries=0)
    )


def _redirect_fcm(service: Any, base_url: str, project_id: str) -> None:
    """Send one App's FCM calls to `base_url` (the local stub) instead of fcm.googleapis.com.

    firebase-admin has no supported setting for this (unlike FIREBASE_AUTH_EMULATOR_HOST for auth).
    Each App gets its own messaging service, which builds its send URL once, in __init__, into the
    `_fcm_url` attribute that send, send_each and send_each_async all post to (unchanged from 6.x
    to 7.7). Overriding that attribute on this App's service redirects only this gateway, keeps the
    rest real (auth, timeouts, error parsing) and leaves other Apps alone, unlike patching the
    class-level FCM_URL (read once, shared by all Apps) or a process-wide proxy. If a release renames
    it we fail loudly here rather than quietly sending to Google.
    """
    if not isinstance(getattr(service, "_fcm_url", None), str):
        raise RuntimeError("this firebase-admin version cannot be redirected to a local FCM endpoint")
    service._fcm_url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"


def _fcm_message(m: PushMessage) -> messaging.Message:
    """The whole payload: ids, severity and fixed text, loud on both platforms; a critical alert
    rings through silent mode and Do Not Disturb, and no push outlives its tier."""
    critical = m.severity == "critical"
    sound = messaging.CriticalSound("default", critical=True, volume=1.0) if critical else "default"
    data = {"alert_id": str(m.alert_id), "severity": m.severity, "notification_id": str(m.notification_id)}
    if m.recall:
        data["kind"] = "recall"
    # APNs wants the moment (UNIX seconds) after which it stops trying, on Apple's clock: the real one.
    expires = int(time.time()) + m.ttl_seconds
    return messaging.Message(
        token=m.token,
        data=data,
        notification=messaging.Notification(title=TITLE, body=RECALL_BODY if m.recall else BODY),
        android=messaging.AndroidConfig(
            priority="high",
            ttl=m.ttl_seconds,
            notification=messaging.AndroidNotification(channel_id=CRITICAL_CHANNEL if critical else ANDROID_CHANNEL),
        ),
        apns=messaging.APNSConfig(
            headers={"apns-priority": "10", "apns-push-type": "alert", "apns-expiration": str(expires)},
            payload=messaging.APNSPayload(
                aps=messaging.Aps(
                    sound=sound,
                    custom_data={"interruption-level": "critical" if critical else "time-sensitive"},
                )
            ),
        ),
    )


def _check_message(m: PushMessage) -> messaging.Message:
    """A phone check's test push: marked as a test, so the app says so and confirms it, and no alert."""
    return messaging.Message(
        token=m.token,
        data={"kind": "phone_check", "check_id": str(m.notification_id)},
        notification=messaging.Notification(title=TITLE, body=CHECK_BODY),
        android=messaging.AndroidConfig(priority="high", ttl=m.ttl_seconds),
    )


def _classify(exc: exceptions.FirebaseError) -> tuple[Outcome, str]:
    """Outcome and error code of one message's failure."""
    if isinstance(exc, messaging.UnregisteredError):
        return "invalid_token", "UNREGISTERED"
    if isinstance(exc, messaging.SenderIdMismatchError):
        return "invalid_token", "SENDER_ID_MISMATCH"
    if isinstance(exc, exceptions.InvalidArgumentError):
        # INVALID_ARGUMENT also covers a bad payload; forgetting every device's token for our own
        # bug would silence all alerts, so only a complaint about the token counts as one.
        return ("invalid_token" if _blames_token(exc) else "failed"), "INVALID_ARGUMENT"
    if isinstance(exc, messaging.QuotaExceededError):
        return "retry", "QUOTA_EXCEEDED"
    if isinstance(exc, exceptions.UnavailableError | exceptions.InternalError | exceptions.DeadlineExceededError):
        return "retry", exc.code
    if isinstance(exc.cause, httpx.TransportError | requests.RequestException):
        return "retry", "TRANSPORT"
    if isinstance(exc, messaging.ThirdPartyAuthError):
        return "failed", "THIRD_PARTY_AUTH_ERROR"
    return "failed", exc.code


def _blames_token(exc: exceptions.FirebaseError) -> bool:
    """Whether FCM's error names the registration token: its message says so (FCM sends no more
    specific code), or a field violation points at message.token."""
    try:
        error = exc.http_response.json()["error"]
    except (AttributeError, ValueError, KeyError, TypeError):
        return False
    if "registration token" in str(error.get("message", "")):
        return True
    return any(
        violation.get("field") == "message.token"
        for detail in error.get("details", [])
        for violation in detail.get("fieldViolations", [])
    )


def _whole_call_error(exc: Exception) -> str:
    if isinstance(exc, auth_exceptions.TransportError):
        return "TRANSPORT"
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return "AUTH"
    if isinstance(exc, exceptions.FirebaseError):
        return str(exc.code)
    return "UNKNOWN"


def make_gateway(settings: Settings) -> PushGateway:
    """FCM when credentials are configured, else the logging gateway (the demo)."""
    if settings.fcm_credentials:
        return FcmGateway(
            settings.fcm_credentials, fcm_url=settings.fcm_url or None, timeout=settings.fcm_timeout_seconds
        )
    return LoggingGateway()
