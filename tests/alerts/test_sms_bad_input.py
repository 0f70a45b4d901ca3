"""Bad input at the SMS edges: each gets a clear answer, nothing changes twice, nothing is lost.

Kannel's calls are made here as Kannel makes them (Basic credentials, its headers), against the
real server of an SMS night (sms_night.py); the numbers are an administrator's, through the API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.alerts.sms_night import NURSE_MOBILE, SMS_AFTER, SmsNight, sms_night, wait_for
from tests.cases.helpers import Client, write_headers
from tests.factories import World


@pytest.fixture(scope="module")
async def night(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmsNight]:
    async with sms_night(server_url, tmp_path_factory.mktemp("sms-bad")) as running:
        yield running


async def _texted(night: SmsNight) -> tuple[str, Any]:
    """An alert whose SMS went out, and that SMS's row."""
    alert_id = await night.raise_alert()
    rows = await wait_for(lambda: night.sms_rows(alert_id), 3 * SMS_AFTER + 5)
    return alert_id, rows[0]


async def _reply(night: SmsNight, text: str, sender: str = NURSE_MOBILE, gateway_id: str | None = None) -> Any:
    answer = await night.kannel_call(
        "POST",
        "/sms/kannel/inbound",
        params={"id": gateway_id or str(uuid.uuid4())},
        headers={"X-Kannel-From": sender, "Content-Type": "text/plain; charset=utf-8"},
        content=text.encode(),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
async def test_a_call_without_the_shared_secret_is_refused_before_anything_is_read(
    night: SmsNight, secret: str | None
) -> None:
    alert_id, sms = await _texted(night)
    report = await night.kannel_call("GET", "/sms/kannel/status", secret, params={"sms": str(sms["id"]), "type": 1})
    reply = await night.kannel_call(
        "POST",
        "/sms/kannel/inbound",
        secret,
        params={"id": "x"},
        headers={"X-Kannel-From": NURSE_MOBILE},
        content=f"1 {sms['code']}".encode(),
    )
    bare = await night.kannel_call("GET", "/sms/kannel/status", secret)  # no parameters at all: still 401

    assert [report.status_code, reply.status_code, bare.status_code] == [401, 401, 401]
    assert report.headers["www-authenticate"].startswith("Basic")
    assert report.json()["field"] == "Authorization"
    assert (await night.alert(alert_id))["status"] == "open"
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")


async def test_a_replayed_delivery_report_changes_nothing_and_a_late_one_never_goes_back(night: SmsNight) -> None:
    alert_id, sms = await _texted(night)
    await wait_for(lambda: night.pg.fetchval("SELECT delivered_at FROM sms_messages WHERE id = $1", sms["id"]), 5)
    before = await night.pg.fetchrow("SELECT status, delivered_at FROM sms_messages WHERE id = $1", sms["id"])

    answers = [
        (await night.kannel_call("GET", "/sms/kannel/status", params={"sms": str(sms["id"]), "type": t})).json()
        for t in (1, 8, 2)
    ]

    assert [(a["status"], a["changed"]) for a in answers] == [("delivered", False)] * 3
    assert await night.pg.fetchrow("SELECT status, delivered_at FROM sms_messages WHERE id = $1", sms["id"]) == before
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")


async def test_a_report_for_an_unknown_message_or_of_an_unknown_type_is_refused(night: SmsNight) -> None:
    unknown = await night.kannel_call("GET", "/sms/kannel/status", params={"sms": str(uuid.uuid4()), "type": 1})
    alert_id, sms = await _texted(night)
    odd_type = await night.kannel_call("GET", "/sms/kannel/status", params={"sms": str(sms["id"]), "type": 3})
    not_an_id = await night.kannel_call("GET", "/sms/kannel/status", params={"sms": "12", "type": 1})

    assert unknown.status_code == 404 and unknown.json()["title"] == "Not found"
    assert odd_type.status_code == 422 and odd_type.json()["field"] == "type"
    assert not_an_id.status_code in (400, 422)
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")


async def test_replies_that_are_no_reply_or_name_no_live_code_change_nothing(night: SmsNight) -> None:
    alert_id, sms = await _texted(night)
    code = sms["code"]

    outcomes = [
        (await _reply(night, text))["outcome"] for text in (f"Jeg tager den {code}", f"2 {code}", "1 ZZZZZZ", "", "1")
    ]

    assert outcomes == ["not_a_reply", "not_a_reply", "unknown_code", "not_a_reply", "not_a_reply"]
    assert (await night.alert(alert_id))["status"] == "open"
    # Extra words after the code, lower case and spaces: still her answer.
    assert (await _reply(night, f" 1  {code.lower()}  tak, kører nu "))["outcome"] == "acknowledged"
    assert (await night.alert(alert_id))["acknowledged_by"] == night.world.nurse_a.user_id


async def test_a_reply_redelivered_by_kannel_is_answered_the_same_and_acts_once(night: SmsNight) -> None:
    alert_id, sms = await _texted(night)
    taken = await night.post(night.world.coordinator, f"/alerts/{alert_id}/acknowledge")
    assert taken.status_code == 200
    gateway_id = str(uuid.uuid4())

    first = await _reply(night, f"1 {sms['code']}", gateway_id=gateway_id)
    again = await _reply(night, f"1 {sms['code']}", gateway_id=gateway_id)

    assert (first, again) == (
        {"outcome": "held_by_other", "replayed": False},
        {"outcome": "held_by_other", "replayed": True},
    )
    answers = await night.pg.fetchval(
        "SELECT count(*) FROM sms_messages WHERE alert_id = $1 AND kind = 'held_by'", uuid.UUID(alert_id)
    )
    assert answers == 1


async def test_a_reply_to_a_resolved_alert_is_told_so_and_reopens_nothing(night: SmsNight) -> None:
    alert_id, sms = await _texted(night)
    await night.post(night.world.nurse_a, f"/alerts/{alert_id}/acknowledge")
    resolved = await night.post(night.world.nurse_a, f"/alerts/{alert_id}/resolve", {"outcome": "managed_at_home"})
    assert resolved.status_code == 200, resolved.text

    answer = await _reply(night, f"1 {sms['code']}")

    assert answer == {"outcome": "resolved", "replayed": False}
    assert (await night.alert(alert_id))["status"] == "resolved"


async def test_a_reply_without_its_sender_is_refused_naming_the_header(night: SmsNight) -> None:
    answer = await night.kannel_call("POST", "/sms/kannel/inbound", params={"id": "y"}, content=b"1 ABCDEF")
    assert answer.status_code == 422 and answer.json()["field"] == "X-Kannel-From"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("20 00 00 03", "+4520000003"),
        ("0045 2000 0003", "+4520000003"),
        ("+45 20-00-00-03", "+4520000003"),
        ("+46 70 123 45 67", "+46701234567"),
    ],
)
async def test_an_administrator_types_a_mobile_as_people_do_and_it_is_kept_in_e164_shown_masked(
    client: Client, world: World, typed: str, stored: str
) -> None:
    changed = await client.patch(
        f"/admin/users/{world.nurse_b.user_id}", json={"mobile": typed}, headers=write_headers(world.admin)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["mobile"] == stored[:3] + "•" * (len(stored) - 5) + stored[-2:]
    page = await client.get(f"/admin/users/{world.nurse_b.user_id}", headers=world.admin.headers)
    assert page.json()["mobile"] == stored
    listed = await client.get("/admin/users/", headers=world.admin.headers)
    assert stored not in listed.text
    me = await client.get("/me/", headers=world.nurse_b.headers)
    assert me.json()["mobile"] != stored and me.json()["mobile"].endswith(stored[-2:])


@pytest.mark.parametrize("typed", ["1234567", "+45 1234 5678", "+45 200000031", "0000 0000", "+0 12345678", "mobil"])
async def test_a_malformed_mobile_is_refused_naming_the_field_and_keeps_the_old_one(
    client: Client, world: World, typed: str
) -> None:
    kept = await client.patch(
        f"/admin/users/{world.nurse_b.user_id}", json={"mobile": "20000004"}, headers=write_headers(world.admin)
    )
    assert kept.status_code == 200

    refused = await client.patch(
        f"/admin/users/{world.nurse_b.user_id}", json={"mobile": typed}, headers=write_headers(world.admin)
    )

    assert refused.status_code in (400, 422) and refused.json()["field"] == "mobile", refused.text
    page = await client.get(f"/admin/users/{world.nurse_b.user_id}", headers=world.admin.headers)
    assert page.json()["mobile"] == "+4520000004"
