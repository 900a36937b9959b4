"""The declarative catalogue of every contract topic, and its idempotent creation."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.settings import Settings

DAY_MS = 24 * 3600 * 1000

# Topics that must share a partition count: the SLA monitor and router join them by key.
COPARTITIONED = "by_complaint_id"


@dataclass(frozen=True)
class TopicSpec:
    name: str  # contract name, without the deployment prefix
    key: str
    partitions: int
    replication_factor: int
    cleanup_policy: str = "delete"
    retention_ms: int = -1
    copartition_group: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            **self.extra,
        }


AGENCY_TOPIC = "agency.{agency_id}.complaints.v1"


def agency_topic_name(agency_id: str) -> str:
    return AGENCY_TOPIC.format(agency_id=agency_id)


def catalogue(settings: Settings) -> list[TopicSpec]:
    """Every fixed topic of contract v1 with its partitions and configs."""
    keep = settings.input_retention_days * DAY_MS
    p, rf = settings.partitions, settings.replication_factor

    def spec(name: str, key: str, group: str | None = None, retention: int = keep) -> TopicSpec:
        return TopicSpec(name, key, p, rf, retention_ms=retention, copartition_group=group)

    return [
        spec("complaints.submitted.v1", "submission_id"),
        spec("channels.sms.v1", "msisdn"),
        spec("complaints.accepted.v1", "complaint_id", COPARTITIONED),
        spec("complaints.rejected.v1", "input key"),
        spec("complaints.routed.v1", "complaint_id", COPARTITIONED),
        spec("complaints.triage.v1", "complaint_id"),
        spec("complaints.status.v1", "complaint_id", COPARTITIONED),
        spec("sla.ticks.v1", "none (one per partition)", COPARTITIONED),
        spec("sla.escalations.v1", "complaint_id"),
        spec("sla.compliance.v1", "agency_id"),
    ]


def agency_topic(settings: Settings, agency_id: str) -> TopicSpec:
    return TopicSpec(
        agency_topic_name(agency_id), "complaint_id", settings.partitions,
        settings.replication_factor, retention_ms=settings.input_retention_days * DAY_MS,
    )
