"""The inbox of MedCom messages, the hospital stays they tell of, the correspondence on a case, the
outbox, the system clients that deliver messages, and each municipality's messaging settings."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk


class ClientRole(enum.StrEnum):
    """What a system client may do: never what a person may."""

    INBOX = "inbox"  # the municipality's message broker delivers MedCom messages
    CARE_RECORD = "care_record"  # a care-record system (EOJ) reads the municipality's cases as FHIR


class MessageState(enum.StrEnum):
    RECEIVED = "received"  # stored, not yet processed
    APPLIED = "applied"  # valid, about a citizen with a case here: the stay is recorded
    REFUSED = "refused"  # answered fatal-error, with its reason
    NOT_OURS = "not_ours"  # valid, about someone without a case here: acknowledged, nothing kept
    DUPLICATE = "duplicate"  # the same MessageHeader.id again: the first answer again, nothing applied
    FAILED = "failed"  # processing kept failing on our side: answered transient-error


class StayStatus(enum.StrEnum):
    ADMITTED = "admitted"
    ON_LEAVE = "on_leave"
    HOME = "home"
    DIED = "died"
    VOID = "void"  # every notice that started it was cancelled


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    GAVE_UP = "gave_up"


class SystemClient(Base):
    """A machine that talks to Lindra for a municipality (its message broker), by a secret of its own."""

    __tablename__ = "system_clients"
    __table_args__ = (enum_check("role", ClientRole),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the bearer secret (256 random bits: a slow hash would add nothing but time).
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Where the broker takes acknowledgements (HTTP POST); none: they are built and kept only.
    ack_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = now_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MessageSettings(Base):
    """A municipality's choices about MedCom messages."""

    __tablename__ = "message_settings"

    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    # The care-record system (EOJ) already acknowledges: Lindra builds and keeps its acknowledgement
    # but does not send it (MedCom: a message is acknowledged once).
    care_record_acknowledges: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Home nursing visits a citizen on leave from hospital (MedCom: only where locally agreed).
    visit_on_leave: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # The municipality's own SOR and EAN (GLN) identifiers: the sender of its CareCommunication.
    sor: Mapped[str | None] = mapped_column(String(20))
    ean: Mapped[str | None] = mapped_column(String(13))
    updated_at: Mapped[datetime] = now_column()


