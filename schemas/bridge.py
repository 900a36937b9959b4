"""What the bridge keeps and sends beside the contract topics (an extension of v1: new topics
and bodies only, no field of an existing event changes)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.common import AgencyId, ComplaintId, Timestamp, WireModel


class Open311Request(WireModel):
    """bridge.open311-requests.v1, key `<agency_id>|<complaint_id>`, compacted: the service
    request an agency's GeoReport v2 server made for a complaint, and the last update of it
    turned into a status. The bridge reads it back at start, so a restart neither files a
    complaint twice nor repeats a status. A tombstone ends it once the request is closed."""

    topic_name: ClassVar[str] = "bridge.open311-requests.v1"
    schema_name: ClassVar[str] = "open311_request"
    agency_id: AgencyId
    complaint_id: ComplaintId
    service_request_id: str | None = None  # None while only a token is known
    token: str | None = None
    filed_at: Timestamp
    last_update: str | None = None  # the key (update_id, or time and status) last applied
    last_update_at: Timestamp | None = None  # its updated_datetime: older updates are past
    last_status: str | None = None  # the server's status string last applied
    # True from just before a POST until its answer is known: a bridge that finds it so (a
    # POST timed out after the server took it, a kill between the answer and this record)
    # looks the complaint up on the server before it posts again, so it is filed once.
    posting: bool = False


class WebhookPing(WireModel):
    """The body of `lapor bridge check`'s signed test call (header X-Lapor-Event: ping): a
    receiver verifies its signature like any delivery and answers 2xx; nothing is filed."""

    schema_name: ClassVar[str] = "webhook_ping"
    ping: Literal[True] = True
    agency_id: AgencyId
    sent_at: Timestamp


class BridgeDelivery(WireModel):
    """bridge.deliveries.v1, key agency_id, compacted: how the bridge's delivery to one
    agency stands (what the operations page shows per agency). Sent when it changes, at most
    every few seconds; counts are since the bridge worker started (`started_at`)."""

    topic_name: ClassVar[str] = "bridge.deliveries.v1"
    schema_name: ClassVar[str] = "bridge_delivery"
    agency_id: AgencyId
    mode: Literal["webhook", "open311"]
    as_of: Timestamp
    started_at: Timestamp
    pending: int = Field(ge=0)  # read from the agency's topic, not yet delivered
    oldest_undelivered_s: float = Field(ge=0)  # 0 when nothing waits
    retrying: bool  # the next complaint waits for a retry (the endpoint failed)
    delivered: int = Field(ge=0)
    refused: int = Field(ge=0)  # dead-lettered: the endpoint refused them for good
    failed_tries: int = Field(ge=0)
    statuses_in: int = Field(ge=0)  # statuses passed on from the agency's system
