"""The escalation engine: fire due tiers, call people again, and stop calling once an alert is taken.

Every step is a short transaction over rows: the sweep claims due alerts with
`FOR UPDATE SKIP LOCKED`, so however many instances sweep, each alert is moved by one of them;
the `alert_tiers` primary key makes a second firing of a tier impossible even so. Pushes are an
outbox: rows written in the same transaction as the tier, sent after commit by the push sender
(`backend.alerts.push_sender`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.alerts.calls import (
    NOTIFICATIONS_SQL,
    alert_event,
    alert_event_row,
    notify,
    wake_push_senders,
)
from backend.alerts.models import Alert, AlertStatus, AlertTarget, Notification, TargetRule
from backend.alerts.progress import stop_clock, watch_acknowledged
from backend.alerts.sms.outbox import DEFAULT_SMS_AFTER_SECONDS, queue_due_sms
from backend.alerts.targets import UNIT_RULES, AlertPlace, find
from backend.alerts.watch import heartbeat
from backend.cases.models import Case
from backend.clock import Clock
from backend.config import Settings
from backend.events import emit_many, event_arrays, insert_events
from backend.metrics import ESCALATION_LATENESS

log = logging.getLogger("lindra.alerts")

# Which instance fired a tier: a worker started by `lindra serve` is told its instance's name.
INSTANCE = os.environ.get("LINDRA_INSTANCE") or f"{socket.gethostname()}:{os.getpid()}"
# Alerts one sweep moves at most; the next sweep, a second later, goes on.
SWEEP_LIMIT = 500
# Due alerts one sweep transaction takes: their tiers are written together (see `write_tiers`).
SWEEP_BATCH = 50
UNCONFIRMED_AFTER = timedelta(minutes=1)
# The watchdog steps in when an alert's deadline passed this long ago and nothing moved it.
WATCHDOG_AFTER = timedelta(seconds=5)


_ALERTS_BY_ID = select(Alert).where(Alert.id.in_(bindparam("ids", expanding=True)))
_CASE_PEOPLE = select(Case.key_person_id, Case.palliative_team_id).where(Case.id == bindparam("case_id"))


# A tier fires on every raise and twice more in a typical climb. One statement writes the tiers of
# one alert or many: the tier rows, whom they call (someone already called in this climb keeps
# their first tier), their pushes and WebSocket messages, and the events (the first `:before`
# ones the caller's, the rest the tiers'); a tier that had fired already (it cannot, under the
# alert's row lock) writes nothing and is not among those returned, nor are its alert's events.
_FIRE_TIERS = text(
    f"""
    WITH fired AS (
        INSERT INTO alert_tiers (alert_id, climb, tier, due_at, fired_at, fired_by, rules, target_ids, empty_reason)
        SELECT t.alert_id, t.climb, t.tier, t.due_at, :now, :fired_by, CAST(t.rules AS jsonb),
               CAST(t.target_ids AS jsonb), t.empty_reason
        FROM unnest(CAST(:alert_ids AS uuid[]), CAST(:climbs AS int[]), CAST(:tiers AS int[]),
                    CAST(:due_ats AS timestamptz[]), CAST(:rules AS text[]), CAST(:target_ids AS text[]),
                    CAST(:empty_reasons AS text[])) AS t(alert_id, climb, tier, due_at, rules, target_ids, empty_reason)
        ON CONFLICT DO NOTHING
        RETURNING alert_id, climb, tier
    ), called AS (
        SELECT c.* FROM unnest(CAST(:called_alert_ids AS uuid[]), CAST(:called_climbs AS int[]),
                               CAST(:called_tiers AS int[]), CAST(:called_users AS uuid[]),
                               CAST(:called_rules AS text[]), CAST(:called_next AS timestamptz[]),
                               CAST(:called_sms_at AS timestamptz[]))
                        AS c(alert_id, climb, tier, user_id, rule, next_notify_at, sms_at)
        JOIN fired USING (alert_id, climb, tier)
    ), targets AS (
        INSERT INTO alert_targets
            (alert_id, climb, user_id, tier, rule, notified_at, last_notified_at, next_notify_at, times_notified,
             sms_due_at)
        SELECT alert_id, climb, user_id, tier, rule, :now, :now, next_notify_at, 1,
               -- without a phone to push to, the SMS goes at once
               CASE WHEN EXISTS (SELECT 1 FROM devices d WHERE d.user_id = called.user_id AND d.revoked_at IS NULL
                                   AND d.push_token IS NOT NULL AND d.refresh_expires_at > :now)
                    THEN sms_at ELSE CAST(:now AS timestamptz) END
        FROM called
        ON CONFLICT DO NOTHING
    ), {NOTIFICATIONS_SQL}, announced AS (
        {insert_events("r.n <= :before OR r.alert_id IN (SELECT alert_id FROM fired)")}
    )
    SELECT alert_id, tier, (SELECT count(*) FROM woken) AS woken FROM fired
    """
)


@dataclass(slots=True)
class FiredTier:
    """A tier an alert fires now: whom it calls (nobody: it passes on at once) and the event that says so."""

    alert: Alert
    index: int
    due_at: datetime
    rules: list[TargetRule]
    by_user: dict[uuid.UUID, TargetRule]
    renotify_seconds: int
    event: dict[str, Any]

    @property
    def sms_after_seconds(self) -> int:
        """How long a push to the tier's people may go unconfirmed before they get an SMS."""
        return int(self.alert.tiers[self.index].get("sms_after_seconds", DEFAULT_SMS_AFTER_SECONDS))

    @property
    def empty_reason(self) -> str | None:
        return None if self.by_user else ("nobody_found:" + ",".join(r.value for r in self.rules))[:64]


