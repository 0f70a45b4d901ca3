"""The push gateways. FcmGateway runs the real firebase-admin, which speaks HTTP to the local FCM stub."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import firebase_admin
import httpx
import pytest
from firebase_admin import messaging

from backend.alerts.fcm_stub import JWT_BEARER_GRANT, FcmStub
from backend.alerts.push import FcmGateway, LoggingGateway, PushMessage, make_gateway
from backend.config import Settings

PROJECT = "lindra-test"


@pytest.fixture
def stub() -> Iterator[FcmStub]:
    with FcmStub() as running:
        yield running


@pytest.fixture
def service_account(stub: FcmStub, tmp_path: Path) -> Path:
    return stub.write_service_account(tmp_path / "service-account.json", PROJECT)


@pytest.fixture
async def gateway(stub: FcmStub, service_account: Path) -> AsyncIterator[FcmGateway]:
    gw = FcmGateway(service_account, fcm_url=stub.url, timeout=2.0)
    yield gw
    await gw.aclose()


def push(token: str = "device-token-1", severity: str = "critical", ttl_seconds: int = 300) -> PushMessage:
    return PushMessage(
        notification_id=uuid.uuid4(), token=token, alert_id=uuid.uuid4(), severity=severity, ttl_seconds=ttl_seconds
    )


def sent_ids(stub: FcmStub) -> list[str]:
    return [r.body["message"]["data"]["notification_id"] for r in stub.sends()]


@pytest.mark.parametrize(
    ("severity", "channel", "aps"),
    [
        (
            "critical",
            "lindra_critical",
            {"sound": {"name": "default", "critical": 1, "volume": 1.0}, "interruption-level": "critical"},
        ),
        ("high", "lindra_alerts", {"sound": "default", "interruption-level": "time-sensitive"}),
    ],
)
async def test_firebase_admin_authenticates_at_the_stub_and_sends_ids_and_fixed_text_only(
    stub: FcmStub, gateway: FcmGateway, severity: str, channel: str, aps: dict[str, Any]
) -> None:
    message = push(severity=severity, ttl_seconds=240)

    [result] = await gateway.send([message])
    sent_at = time.time()

    assert result.notification_id == message.notification_id
    assert (result.outcome, result.error) == ("sent", None)
    assert result.message_id is not None and result.message_id.startswith(f"projects/{PROJECT}/messages/")
    [token_request] = stub.token_requests()
    assert token_request.body["grant_type"] == JWT_BEARER_GRANT and token_request.body["assertion"]
    [send] = stub.sends()
    assert send.project == PROJECT
    assert send.headers["authorization"] == f"Bearer {token_request.answer['access_token']}"
    # APNs drops it unseen when the tier is over: an expiry on Apple's (the real) clock.
    expires = int(send.body["message"]["apns"]["headers"].pop("apns-expiration"))
    assert sent_at + 240 - 5 <= expires <= sent_at + 240
    assert send.body == {
        "message": {
            "token": message.token,
            "data": {
                "alert_id": str(message.alert_id),
                "severity": severity,
                "notification_id": str(message.notification_id),
            },
            "notification": {"title": "Lindra", "body": "Ny akut alarm i Lindra"},
            "android": {"priority": "high", "ttl": "240s", "notification": {"channel_id": channel}},
            "apns": {"headers": {"apns-priority": "10", "apns-push-type": "alert"}, "payload": {"aps": aps}},
        }
    }


async def test_600_messages_go_in_calls_no_bigger_than_firebase_admins_connection_pool(
    stub: FcmStub, gateway: FcmGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_send_each_async = messaging.send_each_async

    async def counting(messages: Sequence[messaging.Message], **kwargs: Any) -> messaging.BatchResponse:
        calls.append(len(messages))
        return await real_send_each_async(messages, **kwargs)

    monkeypatch.setattr(messaging, "send_each_async", counting)
    batch = [push(f"device-{i}") for i in range(600)]

    results = await gateway.send(batch)

    assert calls == [100] * 6
    assert [r.notification_id for r in results] == [m.notification_id for m in batch]
    assert {r.outcome for r in results} == {"sent"}
    assert sorted(sent_ids(stub)) == sorted(str(m.notification_id) for m in batch)


async def test_token_failures_come_back_per_message_in_order(stub: FcmStub, gateway: FcmGateway) -> None:
    stub.unregister("uninstalled")
    stub.invalidate("garbled")
    stub.mismatch_sender("other-project")
    batch = [push("fine"), push("uninstalled"), push("garbled"), push("other-project"), push("fine-too")]

    results = await gateway.send(batch)

    assert [(r.notification_id, r.outcome, r.error) for r in results] == [
        (batch[0].notification_id, "sent", None),
        (batch[1].notification_id, "invalid_token", "UNREGISTERED"),
        (batch[2].notification_id, "invalid_token", "INVALID_ARGUMENT"),
        (batch[3].notification_id, "invalid_token", "SENDER_ID_MISMATCH"),
        (batch[4].notification_id, "sent", None),
    ]
    assert [r.message_id is not None for r in results] == [True, False, False, False, True]


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        ("UNAVAILABLE", "retry"),  # 503
        ("INTERNAL", "retry"),  # 500
        ("QUOTA_EXCEEDED", "retry"),  # 429
        # A bad payload is our bug, not the phone's: the token must not be forgotten for it.
        ("INVALID_ARGUMENT", "failed"),
    ],
)
async def test_request_failures_are_tried_once(stub: FcmStub, gateway: FcmGateway, failure: str, outcome: str) -> None:
    stub.fail_next(1, failure)

    [result] = await gateway.send([push()])

    assert (result.outcome, result.error, result.message_id) == (outcome, failure, None)
    assert len(stub.sends()) == 1  # firebase-admin's own retries are off: the outbox counts attempts


async def test_503_then_200_is_retry_then_sent(stub: FcmStub, gateway: FcmGateway) -> None:
    stub.fail_next(1, "UNAVAILABLE")
    first, second = push(), push()

    [first_result] = await gateway.send([first])
    [second_result] = await gateway.send([second])

    assert (first_result.outcome, first_result.error) == ("retry", "UNAVAILABLE")
    assert (second_result.outcome, second_result.error) == ("sent", None)
    assert [(r.status, r.body["message"]["data"]["notification_id"]) for r in stub.sends()] == [
        (503, str(first.notification_id)),
        (200, str(second.notification_id)),
    ]


async def test_unavailable_for_a_while_is_retry_for_every_message(stub: FcmStub, gateway: FcmGateway) -> None:
    stub.fail_for(60, "UNAVAILABLE")
    batch = [push(f"device-{i}") for i in range(3)]

    results = await gateway.send(batch)

    assert [(r.notification_id, r.outcome) for r in results] == [(m.notification_id, "retry") for m in batch]


async def test_fcm_slower_than_the_timeout_is_retry(stub: FcmStub, service_account: Path) -> None:
    gateway = FcmGateway(service_account, fcm_url=stub.url, timeout=0.3)
    stub.delay(1.5)
    try:
        started = time.monotonic()
        [result] = await gateway.send([push()])
        elapsed = time.monotonic() - started
    finally:
        await gateway.aclose()

    assert (result.outcome, result.error) == ("retry", "DEADLINE_EXCEEDED")
    assert elapsed < 1.5
    assert len(stub.sends()) == 1


async def test_stub_not_running_gives_retry_for_every_message_and_no_exception(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with FcmStub() as stub:
        service_account = stub.write_service_account(tmp_path / "sa.json", PROJECT)
    # The stub (token endpoint included) is gone now.
    gateway = FcmGateway(service_account, fcm_url=url, timeout=1.0)
    batch = [push(f"device-{i}") for i in range(3)]
    try:
        results = await gateway.send(batch)
    finally:
        await gateway.aclose()

    assert [(r.notification_id, r.outcome, r.error) for r in results] == [
        (m.notification_id, "retry", "TRANSPORT") for m in batch
    ]


async def test_token_endpoint_refusing_gives_retry_for_every_message(stub: FcmStub, gateway: FcmGateway) -> None:
    stub.token_status(400)

    results = await gateway.send([push("a"), push("b")])

    assert [(r.outcome, r.error) for r in results] == [("retry", "AUTH")] * 2
    assert stub.sends() == []


async def test_each_gateway_has_its_own_app_and_endpoint(tmp_path: Path) -> None:
    with FcmStub() as one, FcmStub() as two:
        gateways = [
            FcmGateway(one.write_service_account(tmp_path / "one.json", "project-one"), fcm_url=one.url),
            FcmGateway(two.write_service_account(tmp_path / "two.json", "project-two"), fcm_url=two.url),
        ]
        try:
            for gw in gateways:
                assert [r.outcome for r in await gw.send([push()])] == ["sent"]
        finally:
            for gw in gateways:
                await gw.aclose()

        assert [r.project for r in one.sends()] == ["project-one"]
        assert [r.project for r in two.sends()] == ["project-two"]
    with pytest.raises(ValueError):
        firebase_admin.get_app()  # the default app was never initialised


async def test_stub_is_programmable_over_http(stub: FcmStub, gateway: FcmGateway) -> None:
    async with httpx.AsyncClient(base_url=stub.url) as control:
        assert (await control.post("/_stub/behaviour", json={"unregistered": ["gone"]})).status_code == 200
        assert (await control.post("/_stub/behaviour", json={"no_such_thing": 1})).status_code == 400

        results = await gateway.send([push("gone"), push("here")])

        assert [r.outcome for r in results] == ["invalid_token", "sent"]
        recorded = (await control.get("/_stub/requests")).json()
        sends = [r for r in recorded if r["project"] == PROJECT]
        assert sorted((r["body"]["message"]["token"], r["status"]) for r in sends) == [("gone", 404), ("here", 200)]
        assert next(r for r in sends if r["status"] == 404)["answer"]["error"]["details"] == [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}
        ]

        assert (await control.post("/_stub/reset")).status_code == 200
        assert (await control.get("/_stub/requests")).json() == []
    assert [r.outcome for r in await gateway.send([push("gone")])] == ["sent"]


async def test_logging_gateway_logs_ids_only_and_reports_sent(caplog: pytest.LogCaptureFixture) -> None:
    batch = [push("secret-device-token", "critical"), push("another-token", "normal")]

    with caplog.at_level(logging.INFO, logger="lindra.push"):
        results = await LoggingGateway().send(batch)

    assert [(r.notification_id, r.outcome, r.error) for r in results] == [
        (m.notification_id, "sent", None) for m in batch
    ]
    assert all(r.message_id is not None and r.message_id.startswith("logged:") for r in results)
    lines = [r.getMessage() for r in caplog.records if r.name == "lindra.push"]
    assert len(lines) == 2
    for line, m in zip(lines, batch, strict=True):
        assert str(m.notification_id) in line and str(m.alert_id) in line and m.severity in line
        assert m.token not in line


async def test_make_gateway_follows_the_settings(stub: FcmStub, service_account: Path) -> None:
    assert isinstance(make_gateway(Settings()), LoggingGateway)

    gateway = make_gateway(Settings(fcm_credentials=str(service_account), fcm_url=stub.url))
    assert isinstance(gateway, FcmGateway)
    try:
        assert [r.outcome for r in await gateway.send([push()])] == ["sent"]
    finally:
        await gateway.aclose()
    assert len(stub.sends()) == 1
