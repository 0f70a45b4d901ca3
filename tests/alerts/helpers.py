"""Alerts through the API, a roster to call, and the engine's rows read back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from backend.alerts import engine, push_sender
from backend.alerts.models import Alert, AlertTier, Notification
from backend.alerts.push import LoggingGateway
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Device
from backend.roster.models import Duty, RosterEntry
from backend.roster.shifts import shift_at
from backend.visits.models import Event
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import Login, World
from tests.visits.coordination_helpers import move_to


async def roster_now(client: Client, world: World, clock: Clock, *entries: tuple[Login, str, uuid.UUID | None]) -> None:
    """Put people on the shift running now: (who, duty, district or None)."""
    running = shift_at(clock.now())
    body = {
        "entries": [
            {"user_id": str(who.user_id), "duty": duty, "district_id": str(district) if district else None}
            for who, duty, district in entries
        ]
    }
    response = await client.put(
        f"/roster/{running.day.isoformat()}/{running.kind.value}", json=body, headers=write_headers(world.coordinator)
    )
    assert response.status_code == 200, response.text


async def full_roster(client: Client, world: World, clock: Clock) -> None:
    """nurse_a on call in district A, nurse_b in B, the coordinator and key person on duty."""
    await roster_now(
        client,
        world,
        clock,
        (world.nurse_a, "on_call_nurse", world.district_a),
        (world.nurse_b, "on_call_nurse", world.district_b),
        (world.coordinator, "coordinator", None),
        (world.key_person, "key_person", None),
    )


async def give_phone(sessions: Sessions, login: Login, token: str | None = None) -> str:
    """Register a push token on the login's device (as the app does after login)."""
    token = token or f"fcm-token-{uuid.uuid4().hex}"
    async with sessions.begin() as session:
        await session.execute(update(Device).where(Device.id == login.device_id).values(push_token=token))
    return token


def raise_body(case_id: uuid.UUID | str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "case_id": str(case_id),
        "reason": "pain",
        "severity": "critical",
    }
    body.update(overrides)
    return body


async def raise_alert(client: Client, login: Login, body: dict[str, Any], path: str = "/alerts") -> dict[str, Any]:
    response = await client.post(path, json=body, headers=write_headers(login))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def act(client: Client, login: Login, alert_id: str, action: str, body: Any = None) -> Any:
    return await client.post(f"/alerts/{alert_id}/{action}", json=body, headers=write_headers(login))


async def alert_row(sessions: Sessions, alert_id: str | uuid.UUID) -> Alert:
    async with sessions() as session:
        return await session.get_one(Alert, uuid.UUID(str(alert_id)))


async def tiers_fired(sessions: Sessions, alert_id: str | uuid.UUID, at_least: int = 0) -> list[AlertTier]:
    """The alert's fired tiers; with `at_least`, once there are that many (or after 2 s): an
    instance's background sweep may be the one that fires, committing a moment after the test's."""
    for _ in range(40):
        async with sessions() as session:
            rows = await session.scalars(
                select(AlertTier)
                .where(AlertTier.alert_id == uuid.UUID(str(alert_id)))
                .order_by(AlertTier.climb, AlertTier.tier)
            )
            fired = list(rows.all())
        if len(fired) >= at_least:
            break
        await asyncio.sleep(0.05)
    return fired


async def notifications(sessions: Sessions, alert_id: str | uuid.UUID, **where: Any) -> list[Notification]:
    async with sessions() as session:
        query = select(Notification).where(Notification.alert_id == uuid.UUID(str(alert_id)))
        for column, value in where.items():
            query = query.where(getattr(Notification, column) == value)
        return list((await session.scalars(query.order_by(Notification.created_at))).all())


async def alert_events(sessions: Sessions, alert_id: str | uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Event.kind, Event.payload).where(Event.alert_id == uuid.UUID(str(alert_id))).order_by(Event.id)
        )
        return [(kind, payload) for kind, payload in rows]


async def count_alerts(sessions: Sessions, case_id: str | uuid.UUID) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.case_id == uuid.UUID(str(case_id)))
            )
            or 0
        )


async def send_due_pushes(sessions: Sessions, now: datetime) -> None:
    """One round of a push sender, through the logging gateway: claim what is due, send it, record it."""
    claimed = await push_sender.claim_due_pushes(sessions, now, push_sender.PUSH_BATCH)
    if claimed:
        await push_sender.deliver(sessions, LoggingGateway(), claimed, now)


async def sweep_at(sessions: Sessions, settings: Settings, clock: Clock, seconds: float = 0) -> int:
    """Move the clock on and run one sweep, as the scheduler does every second."""
    clock.shift(timedelta(seconds=seconds))
    return await engine.sweep(sessions, settings, clock)


def later(clock: Clock, settings: Settings, world: World, seconds: float) -> None:
    """Let time pass; everyone's token is renewed, as the phones and boards do."""
    move_to(clock, clock.now() + timedelta(seconds=seconds), settings, world)


async def push_kinds(sessions: Sessions, alert_id: str | uuid.UUID, expected: list[str]) -> list[str]:
    """The kinds of the alert's pushes, once they are `expected` (or after 2 s): an instance's
    background sweep may be the one that writes them, a moment after the test's own sweep."""
    kinds: list[str] = []
    for _ in range(40):
        kinds = sorted(n.kind for n in await notifications(sessions, alert_id, channel="push"))
        if kinds == expected:
            break
        await asyncio.sleep(0.05)
    return kinds


async def on_duty_now_and_next(session: Any, world: World, people: list[tuple[Login, Duty, uuid.UUID | None]]) -> None:
    """`people` on the roster for the shift running now and the next, whenever the test runs."""
    now = Clock().now()
    for instant in (now, shift_at(now).ends + timedelta(minutes=1)):
        running = shift_at(instant)
        for who, duty, district in people:
            await session.execute(
                insert(RosterEntry).values(
                    id=uuid.uuid4(),
                    municipality_id=world.municipality_id,
                    shift_date=running.day,
                    shift_kind=running.kind.value,
                    user_id=who.user_id,
                    duty=duty.value,
                    district_id=district,
                )
            )
