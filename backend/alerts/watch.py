"""Lindra watches itself: a silent worker, a push gateway failing, an SMS gateway that does not answer.

A `Watcher` runs in every process, the web instances' as well as the worker's, so that a dead
worker is seen by the instances that still answer the boards. Each look reads the rows all
instances share (the workers' heartbeats, the gateways' health), opens or closes one alarm per
fault (a unique index keeps it to one however many instances look), and queues one SMS per
alarm to each coordinator on duty with a work mobile. The watcher then sends those SMS itself,
straight to the gateway: their path needs neither the worker nor its SMS sender. When the
gateway is the fault, they wait in the outbox; the first look that finds it answering again
sends everything waiting for a retry at once, alert SMS included.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts import channel_health
from backend.alerts.sms.gateway import SmsGateway, make_sms_gateway
from backend.alerts.sms.models import SmsKind
from backend.alerts.sms.outbox import BATCH, SMS_CHANNEL, claim_due_sms, deliver_sms
from backend.alerts.sms.texts import fault_text
from backend.alerts.watch_models import Fault
from backend.clock import Clock
from backend.config import Settings
from backend.people.models import Organisation, OrganisationKind, User
from backend.roster.models import Duty
from backend.roster.service import on_duty

log = logging.getLogger("lindra.watch")

# A coordinator is told of a fault once in this long, however often it comes and goes.
QUIET = timedelta(minutes=30)
# How often a worker's sweep writes its heartbeat (the sweep runs four times a second).
HEARTBEAT_SECONDS = 2.0
# Liveness is a matter of the wall clock, not of the service's clock (which tests move): the
# heartbeats, the gateways' health and the alarms are stamped and judged by the database's.

_HEARTBEAT = text(
    """
    INSERT INTO worker_heartbeats (instance, swept_at) VALUES (:instance, clock_timestamp())
    ON CONFLICT (instance) DO UPDATE SET swept_at = excluded.swept_at
    """
)
_last_beat: dict[int, float] = {}


async def heartbeat(session: AsyncSession, instance: str) -> None:
    """The sweep's last step: it finished (written every `HEARTBEAT_SECONDS` at most, per database)."""
    key = id(session.bind)
    if time.monotonic() - _last_beat.get(key, 0.0) < HEARTBEAT_SECONDS:
        return
    await session.execute(_HEARTBEAT, {"instance": instance})
    _last_beat[key] = time.monotonic()


_FAULTS = text(
    """
    SELECT coalesce((SELECT max(swept_at) FROM worker_heartbeats) < clock_timestamp() - make_interval(secs => :worker),
                    false) AS worker_silent,
           coalesce((SELECT failing_since FROM gateway_health WHERE channel = 'push')
                    <= clock_timestamp() - make_interval(secs => :push), false) AS push_failing,
           coalesce((SELECT failing_since FROM gateway_health WHERE channel = 'sms')
                    <= clock_timestamp() - make_interval(secs => :sms), false) AS sms_gateway_down
    """
)


async def faults_now(session: AsyncSession, settings: Settings) -> set[Fault]:
    """The faults the shared rows show now. A database no worker ever swept (a new installation)
    shows no silent worker: `lindra_worker_up` in /metrics tells of a worker that never started."""
    limits = {"worker": settings.watch_worker_seconds, "push": settings.watch_push_seconds}
    row = (await session.execute(_FAULTS, limits | {"sms": settings.watch_sms_seconds})).one()
    return {fault for fault in Fault if getattr(row, fault.value)}


_OPEN = text(
    """
    INSERT INTO watch_alarms (id, fault, started_at) VALUES (:id, :fault, clock_timestamp())
    ON CONFLICT (fault) WHERE ended_at IS NULL DO NOTHING
    """
)
_CLOSE = text(
    "UPDATE watch_alarms SET ended_at = clock_timestamp() WHERE fault <> ALL (CAST(:on AS text[])) AND ended_at IS NULL"
)
OPEN_ALARMS = text("SELECT id, fault, started_at FROM watch_alarms WHERE ended_at IS NULL ORDER BY started_at")

