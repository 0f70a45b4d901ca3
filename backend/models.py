"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from backend.alerts.models import Alert, AlertRaise, AlertTarget, AlertTier, EscalationPolicy, Notification
from backend.alerts.sms.models import SmsMessage, SmsReply
from backend.alerts.watch_models import GatewayHealth, PhoneCheck, WatchAlarm, WorkerHeartbeat
from backend.audit.models import AuditEntry
from backend.cases.models import ActionPlan, Case, Citizen, Medicine, Relative, StatusNote, Wish
from backend.exports.models import BulkExport, BulkExportLine, PseudonymSecret
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
from backend.people.federation.models import (
    FederatedDevice,
    FederatedLink,
    FederationMapping,
    OidcProvider,
    SignInAttempt,
)
from backend.people.models import (
    Device,
    LoginThrottle,
    Organisation,
    OrganisationServes,
    PasswordCode,
    RecoveryCode,
    RotatedRefreshToken,
    SamlAssertionSeen,
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
    "BulkExport",
    "BulkExportLine",
    "Case",
    "CaseFlag",
    "Citizen",
    "Device",
    "EscalationPolicy",
    "Event",
    "FederatedDevice",
    "FederatedLink",
    "FederationMapping",
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
    "OidcProvider",
    "Organisation",
    "OrganisationServes",
    "PasswordCode",
    "PhoneCheck",
    "PseudonymSecret",
    "RecoveryCode",
    "Relative",
    "RosterEntry",
    "RotatedRefreshToken",
    "SamlAssertionSeen",
    "ShiftPattern",
    "SignInAttempt",
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
