"""The access log as the auditor reads it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from msgspec import Struct


class AuditEntryOut(Struct, kw_only=True):
    id: int
    at: datetime
    user_id: uuid.UUID
    user_name: str  # staff, not citizens: the auditor needs to know who it was
    role: str
    action: str
    case_id: uuid.UUID | None
    subject_user_id: uuid.UUID | None
    request_id: str
    detail: dict[str, Any] | None


class AuditPage(Struct, kw_only=True):
    items: list[AuditEntryOut]
    # Pass as `before_id` for the next (older) page; empty on the last page.
    next_before_id: int | None
