"""What the reporter hears from the SLA monitor: the responsible agency's answer or request,
the close (by the agency, an admin or the auto-close), and an escalation past the agency.
Pure: the complaint's clocks and the event in, a notification (or none) out."""

from __future__ import annotations

from schemas import Channel, ClockName, EscalationKind, NoticeKind, Notification, Status, StatusEvent
from services.domain.ids import deterministic_id
from services.domain.notices import ReplyAddress, load_notice_texts, notice
from services.domain.registry import Registry
from services.sla_monitor.clocks import TRIAGE_AGENCY, ComplaintClocks, Moment

_STATUS_KINDS = {Status.responded: NoticeKind.responded,
                 Status.info_requested: NoticeKind.info_requested,
                 Status.closed: NoticeKind.closed, Status.archived: NoticeKind.closed}


def auto_close_id(complaint_id: str, agency_id: str, attempt: int) -> str:
    """The event id of the `closed` status the monitor writes when auto_close lapses."""
    return deterministic_id("auto_close", complaint_id, agency_id, attempt)


def _reply(state: ComplaintClocks) -> ReplyAddress | None:
    if state.channel is None:
        return None  # state from before notices: no address kept
    return ReplyAddress(Channel(state.channel), state.submission_id)


def _agency_name(registry: Registry, agency_id: str | None) -> str:
    agency = registry.get(agency_id) if agency_id else None
    return agency.name if agency else "Instansi"


def status_notice(state: ComplaintClocks, s: StatusEvent, registry: Registry) -> Notification | None:
    """For a status just applied (by the responsible agency, an admin or the monitor)."""
    kind, reply = _STATUS_KINDS.get(s.status), _reply(state)
    if kind is None or reply is None:
        return None
    if kind is NoticeKind.closed and s.agency_id is None and any(
            s.event_id == auto_close_id(state.complaint_id, c.agency_id, c.attempt)
            for c in state.clocks if c.name is ClockName.auto_close):
        kind = NoticeKind.auto_closed
    text = load_notice_texts().render(kind, reply.channel, tracking_id=state.complaint_id,
                                      agency=_agency_name(registry, s.agency_id))
    return notice(kind, reply, s.at, s.event_id, complaint_id=state.complaint_id,
                  agency_id=s.agency_id, text=text)


def escalation_notice(state: ComplaintClocks, m: Moment) -> Notification | None:
    """A breach past the agency (level 2: the national admin, 3: the Ombudsman). One id per
    complaint, level and attempt: two clocks reaching the same level tell the reporter once."""
    reply = _reply(state)
    if m.kind is not EscalationKind.breach or m.level < 2 or reply is None:
        return None
    texts = load_notice_texts()
    text = texts.render(NoticeKind.escalated, reply.channel, tracking_id=state.complaint_id,
                        target=texts.targets[m.level])
    agency = m.clock.agency_id if m.clock.agency_id != TRIAGE_AGENCY else None
    return notice(NoticeKind.escalated, reply, m.fire_at, m.level, m.clock.attempt,
                  complaint_id=state.complaint_id, agency_id=agency, level=m.level, text=text)
