"""The board in a real browser shows Lindra's own faults as a red banner, and on its on-call panel
whose phone is known to work this shift (see tests/board/conftest.py for the server and clock)."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.alerts.helpers import full_roster, give_phone
from tests.board.conftest import BoardServer
from tests.board.test_browser import Page, expect, log_in
from tests.cases.helpers import Sessions, write_headers
from tests.factories import World

# Kannel has not answered for a minute (as its senders and probes record it), or answers again.
_GATEWAY = text(
    """
    INSERT INTO gateway_health (channel, failing_since)
    VALUES ('sms', CASE WHEN :down THEN clock_timestamp() - interval '1 minute' END)
    ON CONFLICT (channel) DO UPDATE SET failing_since = excluded.failing_since
    """
)


async def test_a_silent_sms_gateway_is_a_red_banner_and_the_on_call_panel_shows_whose_phone_works(
    page: Page, server: BoardServer, api: httpx.AsyncClient, world: World, sessions: Sessions
) -> None:
    await full_roster(api, world, server.clock)
    await give_phone(sessions, world.nurse_a)
    check = await api.post("/mobile/v1/phone-checks", headers=write_headers(world.nurse_a))
    assert check.status_code == 201, check.text
    received = await api.post(
        f"/mobile/v1/phone-checks/{check.json()['id']}/received", headers=write_headers(world.nurse_a)
    )
    assert received.status_code == 200, received.text
    async with sessions.begin() as session:
        await session.execute(_GATEWAY, {"down": True})

    await log_in(page, server, world.coordinator)

    banner = page.locator("#faults")
    await expect(banner).to_be_visible(timeout=15_000)
    await expect(banner).to_contain_text("SMS-gatewayen svarer ikke")
    oncall = page.locator("#oncall-body")
    await expect(oncall.locator(f'[data-user="{world.nurse_a.user_id}"]')).to_contain_text("push bekræftet")
    await expect(oncall.locator(f'[data-user="{world.nurse_b.user_id}"]')).to_contain_text("telefonen ikke testet")
    await expect(oncall.locator(f'[data-user="{world.nurse_b.user_id}"]')).to_contain_text("intet nummer")
    await expect(page.locator("#gaps-body")).to_contain_text("ingen har testet telefonen denne vagt")

    async with sessions.begin() as session:
        await session.execute(_GATEWAY, {"down": False})
    await expect(banner).to_be_hidden(timeout=15_000)
