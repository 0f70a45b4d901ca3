"""Reaching the phones: "test my phone" at the start of a shift, and a dead push token.

A real Lindra server, the FCM stub and Kannel with its fake network (see sms_night.py). The
nurse's phone confirms its test push and her test SMS is delivered; the coordinator's phone never
confirms and she has no number, so the coverage check names her tier.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.alerts.sms_night import NURSE_MOBILE, SmsNight, sms_night, wait_for
from tests.factories import Login

TEST_SMS = "Lindra: test af din telefon. Du skal ikke svare."


@pytest.fixture(scope="module")
async def night(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmsNight]:
    async with sms_night(server_url, tmp_path_factory.mktemp("reach")) as running:
        yield running


async def _check(night: SmsNight, login: Login, check_id: str) -> dict[str, Any]:
    answer = await night.get(login, f"/mobile/v1/phone-checks/{check_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _test_pushes(night: SmsNight, check_id: str) -> list[dict[str, Any]]:
    return [
        s.body["message"] for s in night.stub.sends() if s.body["message"].get("data", {}).get("check_id") == check_id
    ]


async def test_a_phone_check_that_is_confirmed_counts_and_one_never_confirmed_is_named_as_a_gap(
    night: SmsNight,
) -> None:
    nurse, coordinator = night.world.nurse_a, night.world.coordinator
    await night.pg.execute("UPDATE users SET mobile = NULL WHERE id = $1", coordinator.user_id)
    alerts_before = await night.pg.fetchval("SELECT count(*) FROM alerts")
    pushes_before = await night.pg.fetchval("SELECT count(*) FROM notifications")

    started = await night.post(nurse, "/mobile/v1/phone-checks")
    assert started.status_code == 201, started.text
    nurse_check = started.json()["id"]
    assert started.json()["sms"] == "queued"
    theirs = await night.post(coordinator, "/mobile/v1/phone-checks")
    assert theirs.status_code == 201, theirs.text
    coordinator_check = theirs.json()["id"]
    assert theirs.json()["sms"] == "no_number"

    # The test push reaches FCM marked as a test, with no alert in it; the nurse's app confirms it.
    [push] = await wait_for(lambda: _test_pushes(night, nurse_check), 10)
    assert push["data"] == {"kind": "phone_check", "check_id": nurse_check}
    stranger = await night.post(coordinator, f"/mobile/v1/phone-checks/{nurse_check}/received")
    assert stranger.status_code == 404  # only her own phone confirms her check
    confirmed = await night.post(nurse, f"/mobile/v1/phone-checks/{nurse_check}/received")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["push"] == "confirmed"

    # Her test SMS reaches her phone, and Kannel's delivery report says so: no reply needed.
    assert await wait_for(lambda: TEST_SMS in night.texts_to(NURSE_MOBILE), 15)

    async def delivered() -> bool:
        return (await _check(night, nurse, nurse_check))["sms"] == "delivered"

    assert await wait_for(delivered, 10)
    # The coordinator's phone got its push too, and never says so.
    assert await wait_for(lambda: _test_pushes(night, coordinator_check), 10)
    assert (await _check(night, coordinator, coordinator_check))["push"] == "sent"

    answer = await night.get(coordinator, "/alert-policies/coverage?hours=24")
    assert answer.status_code == 200, answer.text
    coverage = answer.json()
    now = coverage["shifts"][0]
    people = {p["user_id"]: p for p in now["people"]}
    ready, unready = people[str(nurse.user_id)], people[str(coordinator.user_id)]
    assert ready["ready"] and ready["push_confirmed_at"] and ready["sms_delivered_at"]
    assert not ready["no_push_token"] and not ready["no_number"]
    assert not unready["ready"] and unready["push_confirmed_at"] is None and unready["no_number"]
    critical = [g for g in now["readiness_gaps"] if g["severity"] == "critical"]
    assert critical == [
        {"severity": "critical", "tier": 1, "district_id": None, "unready_user_ids": [str(coordinator.user_id)]}
    ]
    assert coverage["readiness_gap_count"] >= 1
    read = await night.pg.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'alert_coverage.read' AND user_id = $1", coordinator.user_id
    )
    assert read == 1

    # Tests, not alerts: no alert, no alert push, nothing the indicators count.
    assert await night.pg.fetchval("SELECT count(*) FROM alerts") == alerts_before
    assert await night.pg.fetchval("SELECT count(*) FROM notifications") == pushes_before


async def test_a_push_token_fcm_calls_dead_sends_the_sms_at_once_and_the_board_hears_of_it(night: SmsNight) -> None:
    nurse = night.world.nurse_a
    token = await night.pg.fetchval("SELECT push_token FROM devices WHERE id = $1", nurse.device_id)
    night.stub.unregister(token)
    # An SMS a minute after an unconfirmed push, were the token alive.
    await night.pg.execute(
        "UPDATE escalation_policies SET tiers = (SELECT jsonb_agg(t || '{\"sms_after_seconds\": 60}')"
        " FROM jsonb_array_elements(tiers) t) WHERE municipality_id = $1",
        night.world.municipality_id,
    )
    alert_id = await night.raise_alert()

    async def texted() -> Any:
        return await night.pg.fetchrow(
            "SELECT * FROM sms_messages WHERE alert_id = $1 AND user_id = $2 AND sent_at IS NOT NULL",
            uuid.UUID(alert_id),
            nurse.user_id,
        )

    sms = await wait_for(texted, 15)
    assert sms is not None, "no SMS within 15 s of the push's dead token"
    raised = await night.alert(alert_id)
    assert (sms["created_at"] - raised["received_at"]).total_seconds() < 15
    assert await night.pg.fetchval("SELECT push_token FROM devices WHERE id = $1", nurse.device_id) is None
    assert await wait_for(lambda: any(sms["code"] in t for t in night.texts_to(NURSE_MOBILE)), 10)

    # The board reads the alert again on the event and shows "SMS sent" by her name.
    heard = await night.pg.fetchval(
        "SELECT count(*) FROM events WHERE kind = 'alert.sms' AND alert_id = $1 AND payload->'user_ids' ? $2",
        uuid.UUID(alert_id),
        str(nurse.user_id),
    )
    assert heard == 1
    detail = await night.get(night.world.coordinator, f"/alerts/{alert_id}")
    [target] = [t for t in detail.json()["targets"] if t["user_id"] == str(nurse.user_id)]
    assert target["sms_sent_at"] is not None
    await night.post(nurse, f"/alerts/{alert_id}/acknowledge")