async def next_tiers(
    session: AsyncSession,
    alert: Alert,
    now: datetime,
    case_people: tuple[uuid.UUID | None, uuid.UUID | None] | None = None,
) -> list[FiredTier]:
    """The tiers the alert (locked by the caller) fires now: any that find nobody, then the one that
    calls somebody, if one is left. Moves the alert on; `write_tiers` writes what they did.

    `case_people`: the case's key person and palliative team, when the caller has read them already."""
    with session.no_autoflush:  # nothing pending changes whom a rule finds; a new alert is written whole later
        key_person_id, team_id = case_people or (await session.execute(_CASE_PEOPLE, {"case_id": alert.case_id})).one()
        place = AlertPlace(alert.municipality_id, alert.district_id, key_person_id, team_id)
        due_at = alert.next_escalation_at or now
        fired: list[FiredTier] = []
        while alert.tier + 1 < len(alert.tiers):
            index = alert.tier + 1
            tier = alert.tiers[index]
            rules = [TargetRule(r) for r in tier["targets"]]
            by_user: dict[uuid.UUID, TargetRule] = {}
            for rule in rules:
                for user_id in await find(session, rule, place, now):
                    by_user.setdefault(user_id, rule)
            alert.tier = index
            if by_user and UNIT_RULES & set(by_user.values()) and alert.unit_notified_at is None:
                alert.unit_notified_at = now
            last = index + 1 == len(alert.tiers)
            alert.next_escalation_at = None if last else now + timedelta(seconds=tier["ack_timeout_seconds"])
            step = FiredTier(alert, index, due_at, rules, by_user, tier["renotify_seconds"], {})
            if not by_user:
                step.event = alert_event_row(alert, "alert.tier_empty", empty_reason=step.empty_reason)
                fired.append(step)
                due_at = now
                continue
            lateness_ms = round((now - due_at).total_seconds() * 1000)
            user_ids = [str(u) for u in by_user]
            step.event = alert_event_row(alert, "alert.escalated", user_ids=user_ids, lateness_ms=lateness_ms)
            fired.append(step)
            return fired
        alert.next_escalation_at = None
        return fired


async def write_tiers(
    session: AsyncSession, fired: list[FiredTier], now: datetime, events_before: Sequence[dict[str, Any]] = ()
) -> list[FiredTier]:
    """Write the tiers `next_tiers` fired, of one alert or many, in one statement: the tier rows with
    whom they called, their pushes and WebSocket messages, and the events (after `events_before`).

    Returns the tiers written. The `alert_tiers` primary key makes a second firing impossible; should
    a tier have fired already (it cannot, under the alert's row lock), its alert is left as it was."""
    await session.flush()  # a new alert, with its tier set, before the rows that point at it
    if not fired:
        await emit_many(session, list(events_before))
        return fired
    called = [(f, user_id, rule) for f in fired for user_id, rule in f.by_user.items()]
    written = await session.execute(
        _FIRE_TIERS,
        {
            "alert_ids": [f.alert.id for f in fired],
            "climbs": [f.alert.climb for f in fired],
            "tiers": [f.index for f in fired],
            "due_ats": [f.due_at for f in fired],
            "rules": [json.dumps([r.value for r in f.rules]) for f in fired],
            "target_ids": [json.dumps([str(u) for u in f.by_user]) for f in fired],
            "empty_reasons": [f.empty_reason for f in fired],
            "called_alert_ids": [f.alert.id for f, _, _ in called],
            "called_climbs": [f.alert.climb for f, _, _ in called],
            "called_tiers": [f.index for f, _, _ in called],
            "called_users": [user_id for _, user_id, _ in called],
            "called_rules": [rule.value for _, _, rule in called],
            "called_next": [now + timedelta(seconds=f.renotify_seconds) for f, _, _ in called],
            "called_sms_at": [now + timedelta(seconds=f.sms_after_seconds) for f, _, _ in called],
            "kind": "first",
            "now": now,
            "fired_by": INSTANCE,
            "before": len(events_before),
        }
        | event_arrays([*events_before, *(f.event for f in fired)]),
    )
    done = {(row.alert_id, row.tier) for row in written}
    refused = {f.alert.id for f in fired if (f.alert.id, f.index) not in done}
    for alert in {f.alert.id: f.alert for f in fired if f.alert.id in refused}.values():
        log.error("tier %d of alert %s had fired already", alert.tier, alert.id)
        session.expire(alert)
    fired = [f for f in fired if f.alert.id not in refused]
    for f in fired:
        if f.by_user and f.index > 0:
            ESCALATION_LATENESS.observe(max(0.0, (now - f.due_at).total_seconds()))
    return fired


