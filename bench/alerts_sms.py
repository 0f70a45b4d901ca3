"""The SMS column of bench.alerts: Kannel beside the cluster, some phones without data.

Half the on-call nurses (`--offline-share`) have phones without data: their pushes are never
confirmed, so each alert that calls one of them sends her an SMS `SMS_AFTER_SECONDS` after the
tier called her. The other phones confirm every push within moments (written straight into the
notification rows, as the phone's receipt would, by a loop of this process), so they get none.
Measured: from the push's confirmation deadline (the tier's call + `SMS_AFTER_SECONDS`) to the
SMS at Kannel's fake network (bench.kannel), for every SMS; and SMS missing or sent twice.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg

from bench.harness import spread
from bench.kannel import Kannel

SMS_AFTER_SECONDS = 2
_CODE = re.compile(r"Svar 1 (\S+) ")
CALLBACK_SECRET = "bench-kannel-callback-" + "c" * 32


async def phones_offline(
    url: str, tier_zero_tokens: list[str], share: float
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Give the first `share` of the on-call nurses a mobile (their phones have no data), set the
    policy's `sms_after_seconds`; the nurses offline and online."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT user_id FROM devices WHERE push_token = ANY($1::text[]) ORDER BY user_id", tier_zero_tokens
        )
        nurses = [r["user_id"] for r in rows]
        offline, online = nurses[: round(share * len(nurses))], nurses[round(share * len(nurses)) :]
        await conn.executemany(
            "UPDATE users SET mobile = $2 WHERE id = $1", [(u, f"+452{n:07d}") for n, u in enumerate(offline)]
        )
        await conn.execute(
            "UPDATE escalation_policies"
            " SET tiers = (SELECT jsonb_agg(t || $1::jsonb) FROM jsonb_array_elements(tiers) t)",
            json.dumps({"sms_after_seconds": SMS_AFTER_SECONDS}),
        )
        return offline, online
    finally:
        await conn.close()


async def confirm_online(url: str, online: list[uuid.UUID], stop: asyncio.Event) -> None:
    """The phones with data confirm every push they get, within a fifth of a second."""
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            await conn.execute(
                "UPDATE notifications SET confirmed_at = now() "
                "WHERE user_id = ANY($1::uuid[]) AND channel = 'push' AND status = 'sent' AND confirmed_at IS NULL",
                online,
            )
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except TimeoutError:
                pass
    finally:
        await conn.close()


async def sms_figures(url: str, kannel: Kannel, alert_ids: list[str], online: list[uuid.UUID]) -> dict[str, Any]:
    """Deadline -> SMS at the fake network (ms) for every alert SMS of the measured alerts, once
    the last has had time to arrive; and what is missing, doubled, or went to a phone with data."""
    conn = await asyncpg.connect(url)
    try:
        query = """
            SELECT s.code, s.user_id, t.notified_at FROM sms_messages s
            JOIN alert_targets t ON t.alert_id = s.alert_id AND t.climb = s.climb AND t.user_id = s.user_id
            WHERE s.kind = 'alert' AND s.alert_id = ANY($1::uuid[])
        """
        rows = list(await conn.fetch(query, alert_ids))
        for _ in range(60):  # the last SMS: at most a few seconds behind the climbs the caller waited for
            arrived = {_code(r.text) for r in kannel.received()}
            if all(r["code"] in arrived for r in rows):
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    first_seen: dict[str, float] = {}
    seen = Counter[str]()
    for received in kannel.received():
        code = _code(received.text)
        seen[code] += 1
        first_seen.setdefault(code, received.at)
    deadline = {r["code"]: (r["notified_at"] + timedelta(seconds=SMS_AFTER_SECONDS)).timestamp() for r in rows}
    return spread([(first_seen[c] - at) * 1000 for c, at in deadline.items() if c in first_seen]) | {
        "missing": sum(c not in first_seen for c in deadline),
        "twice": sum(seen[c] > 1 for c in deadline),
        "to_phones_with_data": sum(r["user_id"] in set(online) for r in rows),
    }


def _code(text: str) -> str:
    found = _CODE.search(text)
    return found.group(1) if found else ""
