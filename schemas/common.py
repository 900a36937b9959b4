"""Shared wire types: strict timestamps, ids and the enumerations of contract v1."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

SCHEMA_VERSION = 1

# RFC 3339 date-time with an explicit offset ('Z' or +hh:mm). Naive timestamps are bad input.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _parse_rfc3339(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamp has no UTC offset (naive timestamps are not accepted)")
        return value
    if not isinstance(value, str):
        raise ValueError("timestamp must be an RFC 3339 string")
    if not _RFC3339.match(value):
        raise ValueError(
            "timestamp must be RFC 3339 with an explicit offset, e.g. 2026-03-02T09:15:00+07:00"
        )
    text = value.upper()
    frac = re.search(r"\.(\d+)", text)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds; drop the rest
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"timestamp is not a valid date-time: {exc}") from None


def format_timestamp(value: datetime) -> str:
    return value.isoformat()


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_rfc3339),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "pattern": _RFC3339.pattern,
                    "description": "RFC 3339 date-time with an explicit offset"}),
]

AgencyId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$", min_length=1, max_length=64)]
ComplaintId = Annotated[str, StringConstraints(pattern=r"^LPR-[0-9A-HJKMNP-TV-Z]{12}$")]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(strict=True)]


def _check_nik(value: str) -> str:
    # 16 digits: province(2) regency(2) district(2) birth date DDMMYY (+40 on DD for women)
    # and a 4-digit serial. The date part is checked so that random 16-digit numbers fail.
    day, month = int(value[6:8]), int(value[8:10])
    if day > 40:
        day -= 40
    if not (1 <= day <= 31 and 1 <= month <= 12):
        raise ValueError("NIK has no valid birth date in digits 7-12")
    if value[:2] < "11" or value.endswith("0000"):
        raise ValueError("NIK has an invalid province code or serial")
    return value


Nik = Annotated[
    str,
    StringConstraints(pattern=r"^\d{16}$", strict=True),
    AfterValidator(_check_nik),
]


class Channel(StrEnum):
    web = "web"
    mobile = "mobile"
    sms = "sms"
    twitter = "twitter"
    whatsapp = "whatsapp"
    email = "email"
    other = "other"


class Privacy(StrEnum):
    public = "public"
    confidential = "confidential"  # rahasia: not to be made public
    anonymous = "anonymous"  # anonim: identity never reaches an agency


class ComplaintType(StrEnum):
    complaint = "complaint"
    aspiration = "aspiration"
    information_request = "information_request"


class Category(StrEnum):
    """The category list the project ships (codes are stable; labels are in the docs)."""

    population_documents = "population_documents"  # KTP, KK, akta (Dukcapil)
    health_insurance = "health_insurance"  # BPJS Kesehatan, JKN, KIS
    employment_insurance = "employment_insurance"  # BPJS Ketenagakerjaan, JHT
    electricity = "electricity"  # PLN, token, subsidi listrik
    social_assistance = "social_assistance"  # bansos, PKH, BPNT
    education = "education"  # sekolah, PPDB, KIP, guru
    roads_infrastructure = "roads_infrastructure"  # jalan rusak, jembatan, drainase
    public_order = "public_order"  # ketertiban, PKL, parkir liar, preman
    health_services = "health_services"  # puskesmas, rumah sakit, obat
    water = "water"  # PDAM, air bersih
    environment = "environment"  # sampah, banjir, limbah, polusi
    transportation = "transportation"  # angkutan umum, SIM, STNK, KRL
    land_housing = "land_housing"  # sertifikat tanah, BPN, rumah subsidi
    taxes = "taxes"  # pajak, NPWP, PBB
    civil_service = "civil_service"  # ASN, pungli, pelayanan aparatur
    religion_hajj = "religion_hajj"  # haji, umrah, KUA, nikah
    telecommunication = "telecommunication"  # sinyal, internet
    manpower = "manpower"  # gaji, PHK, THR, TKI/PMI
    village_funds = "village_funds"  # dana desa
    other = "other"


class SlaTier(StrEnum):
    standard_5d = "standard_5d"
    dispute_14d = "dispute_14d"
    field_60d = "field_60d"


class Status(StrEnum):
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    info_requested = "info_requested"
    info_received = "info_received"
    field_inspection_required = "field_inspection_required"
    responded = "responded"
    resolved = "resolved"
    not_our_authority = "not_our_authority"
    assigned = "assigned"
    reporter_replied = "reporter_replied"
    archived = "archived"
    closed = "closed"
    # v1 addition: inside the holding agency, the complaint goes to one of its units
    # (`unit_id`), or back to the agency's admin (no `unit_id`). Moves no contract clock.
    disposed = "disposed"


class Role(StrEnum):
    primary = "primary"
    copy = "copy"  # tembusan


class ClockName(StrEnum):
    first_response = "first_response"
    follow_up = "follow_up"
    resolution = "resolution"
    auto_close = "auto_close"
    # v1 additions, internal to an agency (never past its admin): the admin's verification
    # and disposition, and the unit's deadline inside the agency's.
    disposition = "disposition"
    unit_response = "unit_response"


class EscalationKind(StrEnum):
    warning = "warning"
    breach = "breach"


class EscalationTarget(StrEnum):
    agency = "agency"
    agency_supervisor = "agency_supervisor"
    national_admin = "national_admin"
    ombudsman = "ombudsman"
    # v1 addition, internal to an agency: a unit late on its internal deadline, or the
    # admin late to disposition, is told to the agency's admin, and to nobody beyond.
    agency_admin = "agency_admin"


class NoticeKind(StrEnum):
    """What a reporter is told (complaints.notifications.<channel>.v1)."""

    accepted = "accepted"  # the tracking id and what happens next
    rejected = "rejected"  # why, in plain words, and how to send again
    routed = "routed"  # an agency has the complaint
    rerouted = "rerouted"  # another agency has it now
    responded = "responded"  # the agency has answered
    info_requested = "info_requested"  # the agency needs more from the reporter
    closed = "closed"
    auto_closed = "auto_closed"  # closed after no reply from the reporter
    escalated = "escalated"  # past the agency: national admin (level 2) or Ombudsman (level 3)


class WirePart(BaseModel):
    """Base of every wire object. Unknown fields are ignored on read (tolerant reader): v1
    may gain optional fields, and old consumers must keep working. They are not passed on."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WireModel(WirePart):
    """Base of every top-level event: carries its schema version."""

    #: Default topic name (without deployment prefix) and schema name of the event.
    topic_name: ClassVar[str] = ""
    schema_name: ClassVar[str] = ""
    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        """Compact JSON; optional fields that are unset are left out, but a required field
        whose value is null (e.g. ``agency_id`` of a triage decision) stays as ``null``."""
        nulls = [name for name in _required_fields(type(self)) if getattr(self, name) is None]
        if not nulls:  # pydantic's own serialiser: several times faster than dump + json.dumps
            return self.model_dump_json(exclude_none=True).encode("utf-8")
        data = self.model_dump(mode="json", exclude_none=True)
        for name in nulls:
            data[name] = None
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@lru_cache(maxsize=None)
def _required_fields(model: type[WireModel]) -> tuple[str, ...]:
    return tuple(name for name, info in model.model_fields.items() if info.is_required())