class InboxMessage(Base):
    """A received message: what is known about it and its answer. The bytes are in `InboxBody`."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        enum_check("state", MessageState),
        # MedCom's duplicate cache: one message per MessageHeader.id and municipality, besides its
        # duplicates and the attempts that failed on our side (a re-send of those is processed).
        Index(
            "uq_inbox_messages_header",
            "municipality_id",
            "header_id",
            unique=True,
            postgresql_where=text("header_id IS NOT NULL AND duplicate_of IS NULL AND state <> 'failed'"),
        ),
        Index("ix_inbox_messages_bundle", "municipality_id", "bundle_id"),
        Index("ix_inbox_messages_list", "municipality_id", "received_at"),
        Index("ix_inbox_messages_waiting", "received_at", postgresql_where=text("state = 'received'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("system_clients.id"), index=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    # Kept when the bytes are not: what a duplicate or an audit can be compared with.
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = now_column()
    state: Mapped[str] = mapped_column(String(16), default=MessageState.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    header_id: Mapped[str | None] = mapped_column(String(64))  # MedCom ids are text: not all are UUIDs
    bundle_id: Mapped[str | None] = mapped_column(String(64))
    event_code: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_element: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(400))
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inbox_messages.id"))
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ack_code: Mapped[str | None] = mapped_column(String(16))
    ack_media_type: Mapped[str | None] = mapped_column(String(40))
    ack_body: Mapped[bytes | None] = mapped_column(LargeBinary)


class InboxBody(Base):
    """The raw bytes of a received message, kept with its error when refused and dropped once a
    message about someone without a case here (or a duplicate) is processed. Seen by the worker
    and the delivering client only: not by an administrator, who sees states."""

    __tablename__ = "inbox_bodies"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbox_messages.id", ondelete="CASCADE"), primary_key=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class HospitalStay(Base):
    """One hospital stay of a citizen with a case, per normalised episode-of-care identifier."""

    __tablename__ = "hospital_stays"
    __table_args__ = (
        enum_check("status", StayStatus),
        UniqueConstraint("municipality_id", "episode_key", name="uq_hospital_stays_municipality_id_episode_key"),
        Index("ix_hospital_stays_other_keys", "other_keys", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citizens.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True)
    episode_key: Mapped[str] = mapped_column(String(100))  # the local identifier if given, else LPR3
    other_keys: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list, server_default="{}")
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    encounter_class: Mapped[str] = mapped_column(String(8))
    department: Mapped[str | None] = mapped_column(String(200))
    department_sor: Mapped[str | None] = mapped_column(String(64))
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leave_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leave_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discharged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    died_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_of_admission_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime] = now_column()


class StayNotice(Base):
    """A notice applied to a stay: its history, in event time, with what it did to the stay."""

    __tablename__ = "stay_notices"

    id: Mapped[uuid.UUID] = uuid_pk()
    stay_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hospital_stays.id"), index=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inbox_messages.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(4))
    variant: Mapped[str] = mapped_column(String(3))
    event_code: Mapped[str] = mapped_column(String(16))  # as read in event time (RE_/AN_MORS included)
    effect: Mapped[str] = mapped_column(String(16))  # applied | corrected | cancelled | cancellation
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    encounter_class: Mapped[str] = mapped_column(String(8))
    deceased: Mapped[bool | None] = mapped_column(Boolean)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leave_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leave_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    department: Mapped[str | None] = mapped_column(String(200))
    department_sor: Mapped[str | None] = mapped_column(String(64))


class AckOutbox(Base):
    """An acknowledgement on its way to the sender's broker, retried with backoff until it is taken."""

    __tablename__ = "ack_outbox"
    __table_args__ = (
        enum_check("status", OutboxStatus),
        Index("ix_ack_outbox_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # What it carries: an acknowledgement of a received message, or a CareCommunication we send.
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inbox_messages.id"), index=True)
    correspondence_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("correspondence.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    media_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()


class Direction(enum.StrEnum):
    IN = "in"  # a CareCommunication received about a citizen with a case here
    OUT = "out"  # one Lindra wrote from a case


class LetterStatus(enum.StrEnum):
    RECEIVED = "received"  # in: landed on the case
    SENDING = "sending"  # out: queued for the broker
    SENT = "sent"  # out: the broker took it; waiting for its acknowledgement
    ACKNOWLEDGED = "acknowledged"  # out: the receiver answered ok
    FAILED = "failed"  # out: answered fatal-error, or no acknowledgement after the last send


class LetterFailure(enum.StrEnum):
    """Why a letter we sent failed, for the board and the phone to say in words."""

    REFUSED = "refused"  # the receiver answered fatal-error (its MedCom code in refusal_code)
    NO_ACKNOWLEDGEMENT = "no_acknowledgement"  # the broker took it; no answer after the last send
    NOT_DELIVERED = "not_delivered"  # the broker never took it


class Correspondence(Base):
    """One CareCommunication message on a case, in or out. The text and attachments it carries are
    its thread's segments (`CorrespondenceSegment`): a reply repeats the thread, kept once."""

    __tablename__ = "correspondence"
    __table_args__ = (
        enum_check("direction", Direction),
        enum_check("status", LetterStatus),
        enum_check("failure_code", LetterFailure),
        UniqueConstraint("municipality_id", "direction", "header_id", name="uq_correspondence_municipality_id"),
        Index("ix_correspondence_thread", "case_id", "thread_key"),
        Index("ix_correspondence_resend", "next_send_at", postgresql_where=text("status IN ('sending', 'sent')")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))
    thread_key: Mapped[str] = mapped_column(String(100))  # Communication.identifier: the same along a thread
    header_id: Mapped[str] = mapped_column(String(64))  # MessageHeader.id: the message, across re-sends
    inbox_message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inbox_messages.id"))
    replies_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("correspondence.id"))
    previous_header_id: Mapped[str | None] = mapped_column(String(64))  # the MessageHeader.id it answers
    category: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str | None] = mapped_column(String(60))
    kind: Mapped[str | None] = mapped_column(String(20))  # out: the draft it began from
    activity: Mapped[str] = mapped_column(String(24))  # new-message | reply-message | forward-message
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_sor: Mapped[str | None] = mapped_column(String(20))
    sender_endpoint: Mapped[str] = mapped_column(String(500))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_sor: Mapped[str | None] = mapped_column(String(20))
    recipient_ean: Mapped[str | None] = mapped_column(String(13))
    recipient_endpoint: Mapped[str] = mapped_column(String(500))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    bundle_id: Mapped[str | None] = mapped_column(String(64))  # out: the last send's Bundle.id
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(String(400))
    failure_code: Mapped[str | None] = mapped_column(String(24))
    refusal_code: Mapped[str | None] = mapped_column(String(64))  # the receiver's MedCom error code
    document: Mapped[bytes | None] = mapped_column(LargeBinary)  # out: the Bundle, stamped anew at each send


class CorrespondenceSegment(Base):
    """A message segment of a thread (a text or an attachment with its signature), kept once per
    thread under its payload identifier, with the message that first carried it."""

    __tablename__ = "correspondence_segments"
    __table_args__ = (
        UniqueConstraint("case_id", "thread_key", "segment_key", name="uq_correspondence_segments_case_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    correspondence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("correspondence.id"), index=True)
    thread_key: Mapped[str] = mapped_column(String(100))
    segment_key: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author_name: Mapped[str | None] = mapped_column(String(200))
    author_role: Mapped[str | None] = mapped_column(String(100))
    author_phone: Mapped[str | None] = mapped_column(String(40))
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(40))
    size: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    url: Mapped[str | None] = mapped_column(String(500))


class CorrespondenceRead(Base):
    """A person has read a received message (the key person's and contact person's unread count)."""

    __tablename__ = "correspondence_reads"

    correspondence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("correspondence.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
