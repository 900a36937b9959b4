"""What the staff sites (the desk and the operations page) share beside the contract topics
(an extension of v1: a new topic and body only)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.common import Timestamp, WireModel


class StaffSignOut(WireModel):
    """staff.signed-out.v1, key `<site>|<session digest>`, compacted: a staff session signed
    out on one worker of a site. Every worker of that site follows the topic and refuses the
    session's cookie from then on (the cookie itself stays valid until its end otherwise).
    Only a digest of the session id is written, never the id or who it was."""

    topic_name: ClassVar[str] = "staff.signed-out.v1"
    schema_name: ClassVar[str] = "staff_signed_out"
    site: Literal["desk", "ops"]
    session_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    until: Timestamp  # when the session would have ended: the entry means nothing after
