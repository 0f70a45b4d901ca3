"""SMS through a real Kannel: a push nobody confirms becomes an SMS at the fake network, its
delivery report is recorded, a reply from the right number takes the alert, and a gateway
restart loses nothing. A real Lindra server, bearerbox, smsbox and fakesmsc (see sms_night.py).
"""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.alerts.sms_night import (
    ACK_TIMEOUT,
    COORDINATOR_MOBILE,
    NURSE_MOBILE,
    SMS_AFTER,
    STRANGER,
    SmsNight,
    sms_night,
    wait_for,
)

CODE = re.compile(r"Svar 1 ([A-Z0-9]+) for at kvittere")


@pytest.fixture(scope="module")
async def night(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmsNight]:
    async with sms_night(server_url, tmp_path_factory.mktemp("sms")) as running:
        yield running


async def _code_sent_to(night: SmsNight, number: str, alert_id: str, seconds: float = 3 * SMS_AFTER + 5) -> str:
    """The reply code of the alert's SMS to the on-call nurse, once the fake network has it."""

    async def nurses() -> list[Any]:
        return [r for r in await night.sms_rows(alert_id) if r["user_id"] == night.world.nurse_a.user_id]

    [row] = await wait_for(nurses, seconds)

    async def arrived() -> bool:
        return any(row["code"] in text for text in night.texts_to(number))

    if not await wait_for(arrived, seconds):
        rows = [(r["kind"], r["status"], r["attempts"], r["error"]) for r in await night.sms_rows(alert_id)]
        raise AssertionError(
            f"{row['code']} never arrived: rows {rows}, {night.kannel.received()} {night.kannel.status()}"
        )
    return str(row["code"])


async def _reply_outcome(night: SmsNight, count: int) -> list[str]:
    async def outcomes() -> list[str]:
        rows = await night.pg.fetch("SELECT outcome FROM sms_replies ORDER BY received_at")
        return [r["outcome"] for r in rows] if len(rows) >= count else []

    return await wait_for(outcomes, 10)


async def test_an_unconfirmed_push_becomes_an_sms_whose_reply_from_her_number_takes_the_alert(night: SmsNight) -> None:
    replies_before = len(await night.pg.fetch("SELECT 1 FROM sms_replies"))
    alert_id = await night.raise_alert()
    raised = await night.alert(alert_id)

    code = await _code_sent_to(night, NURSE_MOBILE, alert_id)

    # The push went to the phone first, and the SMS came only after it stayed unconfirmed.
    assert any(s.body["message"]["data"]["alert_id"] == alert_id for s in night.stub.sends())
    [text] = [t for t in night.texts_to(NURSE_MOBILE) if code in t]
    assert text == f"Lindra: akut alarm. Svar 1 {code} for at kvittere."
    [row] = await night.sms_rows(alert_id)
    assert (row["created_at"] - raised["received_at"]).total_seconds() >= SMS_AFTER
    delivered = await wait_for(
        lambda: night.pg.fetchval("SELECT delivered_at FROM sms_messages WHERE id = $1", row["id"]), 5
    )
    assert delivered is not None
    assert (await night.sms_rows(alert_id))[0]["status"] == "delivered"

    # The same words from another number change nothing.
    night.kannel.reply(STRANGER, f"1 {code}")
    assert (await _reply_outcome(night, replies_before + 1))[-1] == "foreign_number"
    assert (await night.alert(alert_id))["status"] == "open"

    # From her number, lower case with extra spaces: taken, as in the app, and the climb stops.
    night.kannel.reply(NURSE_MOBILE.replace("+", "00"), f"  1   {code.lower()}  ")
    assert (await _reply_outcome(night, replies_before + 2))[-1] == "acknowledged"
    taken = await night.alert(alert_id)
    assert (taken["status"], taken["acknowledged_by"], taken["next_escalation_at"]) == (
        "acknowledged",
        night.world.nurse_a.user_id,
        None,
    )
    audit = await night.pg.fetchval(
        "SELECT count(*) FROM audit_log"
        " WHERE action = 'alert.acknowledged' AND user_id = $1 AND detail->>'alert_id' = $2",
        night.world.nurse_a.user_id,
        alert_id,
    )
    assert audit == 1
    await asyncio.sleep(
        max(0.0, ACK_TIMEOUT - (taken["acknowledged_at"] - raised["received_at"]).total_seconds()) + 1.5
    )
    tiers = await night.pg.fetch("SELECT tier FROM alert_tiers WHERE alert_id = $1", uuid.UUID(alert_id))
    assert [t["tier"] for t in tiers] == [0]
    assert not night.texts_to(COORDINATOR_MOBILE) or all(code not in t for t in night.texts_to(COORDINATOR_MOBILE))


async def test_a_reply_for_an_alert_a_colleague_holds_is_answered_with_her_first_name(night: SmsNight) -> None:
    alert_id = await night.raise_alert()
    code = await _code_sent_to(night, NURSE_MOBILE, alert_id)
    taken = await night.post(night.world.coordinator, f"/alerts/{alert_id}/acknowledge")
    assert taken.status_code == 200, taken.text
    before = len(night.texts_to(NURSE_MOBILE))

    night.kannel.reply(NURSE_MOBILE, f"1 {code}")

    async def answered() -> list[str]:
        return night.texts_to(NURSE_MOBILE)[before:]

    [answer] = await wait_for(answered, 10)
    first_name = (
        await night.pg.fetchval("SELECT full_name FROM users WHERE id = $1", night.world.coordinator.user_id)
    ).split()[0]
    assert answer == f"Lindra: {first_name} har allerede alarmen."
    assert (await night.alert(alert_id))["acknowledged_by"] == night.world.coordinator.user_id


async def test_a_kannel_restart_in_the_night_loses_no_sms(night: SmsNight) -> None:
    # The phones' network goes down: Kannel takes the first SMS and keeps it in its queue.
    night.kannel.disconnect_network()
    queued = await night.raise_alert()
    in_kannel = await wait_for(
        lambda: night.pg.fetchval(
            "SELECT status FROM sms_messages WHERE alert_id = $1 AND status = 'sent'", uuid.UUID(queued)
        ),
        3 * SMS_AFTER + 5,
    )
    assert in_kannel == "sent"
    # Kannel crashes; while it is down a second alert's SMS is due: Lindra retries until it is back.
    night.kannel.stop_boxes(signal.SIGKILL)
    retried = await night.raise_alert()
    attempts = await wait_for(
        lambda: night.pg.fetchval(
            "SELECT attempts FROM sms_messages WHERE alert_id = $1 AND attempts >= 2", uuid.UUID(retried)
        ),
        3 * SMS_AFTER + 8,
    )
    assert attempts and attempts >= 2
    night.kannel.start_boxes()
    night.kannel.connect_network()

    codes = [await _code_sent_to(night, NURSE_MOBILE, alert_id, 30) for alert_id in (queued, retried)]

    await asyncio.sleep(2)  # nothing comes twice
    texts = night.texts_to(NURSE_MOBILE)
    assert [sum(code in t for t in texts) for code in codes] == [1, 1]
    for alert_id in (queued, retried):
        await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")


def test_the_kannel_config_keeps_numbers_and_texts_out_of_its_logs() -> None:
    conf = (Path(__file__).parents[2] / "infra" / "kannel.conf").read_text()
    assert re.search(r"^log-level = [2-5]$", conf, re.MULTILINE)
    assert not re.search(r"^access-log", conf, re.MULTILINE)
    assert "post-url" in conf and "%I" in conf and "send-sender = true" in conf
