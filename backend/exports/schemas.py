"""What goes over the wire for the national data set's bulk export (FHIR Bulk Data's shapes)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec

from backend.exports.models import ExportStatus


class ExportAccepted(msgspec.Struct):
    """The kick-off's answer (202): where to poll, also in the Content-Location header."""

    id: uuid.UUID
    status: ExportStatus
    first_day: date
    last_day: date
    status_url: str


class OutputFile(msgspec.Struct, rename="camel"):
    type: str
    url: str
    count: int


class Manifest(msgspec.Struct, rename="camel"):
    """The finished export's manifest, as FHIR Bulk Data's status request completes with it."""

    transaction_time: datetime
    request: str
    requires_access_token: bool
    output: list[OutputFile]
    error: list[OutputFile]