async def fire_next_tier(
    session: AsyncSession,
    alert: Alert,
    now: datetime,
    case_people: tuple[uuid.UUID | None, uuid.UUID | None] | None = None,
    events_before: Sequence[dict[str, Any]] = (),
) -> None:
    """Fire the alert's next tier (the row is locked by the caller); a tier that finds nobody passes on at once."""
    await write_tiers(session, await next_tiers(session, alert, now, case_people), now, events_before)


# The alerts due, locked for this sweep unless another has them, with their cases' people.
_DUE = (
    select(Alert, Case.key_person_id, Case.palliative_team_id)
    .join(Case, Case.id == Alert.case_id)
    .where(
        Alert.status == AlertStatus.OPEN.value,
        Alert.paging_stopped_reason.is_(None),
        Alert.next_escalation_at <= bindparam("due_before"),
    )
    .order_by(Alert.next_escalation_at)
    .limit(bindparam("batch"))
    .with_for_update(
        of=Alert, skip_locked=True, key_share=True
    )  # the alerts alone: a case being edited holds nothing up
)


async def _escalate_due(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, older_than: timedelta
) -> list[tuple[uuid.UUID, int]]:
    """Fire due tiers, up to `SWEEP_BATCH` alerts per transaction, until none is due. The rows of a
    batch are written a statement per table, so a night of many alerts climbing at once costs
    little more than one; another instance's sweep works beside this one on the alerts it has not
    locked, and each tier is timed when it really fires."""
    moved: list[tuple[uuid.UUID, int]] = []
    while len(moved) < SWEEP_LIMIT:
        async with sessions.begin() as session:
            now = clock.now()
            due = (await session.execute(_DUE, {"due_before": now - older_than, "batch": SWEEP_BATCH})).all()
            fired: list[FiredTier] = []
            for alert, key_person_id, team_id in due:
                fired += await next_tiers(session, alert, now, (key_person_id, team_id))
            written = await write_tiers(session, fired, now)
            moved += list({f.alert.id: (f.alert.id, f.index) for f in written}.values())
        if len(due) < SWEEP_BATCH:
            break
    return moved


_RENOTIFY = text(
    """
    WITH due AS (
        SELECT t.alert_id, t.climb, t.user_id
        FROM alert_targets t JOIN alerts a ON a.id = t.alert_id AND a.climb = t.climb
        WHERE t.next_notify_at <= :now AND a.status = 'open' AND a.paging_stopped_reason IS NULL
        ORDER BY t.next_notify_at
        LIMIT 500
        FOR UPDATE OF t SKIP LOCKED
    )
    UPDATE alert_targets t
    SET next_notify_at = :now + make_interval(secs => (a.tiers -> t.tier ->> 'renotify_seconds')::int),
        last_notified_at = :now, times_notified = t.times_notified + 1
    FROM due, alerts a
    WHERE t.alert_id = due.alert_id AND t.climb = due.climb AND t.user_id = due.user_id AND a.id = t.alert_id
    RETURNING t.alert_id, t.tier, t.user_id
    """
)

