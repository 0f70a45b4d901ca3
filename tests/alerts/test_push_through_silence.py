"""Push that rings through silence: what the real firebase-admin hands FCM (the local stub) for each
severity, and that every page expires with its tier; and the holder who forgets, paged again and
texted through the real Kannel. A real Lindra server sends them all (sms_night.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.alerts.sms_night import ACK_TIMEOUT, NURSE_MOBILE, SECOND_TIER_TIMEOUT, SmsNight, sms_night, wait_for

CRITICAL_SOUND = {"name": "default", "critical": 1, "volume": 1.0}


@pytest.fixture(scope="module")
async def night(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmsNight]:
    async with sms_night(server_url, tmp_path_factory.mktemp("push")) as running:
        yield running


async def _pages(
    night: SmsNight, alert_id: str, user_id: uuid.UUID, count: int = 1
) -> list[tuple[float, dict[str, Any]]]:
    """What the stub received for the alert's pushes to one person (when, and the message), once
    `count` came."""

    async def received() -> list[tuple[float, dict[str, Any]]]:
        mine = {
            str(n["id"])
            for n in await night.pg.fetch(
                "SELECT id FROM notifications WHERE alert_id = $1 AND user_id = $2 AND channel = 'push'",
                uuid.UUID(alert_id),
                user_id,
            )
        }
        pages = [
            (r.received_at, r.body["message"])
            for r in night.stub.sends()
            if r.body["message"]["data"]["notification_id"] in mine
        ]
        return pages if len(pages) >= count else []

    return await wait_for(received, 10)


def _expires_in(received_at: float, message: dict[str, Any]) -> float:
    """How long after the stub received it APNs would still deliver it."""
    return int(message["apns"]["headers"]["apns-expiration"]) - received_at


async def test_a_critical_page_rings_through_silence_and_expires_with_each_tier(night: SmsNight) -> None:
    alert_id = await night.raise_alert("critical")

    [(at, nurse)] = await _pages(night, alert_id, night.world.nurse_a.user_id)
    assert nurse["android"] == {
        "priority": "high",
        "ttl": f"{ACK_TIMEOUT}s",
        "notification": {"channel_id": "lindra_critical"},
    }
    assert nurse["apns"]["payload"]["aps"] == {"sound": CRITICAL_SOUND, "interruption-level": "critical"}
    assert nurse["apns"]["headers"]["apns-priority"] == "10"
    assert ACK_TIMEOUT - 2 <= _expires_in(at, nurse) <= ACK_TIMEOUT
    assert nurse["notification"] == {"title": "Lindra", "body": "Ny akut alarm i Lindra"}

    # The coordinator escalates: the second tier's page lives as long as the second tier waits.
    escalated = await night.post(night.world.coordinator, f"/alerts/{alert_id}/escalate")
    assert escalated.status_code == 200, escalated.text
    [(at, coordinator)] = await _pages(night, alert_id, night.world.coordinator.user_id)
    assert coordinator["android"]["ttl"] == f"{SECOND_TIER_TIMEOUT}s"
    assert coordinator["android"]["notification"] == {"channel_id": "lindra_critical"}
    assert SECOND_TIER_TIMEOUT - 2 <= _expires_in(at, coordinator) <= SECOND_TIER_TIMEOUT
    await night.post(night.world.coordinator, f"/alerts/{alert_id}/acknowledge")


async def test_a_high_alert_rings_on_the_ordinary_channel_and_expires_with_its_tier(night: SmsNight) -> None:
    started = time.time()
    alert_id = await night.raise_alert("high")

    [(at, nurse)] = await _pages(night, alert_id, night.world.nurse_a.user_id)
    # The built-in policy for high alerts gives the first tier 10 minutes.
    assert nurse["android"] == {"priority": "high", "ttl": "600s", "notification": {"channel_id": "lindra_alerts"}}
    assert nurse["apns"]["payload"]["aps"] == {"sound": "default", "interruption-level": "time-sensitive"}
    assert started <= at and 598 <= _expires_in(at, nurse) <= 600
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")


async def test_a_holder_who_forgets_is_paged_again_then_texted_and_her_answer_says_on_the_way(
    night: SmsNight,
) -> None:
    alert_id = await night.raise_alert("critical")
    taken = await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")
    assert taken.status_code == 200, taken.text
    # She took it 30 s ago and her clock runs out now (rows are the truth: the server's sweep acts).
    await night.pg.execute(
        "UPDATE alerts SET acknowledged_at = now() - interval '30 seconds', progress_due_at = now() WHERE id = $1",
        uuid.UUID(alert_id),
    )

    pages = await _pages(night, alert_id, night.world.nurse_a.user_id, count=2)
    [(at, recall)] = [(at, page) for at, page in pages if page["data"].get("kind") == "recall"]
    assert recall["notification"] == {"title": "Lindra", "body": "Din alarm i Lindra mangler status"}
    assert recall["android"]["notification"] == {"channel_id": "lindra_critical"}
    # It lives until her second deadline, when the alert would climb on without her.
    assert recall["android"]["ttl"] in ("29s", "30s") and 27 <= _expires_in(at, recall) <= 30

    # Her phone has no data: the recall stays unconfirmed, and the SMS reaches her at the fake network.
    async def recall_code() -> str | None:
        return await night.pg.fetchval(
            "SELECT code FROM sms_messages WHERE alert_id = $1 AND kind = 'recall'", uuid.UUID(alert_id)
        )

    code = await wait_for(recall_code, 10)
    text = f"Lindra: du har kvitteret for en alarm, men ikke meldt dig på vej. Svar 1 {code} når du er på vej."

    async def arrived() -> bool:
        return text in night.texts_to(NURSE_MOBILE)

    assert await wait_for(arrived, 10)

    night.kannel.reply(NURSE_MOBILE, f"1 {code}")

    async def status() -> str | None:
        row = await night.alert(alert_id)
        return str(row["status"]) if row["status"] == "on_the_way" else None

    assert await wait_for(status, 10) == "on_the_way"
    moved = await night.alert(alert_id)
    assert (moved["acknowledged_by"], moved["progress_due_at"]) == (night.world.nurse_a.user_id, None)
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/resolve", {"outcome": "managed_at_home"})
