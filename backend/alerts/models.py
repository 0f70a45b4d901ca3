"""Alerts, the escalation policies they climb, each tier fired and every notification attempt.

Everything the escalation engine knows is a row: an alert's current tier and its next deadline,
each tier that fired (once: the primary key says so), each target and each push attempt. A
process may die at any moment; the next sweep, on any instance, reads these rows and goes on.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk


class Reason(enum.StrEnum):
    PAIN = "pain"
    BREATHLESSNESS = "breathlessness"
    RESTLESSNESS = "restlessness"  # restlessness or delirium
    NAUSEA = "nausea"  # nausea or vomiting
    BLEEDING = "bleeding"
    FALL = "fall"
    CARER_EXHAUSTION = "carer_exhaustion"
    MEDICINE_MISSING = "medicine_missing"
    DEATH = "death"
    OTHER = "other"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"


class Source(enum.StrEnum):
    PHONE = "phone"  # a nurse at the bedside
    BOARD = "board"  # a coordinator, e.g. after a relative's call
    RULE = "rule"  # raised by Lindra itself: scores, a missed visit, missing medicine


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ON_THE_WAY = "on_the_way"
    AT_BEDSIDE = "at_bedside"
    RESOLVED = "resolved"


class Outcome(enum.StrEnum):
    MANAGED_AT_HOME = "managed_at_home"
    PALLIATIVE_STAY = "palliative_stay"  # a stay at the palliative unit
    ADMITTED_TO_HOSPITAL = "admitted_to_hospital"
    DIED_AT_HOME = "died_at_home"
    FALSE_ALARM = "false_alarm"


class UnitDecision(enum.StrEnum):
    """What the palliative unit decided on the phone; it becomes the alert's outcome."""

    ADVICE_BY_PHONE = "advice_by_phone"
    OUTREACH_VISIT = "outreach_visit"
    PALLIATIVE_STAY = "palliative_stay"
    HOSPITAL = "hospital"


class TargetRule(enum.StrEnum):
    """Whom a tier calls, found at the moment the tier fires."""

    ON_CALL_NURSES = "on_call_nurses"  # of the case's district, on the running shift
    COORDINATOR = "coordinator"  # the coordinator on duty
    KEY_PERSON = "key_person"  # the case's key person (nøgleperson), else the key person on call
    PALLIATIVE_TEAM = "palliative_team"  # the case's regional palliative team
    PALLIATIVE_UNIT = "palliative_unit"  # the palliative unit serving the municipality


class Channel(enum.StrEnum):
    PUSH = "push"
    WEBSOCKET = "websocket"


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the push sender (or for its retry time)
    SENDING = "sending"  # claimed by a sender until `claimed_until`
    SENT = "sent"  # accepted by FCM (or handed to the WebSocket hub); not yet confirmed by the phone
    INVALID_TOKEN = "invalid_token"  # FCM says the token is dead: the device's token was cleared
    FAILED = "failed"  # gave up: a permanent error or too many attempts
    CANCELLED = "cancelled"  # the alert was acknowledged or stopped paging before it went out