# The SMS of an alarm to a coordinator, unless she was told of the same fault within `QUIET`.
_TELL = text(
    """
    INSERT INTO sms_messages (id, kind, user_id, alarm_id, body, status, attempts, created_at, due_at)
    SELECT gen_random_uuid(), 'watch', u.id, :alarm_id, :body, 'queued', 0, :now, :now
    FROM users u
    WHERE u.id = :user_id AND u.mobile IS NOT NULL AND u.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM sms_messages m JOIN watch_alarms w ON w.id = m.alarm_id
                      WHERE m.user_id = u.id AND w.fault = :fault AND m.created_at > :quiet_since)
    ON CONFLICT (alarm_id, user_id) WHERE alarm_id IS NOT NULL DO NOTHING
    """
)


async def record_alarms(session: AsyncSession, faults: set[Fault]) -> list[Any]:
    """Open an alarm for each fault seen (one however many instances see it), close the others; the open ones."""
    for fault in faults:
        await session.execute(_OPEN, {"id": uuid.uuid4(), "fault": fault.value})
    await session.execute(_CLOSE, {"on": [f.value for f in faults]})
    return list((await session.execute(OPEN_ALARMS)).all())


async def tell_coordinators(session: AsyncSession, alarms: list[Any], now: datetime) -> None:
    """Queue an SMS about each open alarm to every coordinator on duty now (in her language)."""
    if not alarms:
        return
    municipalities = await session.scalars(
        select(Organisation.id).where(Organisation.kind == OrganisationKind.MUNICIPALITY.value)
    )
    coordinators = [u for mid in municipalities.all() for u in await on_duty(session, mid, now, Duty.COORDINATOR)]
    languages = dict((await session.execute(select(User.id, User.language).where(User.id.in_(coordinators)))).all())
    for alarm in alarms:
        for user_id in coordinators:
            params = {
                "alarm_id": alarm.id,
                "user_id": user_id,
                "body": fault_text(alarm.fault, languages.get(user_id, "da")),
                "fault": alarm.fault,
                "now": now,
                "quiet_since": now - QUIET,
            }
            await session.execute(_TELL, params)


_RELEASE = text(
    f"""
    WITH waiting AS (
        UPDATE sms_messages SET due_at = :now WHERE status = 'queued' AND due_at > :now RETURNING 1
    )
    SELECT pg_notify('{SMS_CHANNEL}', '') FROM waiting LIMIT 1
    """
)


class Watcher:
    """Looks every `watch_every_seconds`: probes the SMS gateway, records the faults, tells the
    coordinators on duty and sends them the SMS itself."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.gateway: SmsGateway = make_sms_gateway(settings)
        self._gateway_down = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.gateway.aclose()

    async def look(self) -> None:
        """One look: the gateway probed, the alarms opened and closed, the coordinators told."""
        now = self.clock.now()
        answers = await self.gateway.answers()
        await channel_health.record(self.sessions, "sms", answers)
        async with self.sessions.begin() as session:
            if answers and self._gateway_down:  # back: what waited for its next retry goes now
                await session.execute(_RELEASE, {"now": now})
            alarms = await record_alarms(session, await faults_now(session, self.settings))
            await tell_coordinators(session, alarms, now)
        self._gateway_down = answers is False
        claimed = await claim_due_sms(self.sessions, now, BATCH, [SmsKind.WATCH])
        if claimed:
            await deliver_sms(self.sessions, self.gateway, claimed, now)

    async def _run(self) -> None:
        while True:
            try:
                await self.look()
            except Exception as exc:  # the database restarting, say: the next look goes on
                log.error("watcher: %s", type(exc).__name__)
            await asyncio.sleep(self.settings.watch_every_seconds)