_RESEND_UNCONFIRMED = text(
    """
    WITH due AS (
        SELECT n.id FROM notifications n JOIN alerts a ON a.id = n.alert_id AND a.climb = n.climb
        WHERE n.status = 'sent' AND n.channel = 'push' AND n.confirmed_at IS NULL AND NOT n.resent
          AND n.sent_at <= :before AND a.status = 'open' AND a.paging_stopped_reason IS NULL
        LIMIT 500
        FOR UPDATE OF n SKIP LOCKED
    ), marked AS (
        UPDATE notifications n SET resent = true FROM due WHERE n.id = due.id
        RETURNING n.alert_id, n.climb, n.tier, n.user_id, n.device_id
    )
    INSERT INTO notifications
        (id, alert_id, climb, tier, user_id, device_id, channel, kind, status, attempts, created_at, due_at, resent)
    SELECT gen_random_uuid(), alert_id, climb, tier, user_id, device_id, 'push', 'unconfirmed', 'pending', 0,
           :now, :now, true  -- the copy is the one resend: never resent in its turn
    FROM marked
    RETURNING alert_id
    """
)


async def _renotify(session: AsyncSession, now: datetime) -> int:
    """Call again everyone an open alert called whose interval has run out."""
    rows = (await session.execute(_RENOTIFY, {"now": now})).all()
    if not rows:
        return 0
    alerts = {a.id: a for a in await session.scalars(_ALERTS_BY_ID, {"ids": list({r.alert_id for r in rows})})}
    await notify(session, [(alerts[r.alert_id], r.tier, r.user_id) for r in rows], "renotify", now)
    called: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        called.setdefault(row.alert_id, []).append(str(row.user_id))
    events = [alert_event_row(alerts[a], "alert.renotified", user_ids=users) for a, users in called.items()]
    await emit_many(session, events)
    return len(rows)


async def _resend_unconfirmed(session: AsyncSession, now: datetime) -> int:
    """A push the phone never confirmed (a dead zone, a dozing phone) goes out once more."""
    rows = (await session.execute(_RESEND_UNCONFIRMED, {"now": now, "before": now - UNCONFIRMED_AFTER})).all()
    if rows:
        await wake_push_senders(session)
    return len(rows)


async def sweep(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> int:
    """Four times a second on every instance: fire due tiers, call the silent again, resend the
    unconfirmed, text those whose push went unconfirmed too long, and watch acknowledged alerts
    that make no progress (an alert returned to the climb fires its next tier in the same sweep)."""
    moved = len(await _escalate_due(sessions, clock, timedelta(0)))
    # One transaction for the rest: each claims its rows with SKIP LOCKED and is safe to run again,
    # and on most sweeps all find nothing, so more BEGINs and COMMITs would be all they cost.
    async with sessions.begin() as session:
        now = clock.now()
        recalled, returned = await watch_acknowledged(session, now)
        called = await _renotify(session, now)
        resent = await _resend_unconfirmed(session, now)
        texted = await queue_due_sms(session, now)
        await heartbeat(session, INSTANCE)
    if returned:
        moved += len(await _escalate_due(sessions, clock, timedelta(0)))
    return moved + recalled + returned + called + resent + texted


async def watchdog(sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> int:
    """Moves any alert the sweep left behind (a stuck loop, a crashed job) and says so in the log."""
    moved = await _escalate_due(sessions, clock, WATCHDOG_AFTER)
    for alert_id, tier in moved:
        log.warning("watchdog moved alert %s to tier %d", alert_id, tier)
    return len(moved)


async def stop_calling(session: AsyncSession, alert: Alert) -> list[str]:
    """Cancel the pushes not yet sent and stop calling again; returns whom the alert had called."""
    await session.execute(
        update(Notification)
        .where(Notification.alert_id == alert.id, Notification.status == "pending")
        .values(status="cancelled")
    )
    called = await session.scalars(
        update(AlertTarget)
        .where(AlertTarget.alert_id == alert.id, AlertTarget.climb == alert.climb)
        .values(next_notify_at=None, sms_due_at=None)
        .returning(AlertTarget.user_id)
    )
    alert.next_escalation_at = None
    return [str(u) for u in called.all()]


async def stop_paging_for_case(session: AsyncSession, case_id: uuid.UUID, reason: str, now: datetime) -> int:
    """The person died or the case closed: every alert still open on it stops calling anyone."""
    alerts = (
        await session.scalars(
            select(Alert)
            .where(
                Alert.case_id == case_id,
                Alert.status != AlertStatus.RESOLVED.value,
                Alert.paging_stopped_reason.is_(None),
            )
            .with_for_update(key_share=True)
        )
    ).all()
    for alert in alerts:
        alert.paging_stopped_reason = reason
        alert.updated_at = now
        called = await stop_calling(session, alert)
        await stop_clock(session, alert)
        await alert_event(session, alert, "alert.paging_stopped", stopped=reason, user_ids=called)
    return len(alerts)
