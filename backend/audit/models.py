"""The append-only access log. A trigger (see the migration) refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, now_column


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_case_at", "case_id", "at"),
        Index("ix_audit_log_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = now_column()
    # No foreign keys: the log must outlive what it speaks of (a case erased after its retention
    # cannot be erased while rows the log may never delete point at it), and writing it must not
    # lock the user and case rows it names.
    user_id: Mapped[uuid.UUID] = mapped_column()
    role: Mapped[str] = mapped_column(String(32))
    # e.g. case.read, case.list, case.create, case.wish.add, user.create, audit.read
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[uuid.UUID | None] = mapped_column()
    # For actions on people rather than cases (user administration).
    subject_user_id: Mapped[uuid.UUID | None] = mapped_column()
    request_id: Mapped[str] = mapped_column(String(64))
    # Identifiers only (ids, field names): never names, CPR numbers or clinical text.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
