"""The wire contract v1 as pydantic models (the only place the wire models live)."""

from schemas.common import (
    AgencyId,
    Category,
    Channel,
    ClockName,
    ComplaintType,
    EscalationKind,
    EscalationTarget,
    NoticeKind,
    Privacy,
    Role,
    SlaTier,
    Status,
    WireModel,
    WirePart,
)
from schemas.desk import StatusDraft
from schemas.staff import StaffSignOut
from schemas.units import DispositionRule, LaporCategory, Unit, UnitSet
from schemas.bridge import (
    BridgeCommand, BridgeDelivery, BridgeSeenCall, BridgeUndelivered, Open311Request, WebhookPing,
)
from schemas.events import (
    AcceptedComplaint,
    AdminStatus,
    AgencyComplaint,
    AgencyStatus,
    Attachment,
    AutoDisposition,
    ComplianceStats,
    Escalation,
    FieldDecision,
    FieldWarning,
    Location,
    Notification,
    RejectedEvent,
    Reporter,
    ReporterStatus,
    RoutedEvent,
    RoutingInfo,
    RulesVersion,
    SmsMessage,
    StatusClaim,
    StatusEvent,
    Submission,
    SubmittedLocation,
    Tick,
    UnitDisposition,
    ValidationErrorItem,
)

__all__ = [
    "DispositionRule",
    "LaporCategory",
    "Unit",
    "UnitSet",
    "AcceptedComplaint", "AdminStatus", "AgencyComplaint", "StaffSignOut", "StatusDraft", "BridgeCommand", "BridgeDelivery", "BridgeSeenCall", "BridgeUndelivered", "Open311Request", "WebhookPing", "AgencyId", "AgencyStatus", "Attachment", "AutoDisposition", "Category", "Channel",
    "ClockName", "ComplaintType", "ComplianceStats", "Escalation", "EscalationKind",
    "EscalationTarget", "FieldDecision", "FieldWarning", "Location", "NoticeKind", "Notification", "Privacy", "RejectedEvent", "Reporter", "ReporterStatus",
    "Role", "RoutedEvent", "RoutingInfo", "RulesVersion", "SlaTier", "SmsMessage", "Status", "StatusClaim", "StatusEvent",
    "Submission", "SubmittedLocation", "Tick", "UnitDisposition", "ValidationErrorItem", "WireModel", "WirePart",
]
