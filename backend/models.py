"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from backend.alerts.models import Alert, AlertRaise, AlertTarget, AlertTier, EscalationPolicy, Notification
from backend.alerts.sms.models import SmsMessage, SmsReply
from backend.alerts.watch_models import GatewayHealth, PhoneCheck, WatchAlarm, WorkerHeartbeat
from backend.audit.models import AuditEntry
from backend.cases.models import ActionPlan, Case, Citizen, Medicine, Relative, StatusNote, Wish
from backend.idempotency import IdempotencyKey
from backend.messages.models import (
    AckOutbox,
    HospitalStay,
    InboxBody,
    InboxMessage,
    MessageSettings,
    StayNotice,
    SystemClient,
)
from backend.orm import Base
from backend.people.models import (
    Device,
    LoginThrottle,
    Organisation,
    OrganisationServes,
    PasswordCode,
    RotatedRefreshToken,
    User,
    UserDistrict,
)
from backend.roster.models import RosterEntry, ShiftPattern
from backend.visits.models import (
    CaseFlag,
    Event,
    MedicineGiven,
    SymptomAssessment,
    SyncOperation,
    Visit,
    VisitNote,
    VisitPlanSlot,
)

__all__ = [
    "AckOutbox",
    "ActionPlan",
    "Alert",
    "AlertRaise",
    "AlertTarget",
    "AlertTier",
    "AuditEntry",
    "Base",
    "Case",
    "CaseFlag",
    "Citizen",
    "Device",
    "EscalationPolicy",
    "Event",
    "GatewayHealth",
    "HospitalStay",
    "IdempotencyKey",
    "InboxBody",
    "InboxMessage",
    "LoginThrottle",
    "Medicine",
    "MedicineGiven",
    "MessageSettings",
    "Notification",
    "Organisation",
    "OrganisationServes",
    "PasswordCode",
    "PhoneCheck",
    "Relative",
    "RosterEntry",
    "RotatedRefreshToken",
    "ShiftPattern",
    "SmsMessage",
    "SmsReply",
    "StatusNote",
    "StayNotice",
    "SymptomAssessment",
    "SyncOperation",
    "SystemClient",
    "User",
    "UserDistrict",
    "Visit",
    "VisitNote",
    "VisitPlanSlot",
    "WatchAlarm",
    "Wish",
    "WorkerHeartbeat",
]
