"""What goes over the wire about MedCom messages."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.messages.models import MessageState
from backend.wire import Input


class Received(msgspec.Struct):
    """The broker's receipt: the message is kept and will be processed; its acknowledgement follows
    through the outbox."""

    id: uuid.UUID
    state: MessageState


class InboxEntry(msgspec.Struct):
    """One received message as an administrator sees it: its state, never its content."""

    id: uuid.UUID
    received_at: datetime
    state: MessageState
    media_type: str
    size: int
    header_id: str | None
    event_code: str | None
    ack_code: str | None
    error_code: str | None
    error_element: str | None
    reason: str | None
    duplicates: int
    processed_at: datetime | None


class InboxPage(msgspec.Struct):
    """The latest messages (duplicates are counted on their first copy, never listed), and how many
    messages are in each state in all."""

    messages: list[InboxEntry]
    counts: dict[str, int]


class MessagingSettings(msgspec.Struct, kw_only=True):
    """care_record_acknowledges: the care-record system already acknowledges MedCom messages, so
    Lindra builds and keeps its acknowledgements but does not send them. visit_on_leave: the
    municipality has agreed to visit a citizen on leave from hospital, so a leave notice plans the
    admission's visits again (MedCom's guideline, and the default: they stay off)."""

    care_record_acknowledges: bool
    visit_on_leave: bool = False
    # The municipality's own SOR and EAN (GLN) identifiers: the sender of its letters.
    sor: Annotated[str, Meta(pattern=r"^[0-9]{6,20}$")] | None = None
    ean: Annotated[str, Meta(pattern=r"^[0-9]{13}$")] | None = None


# ---- correspondence (MedCom CareCommunication) ----------------------------------------------

# The text of one message segment, and an attachment as base64 (512 KiB decoded: backend.messages.care_in).
LetterText = Annotated[str, Meta(min_length=1, max_length=20_000)]
Topic = Annotated[str, Meta(min_length=1, max_length=60)]
Base64 = Annotated[str, Meta(min_length=1, max_length=700_000)]
ContactPhone = Annotated[str, Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()-]+$")]


class Recipient(enum.StrEnum):
    """Who in the care team a new letter goes to (a reply goes to whoever wrote what it answers)."""

    GP = "gp"
    HOSPITAL_DEPARTMENT = "hospital_department"


class LetterKind(enum.StrEnum):
    """The drafts Lindra fills in from the case."""

    STATUS_NOTE = "status_note"
    CLOSING_NOTE = "closing_note"
    DEATH_NOTICE = "death_notice"


class AttachmentIn(Input, kw_only=True):
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    content_type: Annotated[str, Meta(min_length=1, max_length=40)]
    data: Base64


class LetterIn(Input, kw_only=True):
    """A letter from the case: to `recipient`, or a reply to the letter `replies_to` (its thread)."""

    recipient: Recipient | None = None
    replies_to: uuid.UUID | None = None
    category: Annotated[str, Meta(min_length=1, max_length=40)] | None = None  # a reply keeps its thread's
    topic: Topic | None = None
    text: LetterText
    attachments: Annotated[list[AttachmentIn], Meta(max_length=5)] = msgspec.field(default_factory=list)
    kind: LetterKind | None = None
    contact_phone: ContactPhone | None = None  # the author's phone, if her own is not on record


class AttachmentOut(msgspec.Struct, kw_only=True):
    title: str | None
    content_type: str | None
    size: int | None
    url: str | None
    has_content: bool


class SegmentOut(msgspec.Struct, kw_only=True):
    """A text or an attachment of a thread, with its signature."""

    id: uuid.UUID
    letter_id: uuid.UUID
    written_at: datetime
    author_name: str | None
    author_role: str | None
    author_phone: str | None
    organisation_name: str | None
    text: str | None
    attachment: AttachmentOut | None


class LetterOut(msgspec.Struct, kw_only=True):
    """One message of a thread. Out: sending, sent, acknowledged, or failed with the reason."""

    id: uuid.UUID
    case_id: uuid.UUID
    direction: str
    thread_key: str
    category: str
    topic: str | None
    kind: str | None
    activity: str
    status: str
    sender_name: str | None
    recipient_name: str | None
    written_at: datetime
    sends: int
    acknowledged_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    replies_to_id: uuid.UUID | None
    unread: bool = False
    # Why it failed, for a screen to say in words: refused (the receiver's MedCom error code in
    # refusal_code), no_acknowledgement (delivered, never answered), not_delivered (the broker
    # never took it).
    failure_code: str | None = None
    refusal_code: str | None = None


class ThreadOut(msgspec.Struct, kw_only=True):
    thread_key: str
    category: str
    topic: str | None
    letters: list[LetterOut]
    segments: list[SegmentOut]


class CorrespondenceOut(msgspec.Struct, kw_only=True):
    """A case's correspondence as threads, the latest first."""

    case_id: uuid.UUID
    threads: list[ThreadOut]


class DraftOut(msgspec.Struct, kw_only=True):
    """A letter filled in from the case, for the author to edit before sending."""

    kind: LetterKind
    recipient: Recipient
    category: str
    topic: str
    text: str


class UnreadCase(msgspec.Struct, kw_only=True):
    case_id: uuid.UUID
    unread: int


class UnreadOut(msgspec.Struct, kw_only=True):
    """Received letters not yet read, on the cases where I am key person or contact person."""

    total: int
    cases: list[UnreadCase]


class ReadOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    read_at: datetime
