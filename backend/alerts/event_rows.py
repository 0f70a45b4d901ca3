"""The event row about an alert, shared by the engine and the SMS outbox (which the engine imports)."""

from __future__ import annotations

import uuid
from typing import Any

from backend.alerts.models import Alert


def alert_event_row(alert: Alert, kind: str, actor_id: uuid.UUID | None = None, **payload: Any) -> dict[str, Any]:
    """An event about an alert as it stands now; `unit` lets the palliative unit follow it once a tier called them."""
    body = {"status": alert.status, "tier": alert.tier, "severity": alert.severity, "reason": alert.reason}
    body["unit"] = alert.unit_notified_at is not None
    body.update(payload)
    return {
        "kind": kind,
        "municipality_id": alert.municipality_id,
        "district_id": alert.district_id,
        "case_id": alert.case_id,
        "alert_id": alert.id,
        "actor_id": actor_id,
        "payload": body,
    }
