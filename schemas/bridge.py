"""What the bridge keeps and sends beside the contract topics (an extension of v1: new topics
and bodies only, no field of an existing event changes)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.common import AgencyId, ComplaintId, Timestamp, WireModel
from schemas.units import UnitId


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
    # Optional (added later; an older report lacks them).
    gave_up: int = Field(0, ge=0)  # dead-lettered after give_up_after_s of failures
    skipped: int = Field(0, ge=0)  # dead-lettered by an operator's `lapor bridge skip`
    disabled: bool = False  # the endpoint answered 410 Gone: held until `lapor bridge enable`


class BridgeCommand(WireModel):
    """bridge.control.v1, compacted: an operator's command to every bridge worker (`lapor
    bridge skip|enable`). Key `<agency_id>|<complaint_id>` for a skip, `<agency_id>` for an
    enable. Workers follow the topic, so a command reaches whichever holds the agency's lane,
    now or after a restart; a skip kept on the topic also skips that complaint if it comes
    again (a redelivery or a copy)."""

    topic_name: ClassVar[str] = "bridge.control.v1"
    schema_name: ClassVar[str] = "bridge_command"
    action: Literal["skip", "enable"]
    agency_id: AgencyId
    complaint_id: ComplaintId | None = None  # a skip's complaint
    at: Timestamp
    by: str = Field(max_length=120)  # the operator's principal, for the record
    note: str | None = Field(None, max_length=500)  # why (operators' words, never shown to reporters)


class BridgeSeenCall(WireModel):
    """bridge.seen-calls.v1, key `<agency_id>|<digest>`: a signed status call the bridge
    accepted (the digest of its webhook-id or signature). Every bridge worker follows it, so a
    call replayed within the window is refused by any worker and after a restart. Kept a day
    (far past any replay window); an entry older than twice the window is ignored."""

    topic_name: ClassVar[str] = "bridge.seen-calls.v1"
    schema_name: ClassVar[str] = "bridge_seen_call"
    agency_id: AgencyId
    seen_at: Timestamp


class BridgeUndelivered(WireModel):
    """bridge.undelivered.v1, key `<agency_id>|<complaint_id>`, compacted: a complaint the
    bridge could not put into the agency's own system, or a unit's (refused for good, given up after
    `give_up_after_s`, or skipped by an operator). The agency's desk shows it so its staff
    work it there, and the operations page counts it; the complaint itself is dead-lettered
    too. A later delivery (an operator's redelivery) ends it with a tombstone."""

    topic_name: ClassVar[str] = "bridge.undelivered.v1"
    schema_name: ClassVar[str] = "bridge_undelivered"
    agency_id: AgencyId
    complaint_id: ComplaintId
    event_id: str = Field(max_length=200)
    reason: Literal["bridge_refused", "bridge_gave_up", "bridge_skipped"]
    at: Timestamp
    http_status: int | None = None  # the endpoint's last answer (None: no answer)
    # v1 optional addition: the unit whose own endpoint (the bridge file's `units:`) did not
    # take a disposition's copy of the complaint; None: the agency's own endpoint or server.
    unit_id: UnitId | None = None
