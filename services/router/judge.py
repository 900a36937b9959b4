"""The one judge of statuses: whether a claim's sender may say it about that complaint at
that moment, and whether this very event was passed before. Pure.

It lives in the router because the router decides who holds each complaint: a claim is
judged against the holding the router itself last wrote, in the same partition and the same
process, so an agency can never speak about a complaint before the judge knows it holds it
(the agency learns of the complaint only from what the router wrote after updating its
holding). A judge fed from complaints.routed.v1 instead would read holders and claims on
two topics and could judge a claim before it has read the routing that allows it.

Who may say what (contract v1, "One judge for statuses"):
- the holder of the current routing attempt: any agency status (never `assigned` or
  `reporter_replied`, which the status gate refuses from agencies already); a `disposed`
  to one of its units only to an active unit of its units in force (one retired or never
  there would leave the complaint with no office to answer it), and the judge names the
  unit (`Verdict.unit_name`: readers show it without reading the units);
- a copy (tembusan) agency: nothing. A copy is for information; a copy agency's
  `resolved` or `closed` would change a complaint it does not answer for, and an
  `acknowledged` would stop a clock that is not its own. It is told, not asked;
- a former holder, or an agency never involved: nothing;
- the national admin: `assigned`, for a complaint in triage, to an agency in the registry;
- the reporter: `reporter_replied`, through the channel the complaint came in by;
- the SLA monitor: its auto-close `closed`;
- nobody, once the complaint is closed or archived;
- nobody, about a time before the current routing (less a clock's skew): a backdated
  acknowledgement or resolution would stop clocks before they started and take back
  escalations of the agency's own silence.

Each complaint keeps at most `MAX_STATUSES` passed statuses, as digests: the holding is
rewritten to its changelog with each one, and a speaker sending without end (an agency on a
complaint it holds, a channel's replies) must not grow it past what a changelog record may
hold. Event ids are each speaker's own: one cannot take another's id to have its genuine
status refused as a conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas import Channel, Status, StatusEvent
from services.domain.registry import Registry
from services.domain.units import AgencyUnits

# What makes two claims with one event_id the same event. Not `at`: a resend may be stamped
# anew (a desk form posted twice, a webhook retry that re-signs) and the first one counts.
_CONTENT = ("complaint_id", "status", "agency_id", "channel", "target_agency_id", "note")
# Content added later, in the digest only when present: the fingerprints of statuses passed
# before it existed stay what they were (their repeats stay repeats, not conflicts).
_ADDED_CONTENT = ("unit_id", "rule_id")
# Far more than a complaint's life has (LAPOR!'s are a dozen statuses at most); bounds the
# holding whatever a speaker sends.
MAX_STATUSES = 100
# How far behind ours an agency system's clock may run (the desk allows the same).
CLOCK_SKEW = timedelta(minutes=10)


class Reason(StrEnum):
    """Why a claim is dead-lettered (the `reason` of its complaints.rejected.v1 letter)."""

    unknown_complaint = "unknown_complaint"
    event_id_conflict = "event_id_conflict"
    complaint_closed = "complaint_closed"
    not_the_holder = "not_the_holder"
    not_in_triage = "not_in_triage"
    unknown_target = "unknown_target"
    not_the_reporters_channel = "not_the_reporters_channel"
    before_its_routing = "before_its_routing"
    too_many_statuses = "too_many_statuses"
    unknown_unit = "unknown_unit"
    agency_spoke_first = "agency_spoke_first"


@dataclass(frozen=True)
class Standing:
    """What the judge needs of a complaint's holding."""

    holder: str | None  # None while in triage
    channel: Channel  # the channel it came in by: the reporter's voice
    closed: bool
    passed: Mapping[str, str]  # `passed_key` -> `fingerprint` of every status passed
    routed_at: datetime  # of the current routing attempt
    # The holder has had a status of its own passed in the current attempt: an automatic
    # disposition (the agency's rules, `rule_id`) that comes after it is stale, and the
    # agency's own word (its admin's disposition, a unit's hand-back) stands.
    holder_spoke: bool = False


@dataclass(frozen=True)
class Verdict:
    passed: bool
    repeat: bool = False  # the same event passed before: dropped, nobody is told again
    reason: Reason | None = None
    msg: str = ""
    unit_name: str | None = None  # of a passed `disposed` to a unit: the judge's to write in


PASSED = Verdict(True)
REPEAT = Verdict(False, repeat=True)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def fingerprint(claim: StatusEvent) -> str:
    added = [f"{name}={value}" for name in _ADDED_CONTENT
             if (value := getattr(claim, name)) is not None]
    return _digest(*(str(getattr(claim, name) or "") for name in _CONTENT), *added)


def passed_key(claim: StatusEvent) -> str:
    """The event id as its speaker's own (an agency, a channel, the admin, the SLA monitor)."""
    speaker = (claim.agency_id or (f"channel:{claim.channel.value}" if claim.channel else None)
               or ("admin" if claim.status is Status.assigned else "sla_monitor"))
    return _digest(speaker, claim.event_id)


def _refused(reason: Reason, msg: str) -> Verdict:
    return Verdict(False, reason=reason, msg=msg)


UnitsOf = Callable[[str], AgencyUnits]  # an agency's units in force


def judge(claim: StatusEvent, standing: Standing | None, registry: Registry,
          units: UnitsOf) -> Verdict:
    """The verdict on one claim; `standing` is None for a complaint the router never accepted
    (or whose holding ended after its close). `units` is asked only about a disposition."""
    if standing is None:  # an id with a wrong check character never is: intake makes them
        return _refused(Reason.unknown_complaint, "no complaint with this id was accepted")
    seen = standing.passed.get(passed_key(claim))
    if seen is not None:
        if seen == fingerprint(claim):
            return REPEAT
        return _refused(Reason.event_id_conflict, "this event_id was passed with other content")
    if standing.closed:
        return _refused(Reason.complaint_closed, "the complaint is closed")
    if len(standing.passed) >= MAX_STATUSES:
        return _refused(Reason.too_many_statuses, f"the complaint has {MAX_STATUSES} statuses")
    if claim.at < standing.routed_at - CLOCK_SKEW:
        return _refused(Reason.before_its_routing,
                        "the status is dated before the complaint's current routing")
    if claim.channel is not None:  # the reporter (the gate lets them say reporter_replied only)
        if claim.channel is not standing.channel:
            return _refused(Reason.not_the_reporters_channel,
                            "the complaint did not come in through this channel")
        return PASSED
    if claim.agency_id is None:  # the national admin's assigned or the SLA monitor's close
        if claim.status is not Status.assigned:
            return PASSED  # the gate passes nothing else without a speaker: the auto-close
        if standing.holder is not None:
            return _refused(Reason.not_in_triage, "only a complaint in triage is assigned")
        if claim.target_agency_id not in registry:
            return _refused(Reason.unknown_target, "the target agency is not in the registry")
        return PASSED
    if claim.agency_id != standing.holder:
        return _refused(Reason.not_the_holder,
                        "only the agency holding the complaint may send its statuses "
                        "(not a copy agency, a former holder or another agency)")
    if claim.rule_id is not None and standing.holder_spoke:
        return _refused(Reason.agency_spoke_first,
                        "an automatic disposition after the agency's own status: its own stands")
    if claim.status is Status.disposed and claim.unit_id is not None:
        unit = units(claim.agency_id).active(claim.unit_id)
        if unit is None:
            return _refused(Reason.unknown_unit,
                            f"{claim.unit_id} is not an active unit of {claim.agency_id}")
        return Verdict(True, unit_name=unit.name)
    return PASSED
