"""One valid and one invalid example of every contract event, shared by tests."""

from __future__ import annotations

from typing import Any

from schemas import (
    AcceptedComplaint, AgencyComplaint, ComplianceStats, Escalation, Notification, RejectedEvent,
    AdminStatus, AgencyStatus, AutoDisposition, ReporterStatus, RoutedEvent, StatusClaim, RulesVersion, SmsMessage, UnitSet, StatusEvent, Submission, Tick, WireModel,
)

T = "2026-03-02T09:15:00+07:00"
CID = "LPR-7K2QX9M4TD5W"

VALID: dict[type[WireModel], dict[str, Any]] = {
    Submission: {
        "submission_id": "web-0001", "channel": "web", "submitted_at": T,
        "body": "KTP-el saya belum jadi sejak 3 bulan", "privacy": "anonymous",
        "reporter": {"name": "Siti", "phone": "+6281234567890", "nik": "3273014506900002"},
        "location": {"region_code": "32.73"}, "attachments": [{"url": "https://x.id/a.jpg"}],
    },
    SmsMessage: {"message_id": "m-1", "msisdn": "+6281234567890", "text": "ANONIM jalan rusak",
                 "received_at": T},
    AcceptedComplaint: {
        "event_id": "acc-1", "submission_id": "web-0001", "channel": "web", "submitted_at": T,
        "body": "KTP-el belum jadi", "complaint_id": CID, "accepted_at": T,
        "type": "complaint", "category": "population_documents", "sla_tier": "standard_5d",
        "classification": {"type": {"source": "inferred", "rule": "type.default"}},
    },
    RejectedEvent: {
        "event_id": "rej-1", "source_topic": "complaints.submitted.v1", "source_partition": 0,
        "source_offset": 7, "received_at": T, "reason": "invalid_json",
        "errors": [{"loc": "$", "msg": "Expecting value"}], "raw": "{not json",
    },
    AgencyComplaint: {
        "event_id": "ag-1", "submission_id": "web-0001", "channel": "web", "submitted_at": T,
        "body": "KTP-el belum jadi", "complaint_id": CID, "accepted_at": T, "type": "complaint",
        "category": "population_documents", "sla_tier": "standard_5d",
        "agency_id": "kemendagri-dukcapil",
        "routing": {"role": "primary", "rule_id": "dukcapil", "routed_at": T, "attempt": 1},
        "deadlines": {"first_response": "2026-03-06T00:00:00+07:00"},
    },
    RoutedEvent: {
        "event_id": "r-1", "complaint_id": CID, "agency_id": None, "role": "primary",
        "rule_id": "triage", "reason": "triage", "attempt": 1, "routed_at": T,
    },
    StatusEvent: {"event_id": "s-1", "complaint_id": CID, "status": "acknowledged",
                  "agency_id": "pln", "at": T},
    AgencyStatus: {"event_id": "s-2", "complaint_id": CID, "status": "responded", "at": T,
                   "note": "Tagihan dikoreksi."},
    ReporterStatus: {"event_id": "r-1", "complaint_id": CID, "status": "reporter_replied", "at": T},
    AdminStatus: {"event_id": "a-1", "complaint_id": CID, "status": "assigned", "at": T,
                  "target_agency_id": "pln"},
    AutoDisposition: {"event_id": "disp-1", "complaint_id": CID, "status": "disposed", "at": T,
                      "agency_id": "pemda-32-73", "unit_id": "dinas-pupr", "rule_id": "jalan-air",
                      "note": "Disposisi otomatis (aturan jalan-air): Jalan: Dinas PUPR"},
    StatusClaim: {"event_id": "s-2", "complaint_id": CID, "status": "responded", "at": T,
                  "agency_id": "pln", "note": "Token sudah masuk"},
    Tick: {"as_of": T},
    Escalation: {
        "escalation_id": "e-1", "complaint_id": CID, "agency_id": "pln",
        "clock": "first_response", "kind": "breach", "level": 1, "target": "agency_supervisor",
        "started_at": T, "due_at": T, "fire_at": T, "as_of": T,
    },
    ComplianceStats: {
        "event_id": "c-1", "agency_id": "pln", "day": "2026-03-02", "timezone": "Asia/Jakarta",
        "received": 3, "first_response_on_time": 2, "first_response_late": 1,
        "breaches": {"first_response": 1}, "open_overdue_end_of_day": 1, "as_of": T,
    },
    Notification: {
        "event_id": "notice-1", "kind": "accepted", "channel": "sms", "submission_id": "gw-1",
        "msisdn": "+6281234567890", "complaint_id": CID, "text": "LAPOR! Aduan Anda diterima.",
        "at": T,
    },
    RulesVersion: {
        "version": 2, "effective_from": T, "published_at": T, "note": "SKB cuti bersama revisi",
        "calendar": {"holidays": ["2026-03-04"], "working_days": ["2026-03-18"]},
        "policy": {"default": {"first_response": 3}, "agencies": {"pln": {"follow_up": 4}}},
    },
    UnitSet: {
        "agency_id": "pemda-32-73", "version": 2, "published_at": T, "note": "Dinas PUPR dibagi",
        "units": [{"unit_id": "dinas-pupr", "name": "Dinas Pekerjaan Umum dan Penataan Ruang"},
                  {"unit_id": "bidang-jalan", "name": "Bidang Bina Marga", "parent_id": "dinas-pupr"},
                  {"unit_id": "kec-coblong", "name": "Kecamatan Coblong", "region_code": "32.73.07",
                   "retired": False}],
        "rules": [{"rule_id": "jalan", "unit_id": "bidang-jalan", "priority": 10,
                   "lapor_categories": [{"main": "PEKERJAAN UMUM DAN PENATAAN RUANG",
                                         "sub": "JALAN BERLUBANG"}],
                   "categories": ["roads_infrastructure"], "keywords": ["jalan rusak"],
                   "regions": ["32.73"], "explanation": "Jalan kota: Bidang Bina Marga"}],
        "unit_days_before": 1, "verification_days": 3, "approval": True,
    },
}

