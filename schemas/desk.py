"""The agency desk's own record beside the contract topics (an extension of v1: a new topic
and body only). Agencies on Kafka or webhooks run their own approval; this is the desk's."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from schemas.common import AgencyId, ComplaintId, Status, Timestamp, WireModel
from schemas.units import UnitId

DraftText = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=5000)]


class StatusDraft(WireModel):
    """desk.drafts.v1 (compacted), key `<agency_id>|<complaint_id>`: a unit's `responded` or
    `resolved` waiting for the approval of its agency's admin (the liaison officer), when
    the agency's units in force ask for it (`UnitSet.approval`). The latest record of a key
    is the complaint's draft; `state` moves from pending to approved (the desk has then
    written the agency's status with the draft's status and note) or rejected (back to the
    unit with `review_note`). The text is the agency's, not the reporter's: only the desk's
    principal reads or writes this topic, and no public page shows it."""

    topic_name: ClassVar[str] = "desk.drafts.v1"
    schema_name: ClassVar[str] = "status_draft"
    # Derived from the form the unit submitted: a resent form is the same draft.
    draft_id: str = Field(pattern=r"^draft-[0-9a-f]{32}$")
    agency_id: AgencyId
    complaint_id: ComplaintId
    unit_id: UnitId
    status: Literal[Status.responded, Status.resolved]
    note: DraftText  # the draft answer
    drafted_at: Timestamp
    state: Literal["pending", "approved", "rejected"] = "pending"
    review_note: DraftText | None = None  # the admin's note on a rejection
    reviewed_at: Timestamp | None = None

