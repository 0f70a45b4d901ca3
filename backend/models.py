"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from backend.audit.models import AuditEntry
from backend.cases.models import ActionPlan, Case, Citizen, Medicine, Relative, StatusNote, Wish
from backend.idempotency import IdempotencyKey
from backend.orm import Base
from backend.people.models import Device, LoginThrottle, Organisation, OrganisationServes, User, UserDistrict

__all__ = [
    "ActionPlan",
    "AuditEntry",
    "Base",
    "Case",
    "Citizen",
    "Device",
    "IdempotencyKey",
    "LoginThrottle",
    "Medicine",
    "Organisation",
    "OrganisationServes",
    "Relative",
    "StatusNote",
    "User",
    "UserDistrict",
    "Wish",
]
