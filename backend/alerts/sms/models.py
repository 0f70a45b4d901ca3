"""Every SMS Lindra sends and every reply it receives, as rows: the SMS outbox and its record.

An SMS row is queued by the sweep (or by a reply that needs an answer), claimed by one sender
with SKIP LOCKED, handed to the gateway (`sent`: the gateway took it), and then told by the
gateway's delivery reports whether it reached the phone (`delivered`) or not (`failed`).
A passing failure (the gateway down or busy) leaves it `queued` with a later `due_at`.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, uuid_pk


class SmsKind(enum.StrEnum):
    ALERT = "alert"  # an alert the person was called for: reply "1 <code>" to acknowledge
    HELD_BY = "held_by"  # the answer to a reply for an alert somebody else holds
    RECALL = "recall"  # the holder made no progress in time: reply "1 <code>" when on the way
    TEST = "test"  # a "test my phone" at the start of a shift (`check_id`); never an alert
    WATCH = "watch"  # to the coordinator on duty: Lindra sees a fault in itself (`alarm_id`)


class SmsStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a sender (or for its retry at `due_at`)
    SENT = "sent"  # the gateway accepted it
    DELIVERED = "delivered"  # the gateway's report: it reached the phone
    FAILED = "failed"  # the gateway's report, a permanent refusal, or too many attempts
    CANCELLED = "cancelled"  # the alert was taken or stopped paging before it went out


class ReplyOutcome(enum.StrEnum):
    """What a reply did: only `acknowledged` changes anything."""

    ACKNOWLEDGED = "acknowledged"
    ON_THE_WAY = "on_the_way"  # the holder answered a recall: she is on the way
    ALREADY_YOURS = "already_yours"  # she had taken it already (a second reply, or in the app)
    HELD_BY_OTHER = "held_by_other"  # somebody else has it: she is told who by SMS
    RESOLVED = "resolved"  # the alert is over
    EXPIRED = "expired"  # the code belongs to an earlier climb or to an alert that stopped paging
    UNKNOWN_CODE = "unknown_code"
    FOREIGN_NUMBER = "foreign_number"  # the code was not sent to the number that replied
    NOT_A_REPLY = "not_a_reply"  # no "1 <code>" in it


class SmsMessage(Base):
    """One SMS to one person. `body` is a fixed text (backend.alerts.sms.texts) that names nobody
    but, for `held_by`, the first name of the colleague who holds the alert."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        enum_check("kind", SmsKind),
        enum_check("status", SmsStatus),
        # One alert SMS per person per climb, however often the sweep looks.
        Index(
            "uq_sms_messages_alert_person",
            "alert_id",
            "climb",
            "user_id",
            unique=True,
            postgresql_where=text("kind = 'alert'"),
        ),
        Index("ix_sms_messages_due", "due_at", postgresql_where=text("status = 'queued'")),
        Index("ix_sms_messages_code", "code", postgresql_where=text("code IS NOT NULL")),
        Index("ix_sms_messages_alert_id", "alert_id"),
        # One SMS per coordinator per fault, however many instances watch.
        Index(
            "uq_sms_messages_alarm_person",
            "alarm_id",
            "user_id",
            unique=True,
            postgresql_where=text("alarm_id IS NOT NULL"),
        ),
        Index("ix_sms_messages_check_id", "check_id", postgresql_where=text("check_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id"))
    climb: Mapped[int | None] = mapped_column(Integer)
    tier: Mapped[int | None] = mapped_column(Integer)
    # The reply code of an alert SMS (upper case); it works while the alert's climb calls her.
    code: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A sender that claimed it and died gives it back when this passes.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(64))
    check_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("phone_checks.id"))
    alarm_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("watch_alarms.id"))


class SmsReply(Base):
    """A reply that reached Lindra, once: the gateway's message id makes a redelivery the same reply.
    The sender's number and the text are not kept."""

    __tablename__ = "sms_replies"
    __table_args__ = (enum_check("outcome", ReplyOutcome),)

    id: Mapped[uuid.UUID] = uuid_pk()
    gateway_id: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(24))
    sms_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sms_messages.id"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id"), index=True)
