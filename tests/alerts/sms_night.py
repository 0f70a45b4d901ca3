"""A night with SMS: a real Lindra server (uvicorn, with its sweeps and senders) over a database of
its own, the real firebase-admin talking to the FCM stub, and Kannel's bearerbox and smsbox with
the fake SMS network on free ports. The phones never confirm a push (no mobile data), so every
person called gets an SMS after the tier's `sms_after_seconds`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy import insert, update

from backend.alerts.fcm_stub import FcmStub
from backend.alerts.models import EscalationPolicy
from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from backend.db import make_engine, make_sessionmaker, migrate
from backend.people.models import Device, User
from backend.roster.models import Duty
from backend.row_scope import SYSTEM
from backend.worker import free_port
from bench.kannel import Kannel
from tests.alerts.helpers import on_duty_now_and_next
from tests.cases.helpers import case_body
from tests.conftest import admin_exec, with_database
from tests.factories import Login, World, build_world
from tests.serving import serving

SECRET = "kannel-callback-" + "s" * 32
SMS_AFTER = 2  # seconds a push may go unconfirmed
ACK_TIMEOUT = 10  # seconds before the next tier
SECOND_TIER_TIMEOUT = 20  # seconds the second tier waits (its own, so a push's expiry tells the tiers apart)
NURSE_MOBILE, COORDINATOR_MOBILE, STRANGER = "+4520000001", "+4520000002", "+4599999999"
T = TypeVar("T")


class SmsNight:
    def __init__(
        self, url: str, world: World, kannel: Kannel, stub: FcmStub, pg: asyncpg.Connection, settings: Settings
    ) -> None:
        self.url = url
        self.world = world
        self.kannel = kannel
        self.stub = stub
        self.pg = pg
        self.settings = settings

    async def get(self, login: Login, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            return await http.get(path, headers=login.headers)

    async def post(self, login: Login, path: str, body: Any = None) -> httpx.Response:
        headers = login.headers | {"Idempotency-Key": str(uuid.uuid4())}
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            return await http.post(path, json=body, headers=headers)

    async def kannel_call(self, method: str, path: str, secret: str | None = SECRET, **kwargs: Any) -> httpx.Response:
        """A request to Lindra's Kannel endpoints as Kannel makes it (Basic credentials from the URL)."""
        auth = ("kannel", secret) if secret is not None else None
        async with httpx.AsyncClient(base_url=self.url, timeout=10, auth=auth) as http:
            return await http.request(method, path, **kwargs)

    async def raise_alert(self, severity: str = "critical") -> str:
        """A new terminal case in district A and an alert on it (critical unless told), raised from the board."""
        body = case_body(self.world.district_a, Clock().today() - timedelta(days=3), phase="terminal")
        created = await self.post(self.world.coordinator, "/cases", body)
        assert created.status_code == 201, created.text
        alert = {
            "client_id": str(uuid.uuid4()),
            "case_id": created.json()["id"],
            "reason": "pain",
            "severity": severity,
        }
        raised = await self.post(self.world.coordinator, "/alerts", alert)
        assert raised.status_code == 201, raised.text
        return str(raised.json()["id"])

    async def sms_rows(self, alert_id: str) -> list[Any]:
        return list(
            await self.pg.fetch(
                "SELECT * FROM sms_messages WHERE alert_id = $1 ORDER BY created_at", uuid.UUID(alert_id)
            )
        )

    async def alert(self, alert_id: str) -> Any:
        return await self.pg.fetchrow("SELECT * FROM alerts WHERE id = $1", uuid.UUID(alert_id))

    def texts_to(self, number: str) -> list[str]:
        return [r.text for r in self.kannel.received() if r.to == number]


async def wait_for(check: Callable[[], Awaitable[T] | T], seconds: float) -> T:
    """`check()`'s answer (awaited if need be) once it is truthy, or its last answer after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        found = await answer if inspect.isawaitable(answer) else answer
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def _prepare(url: str, settings: Settings) -> World:
    """The world, its roster for now and the next shift, phones with push tokens, mobiles, and a policy
    of short tiers that texts after `SMS_AFTER` seconds."""
    engine = make_engine(url, 2)
    sessions = make_sessionmaker(engine, SYSTEM)
    world = await build_world(sessions, settings, Clock())
    async with sessions.begin() as session:
        on_duty = [(world.nurse_a, Duty.ON_CALL_NURSE, world.district_a), (world.coordinator, Duty.COORDINATOR, None)]
        await on_duty_now_and_next(session, world, on_duty)
        for login, mobile in ((world.nurse_a, NURSE_MOBILE), (world.coordinator, COORDINATOR_MOBILE)):
            await session.execute(
                update(Device).where(Device.id == login.device_id).values(push_token=f"fcm-{uuid.uuid4().hex}")
            )
            await session.execute(update(User).where(User.id == login.user_id).values(mobile=mobile))
        tiers = [
            {
                "targets": targets,
                "ack_timeout_seconds": timeout,
                "renotify_seconds": 600,
                "sms_after_seconds": SMS_AFTER,
            }
            for targets, timeout in ((["on_call_nurses"], ACK_TIMEOUT), (["coordinator"], SECOND_TIER_TIMEOUT))
        ]
        await session.execute(
            insert(EscalationPolicy).values(
                id=uuid.uuid4(), municipality_id=world.municipality_id, severity="critical", tiers=tiers, version=1
            )
        )
    await engine.dispose()
    return world


@asynccontextmanager
async def sms_night(server_url: str, workdir: Path, **overrides: Any) -> AsyncIterator[SmsNight]:
    """The night; `overrides` change the server's settings (e.g. `housekeeping=False`: no worker in it)."""
    name = f"lindra_sms_{uuid.uuid4().hex[:8]}"
    await admin_exec(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        await asyncio.to_thread(migrate, url)
        port = free_port()
        lindra = f"http://127.0.0.1:{port}"
        with FcmStub() as stub, Kannel(workdir / "kannel", lindra, SECRET) as kannel:
            env = kannel.settings_env(lindra, SECRET)
            settings = Settings(
                database_url=url,
                secret_key="sms-night-" + "k" * 40,
                db_pool_size=5,
                fcm_credentials=str(stub.write_service_account(workdir / "service-account.json", "lindra-sms")),
                fcm_url=stub.url,
                sms_gateway_url=env["LINDRA_SMS_GATEWAY_URL"],
                sms_gateway_username=env["LINDRA_SMS_USERNAME"],
                sms_gateway_password=env["LINDRA_SMS_PASSWORD"],
                sms_callback_url=lindra,
                sms_callback_secret=SECRET,
                **overrides,
            )
            world = await _prepare(url, settings)
            pg = await asyncpg.connect(url)
            try:
                async with serving(create_app(settings, Clock()), port=port):
                    yield SmsNight(lindra, world, kannel, stub, pg, settings)
            finally:
                await pg.close()
    finally:
        await admin_exec(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')
