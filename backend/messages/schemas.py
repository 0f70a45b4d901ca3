"""What goes over the wire about MedCom messages."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from backend.messages.models import MessageState


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