class EscalationPolicy(Base):
    """A municipality's ordered tiers for one severity. Without a row the built-in default applies."""

    __tablename__ = "escalation_policies"
    __table_args__ = (
        enum_check("severity", Severity),
        UniqueConstraint("municipality_id", "severity", name="uq_escalation_policies_municipality_severity"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    severity: Mapped[str] = mapped_column(String(16))
    # [{"targets": ["on_call_nurses"], "ack_timeout_seconds": 300, "renotify_seconds": 120}, ...]
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # How long an acknowledged alert may go without "on the way", "at the bedside" or a resolution
    # before its holder is called again (and as long again before it returns to the climb); NULL:
    # the severity's built-in default.
    progress_within_minutes: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = now_column()
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Alert(Base):
    """One crisis on one case. `tiers` is the policy frozen when the alert was raised."""

    __tablename__ = "alerts"
    __table_args__ = (
        enum_check("reason", Reason),
        enum_check("severity", Severity),
        enum_check("source", Source),
        enum_check("status", AlertStatus),
        enum_check("outcome", Outcome),  # NULL passes: no outcome until resolved
        enum_check("unit_decision", UnitDecision),
        # One open alert per case and reason: a second raise joins the first.
        Index(
            "uq_alerts_open_case_reason",
            "case_id",
            "reason",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        # The sweep's question: which alerts are due to climb?
        Index(
            "ix_alerts_next_escalation_at",
            "next_escalation_at",
            postgresql_where=text("next_escalation_at IS NOT NULL"),
        ),
        # The watch's questions: which acknowledged alerts are due a recall, a return or an SMS?
        Index("ix_alerts_progress_due_at", "progress_due_at", postgresql_where=text("progress_due_at IS NOT NULL")),
        Index(
            "ix_alerts_recall_sms_due_at", "recall_sms_due_at", postgresql_where=text("recall_sms_due_at IS NOT NULL")
        ),
        Index("ix_alerts_municipality_status", "municipality_id", "status"),
        Index("ix_alerts_case_id", "case_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    reason: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    # Why a rule raised it, or that a coordinator raised it after a relative's call.
    source_detail: Mapped[str | None] = mapped_column(String(32))
    raised_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # When it was raised on the phone (device time; may be long before it arrived) and on the server.
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN.value)
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    policy_version: Mapped[int | None] = mapped_column(Integer)
    # Index of the last tier fired in this climb (-1: none yet); a reopened alert climbs again.
    tier: Mapped[int] = mapped_column(Integer, default=-1)
    climb: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Paging stopped without an acknowledgement: the person died or the case was closed.
    paging_stopped_reason: Mapped[str | None] = mapped_column(String(32))
    # When a tier first called the palliative unit or the regional team: from then on they see it.
    unit_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    joined_count: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    first_acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    on_the_way_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_bedside_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The acknowledged alert's clock (`backend.alerts.progress`): when its holder is called again
    # for want of progress, or, once she was (`recalled_at`), when it returns to the climb.
    progress_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the recalled holder gets an SMS unless she confirmed the recall's push by then.
    recall_sms_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(32))
    unit_decision: Mapped[str | None] = mapped_column(String(32))
    # A hospital notice admitted the person within 24 hours after this alert was resolved at home:
    # the admission's start (set and cleared by the notices, never typed).
    followed_by_admission_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = now_column()


class AlertRaise(Base):
    """Each time someone raised the alert: the first raise created it, later ones joined it.

    The client id makes a retried raise (a phone resending after a lost answer, a sync batch sent
    twice) the same raise; rules use the id of what triggered them (the visit, the assessment).
    """

    __tablename__ = "alert_raises"
    __table_args__ = (
        enum_check("source", Source),
        enum_check("severity", Severity),
        UniqueConstraint(
            "raised_by", "client_id", name="uq_alert_raises_raised_by_client_id", postgresql_nulls_not_distinct=True
        ),
        Index("ix_alert_raises_alert_id", "alert_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"))
    client_id: Mapped[uuid.UUID] = mapped_column()
    raised_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(16))
    source_detail: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # device time
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # server time


class AlertTier(Base):
    """A tier that fired. The primary key is the promise: each tier fires once per climb."""

    __tablename__ = "alert_tiers"

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    climb: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Which instance fired it (host:pid), for the night's post-mortem.
    fired_by: Mapped[str] = mapped_column(String(96))
    rules: Mapped[list[str]] = mapped_column(JSONB)
    target_ids: Mapped[list[str]] = mapped_column(JSONB)
    # Set when the rules found nobody (an empty roster): the tier passed on at once.
    empty_reason: Mapped[str | None] = mapped_column(String(64))


class AlertTarget(Base):
    """A person an alert called, and when to call them again while nobody has taken it."""

    __tablename__ = "alert_targets"
    __table_args__ = (
        Index("ix_alert_targets_next_notify_at", "next_notify_at", postgresql_where=text("next_notify_at IS NOT NULL")),
        Index("ix_alert_targets_sms_due_at", "sms_due_at", postgresql_where=text("sms_due_at IS NOT NULL")),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    climb: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    tier: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(32))
    notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_notify_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    times_notified: Mapped[int] = mapped_column(Integer, default=1)
    # When the sweep sends her an SMS unless a push to her was confirmed by then (the tier's
    # `sms_after_seconds`; at once without a phone to push to); cleared once decided or taken.
    sms_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """One attempt to reach one person on one channel (and device): the push outbox and its record."""

    __tablename__ = "notifications"
    __table_args__ = (
        enum_check("channel", Channel),
        enum_check("status", NotificationStatus),
        Index(
            "ix_notifications_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        Index(
            "ix_notifications_unconfirmed",
            "sent_at",
            postgresql_where=text("status = 'sent' AND channel = 'push' AND confirmed_at IS NULL AND resent = false"),
        ),
        Index("ix_notifications_alert_id", "alert_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"))
    climb: Mapped[int] = mapped_column(Integer)
    tier: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("devices.id"))
    channel: Mapped[str] = mapped_column(String(16))
    # first | renotify (the tier's interval) | unconfirmed (no receipt within a minute)
    # | recall (the holder of an acknowledged alert made no progress in time)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A sent push that was never confirmed is sent again once; this marks the one that was.
    resent: Mapped[bool] = mapped_column(default=False, server_default="false")
    error: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(200))