# Each invalid example breaks one rule of the contract; the expected error location.
INVALID: dict[type[WireModel], tuple[dict[str, Any], str]] = {
    Submission: ({**VALID[Submission], "submitted_at": "2026-03-02T09:15:00"}, "submitted_at"),
    SmsMessage: ({**VALID[SmsMessage], "text": "   "}, "text"),
    AcceptedComplaint: ({**VALID[AcceptedComplaint], "sla_tier": "fast"}, "sla_tier"),
    RejectedEvent: ({**VALID[RejectedEvent], "raw_encoding": "latin1"}, "raw_encoding"),
    AgencyComplaint: ({**VALID[AgencyComplaint], "agency_id": "PLN Persero"}, "agency_id"),
    RoutedEvent: ({**VALID[RoutedEvent], "attempt": 0}, "attempt"),
    StatusEvent: ({**VALID[StatusEvent], "status": "done"}, "status"),
    AgencyStatus: ({**VALID[AgencyStatus], "at": "2026-03-02 09:15"}, "at"),
    ReporterStatus: ({**VALID[ReporterStatus], "channel": "fax"}, "channel"),
    AdminStatus: ({**VALID[AdminStatus], "target_agency_id": "PLN!"}, "target_agency_id"),
    AutoDisposition: ({**VALID[AutoDisposition], "unit_id": "Dinas PUPR"}, "unit_id"),
    StatusClaim: ({**VALID[StatusClaim], "complaint_id": "LPR-1"}, "complaint_id"),
    Tick: ({"as_of": 1767225600}, "as_of"),
    Escalation: ({**VALID[Escalation], "level": 4}, "level"),
    ComplianceStats: ({**VALID[ComplianceStats], "received": -1}, "received"),
    Notification: ({**VALID[Notification], "kind": "tracking"}, "kind"),
    RulesVersion: ({**VALID[RulesVersion], "policy": {"agencies": {"pln": {"follow_up": 0}}}}, "policy"),
    UnitSet: ({**VALID[UnitSet], "units": [{"unit_id": "Dinas PUPR", "name": "Dinas PUPR"}]}, "units"),
}
