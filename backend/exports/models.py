"""The national data set's bulk exports (a job and the NDJSON lines it wrote) and each
municipality's pseudonym secret."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"  # kicked off, waiting for a worker
    RUNNING = "running"  # a worker holds it (until `claimed_until`; then another takes it over)
    DONE = "done"
    FAILED = "failed"


class SecretSource(enum.StrEnum):
    GENERATED = "generated"  # made by Lindra at the municipality's first export
    OPERATOR = "operator"  # set by the operator (`lindra export-secret set`)


class BulkExport(Base):
    """One `$export` of a municipality's data set for a period: what a worker must do and has done.

    A worker writes one resource type per transaction and names it in `types_done`, so a job
    whose worker died is taken over where it stopped, never written twice.
    """

    __tablename__ = "bulk_exports"
    __table_args__ = (
        enum_check("status", ExportStatus),
        Index("ix_bulk_exports_waiting", "requested_at", postgresql_where=text("status IN ('queued', 'running')")),
        Index("ix_bulk_exports_municipality", "municipality_id", "requested_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.QUEUED)
    # The period's cases, chosen when the first worker starts: a job taken over writes the same set.
    case_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid))
    types_done: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list, server_default="{}")
    # Lines written per resource type: {"Patient": 412, ...}
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    claim_token: Mapped[uuid.UUID | None] = mapped_column()
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BulkExportLine(Base):
    """One NDJSON line (one resource) of an export's file for a resource type."""

    __tablename__ = "bulk_export_lines"

    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bulk_exports.id", ondelete="CASCADE"), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[str] = mapped_column(Text)


class PseudonymSecret(Base):
    """The key a municipality's pseudonyms are made with (HMAC-SHA256). Seen by the worker only."""

    __tablename__ = "pseudonym_secrets"
    __table_args__ = (enum_check("source", SecretSource),)

    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = now_column()
