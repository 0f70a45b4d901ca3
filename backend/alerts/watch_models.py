"""The rows by which Lindra watches itself and a phone is tested at the start of a shift.

`worker_heartbeats`: each background worker's last finished sweep. `gateway_health`: whether the
push and SMS gateways answer, as the senders and the watcher last saw them. `watch_alarms`: a
fault that is on now (or was), once however many instances see it. `phone_checks`: one "test my
phone" from a phone, with its test push; the test SMS is an `sms_messages` row that names it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, uuid_pk


class Fault(enum.StrEnum):
    """What the watcher can see go wrong: the red banner and the coordinator's SMS name it."""

    WORKER_SILENT = "worker_silent"  # no worker has finished a sweep for `watch_worker_seconds`
    PUSH_FAILING = "push_failing"  # every push attempt has failed for `watch_push_seconds`
    SMS_GATEWAY_DOWN = "sms_gateway_down"  # Kannel does not answer


class CheckPush(enum.StrEnum):
    PENDING = "pending"  # waiting for the sender (or its retry)
    SENDING = "sending"
    SENT = "sent"  # FCM took it; the phone has not said it arrived
    CONFIRMED = "confirmed"  # the phone said it arrived
    NO_TOKEN = "no_token"  # the phone has no push token
    FAILED = "failed"  # FCM refused it, or the token is dead


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    swept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GatewayHealth(Base):
    """One row per channel ('push', 'sms'): since when every attempt failed (None: it answers)."""

    __tablename__ = "gateway_health"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WatchAlarm(Base):
    """A fault from when the watcher first saw it until it saw it over; one open row per fault."""

    __tablename__ = "watch_alarms"
    __table_args__ = (
        enum_check("fault", Fault),
        Index("uq_watch_alarms_open_fault", "fault", unique=True, postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    fault: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PhoneCheck(Base):
    """A person's "test my phone": a test push to the phone that asked, and (in `sms_messages`,
    kind `test`) a test SMS to her number. Never an alert: nothing counts it."""

    __tablename__ = "phone_checks"
    __table_args__ = (
        enum_check("push_status", CheckPush),
        Index("ix_phone_checks_user_created", "user_id", "created_at"),
        Index("ix_phone_checks_push_due", "push_due_at", postgresql_where=text("push_status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    push_status: Mapped[str] = mapped_column(String(16))
    push_attempts: Mapped[int] = mapped_column(default=0)
    push_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    push_claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    push_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    push_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    push_error: Mapped[str | None] = mapped_column(String(64))
