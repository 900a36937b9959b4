"""Every decision of the router, as a pure handler: an accepted complaint or a status event
and the holdings store in; agency deliveries, triage and routed decisions out."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import AcceptedComplaint, StatusEvent
from services.domain.calendar import WorkingCalendar
from services.domain.registry import Registry
from services.domain.sla_policy import Policy
from services.router.deliver import agency_message, routed_event
from services.router.engine import Router
from services.router.holdings import Delivery, Holding, first_route, on_status
from services.router.redact import for_agency
from services.runtime.stage import (
    Outcome, Output, Record, StagedStores, StoreName, parse_or_reject,
)
from services.runtime.topics import ACCEPTED, ROUTED, TRIAGE, agency_topic_name

STAGE = "router"
HOLDINGS = StoreName.holdings


@dataclass(frozen=True)
class RouterHandlers:
    router: Router
    registry: Registry
    calendar: WorkingCalendar
    policy: Policy
    max_refusals: int

    def handle(self, record: Record, stores: StagedStores) -> Outcome:
        if record.topic == ACCEPTED:
            return self.accepted(record, stores)
        return self.status(record, stores)

    def accepted(self, record: Record, stores: StagedStores) -> Outcome:
        c = parse_or_reject(STAGE, AcceptedComplaint, record, "invalid_accepted")
        if isinstance(c, Outcome):
            return c
        if stores.get(HOLDINGS, c.complaint_id) is not None:
            return Outcome().note("duplicate_accepted", complaint_id=c.complaint_id)
        holding, deliveries = first_route(c, self.router)
        # Re-routing needs the complaint as an agency may see it, never more: an anonymous
        # reporter's identity stays out of the holdings table and its changelog.
        stores.put(HOLDINGS, c.complaint_id,
                   {**holding.to_dict(), "complaint": for_agency(c).to_bytes().decode()})
        return self._deliver(c, deliveries)

    def status(self, record: Record, stores: StagedStores) -> Outcome:
        s = parse_or_reject(STAGE, StatusEvent, record, "invalid_status")
        if isinstance(s, Outcome):
            return s
        stored = stores.get(HOLDINGS, s.complaint_id)
        if stored is None:
            return Outcome().note("status_for_unknown_complaint", level="warning",
                                  complaint_id=s.complaint_id, event_id=s.event_id,
                                  status=s.status.value)
        # A status cannot claim a time after it was written.
        at = min(s.at, record.time.astimezone(s.at.tzinfo))
        outcome = on_status(Holding.from_dict(stored), s, at, self.router, self.registry,
                            self.max_refusals)
        out = Outcome().note("status", complaint_id=s.complaint_id, event_id=s.event_id,
                             status=s.status.value, agency_id=s.agency_id, outcome=outcome.note)
        if outcome.deliveries:
            stores.put(HOLDINGS, s.complaint_id,
                       {**outcome.holding.to_dict(), "complaint": stored["complaint"]})
            delivered = self._deliver(held_complaint(stored["complaint"]), outcome.deliveries)
            out.outputs += delivered.outputs
            out.notes += delivered.notes
        return out

    def _deliver(self, c: AcceptedComplaint, deliveries: list[Delivery]) -> Outcome:
        """Each delivery: the (redacted) complaint to its agency's topic or triage, then the
        routed decision. Sent in this order, so an agency has the complaint first."""
        key, out = c.complaint_id.encode(), Outcome()
        for d in deliveries:
            if d.agency_id is None:
                out.outputs.append(Output(TRIAGE, key, for_agency(c).to_bytes()))
            else:
                message = agency_message(c, d, self.registry, self.calendar, self.policy)
                out.outputs.append(Output(agency_topic_name(d.agency_id), key, message.to_bytes()))
            event = routed_event(c.complaint_id, d, self.registry)
            out.outputs.append(Output(ROUTED, key, event.to_bytes()))
            out.note("routed", complaint_id=c.complaint_id, event_id=event.event_id,
                     agency_id=d.agency_id, role=d.role.value, rule_id=d.rule_id, attempt=d.attempt)
        return out


def held_complaint(stored: str | dict[str, object]) -> AcceptedComplaint:
    """The complaint a holding keeps: its agency view as JSON (holdings written before the
    view was kept hold the whole complaint as a dict; those are redacted on the way out)."""
    if isinstance(stored, str):
        return AcceptedComplaint.model_validate_json(stored)
    return for_agency(AcceptedComplaint.model_validate(stored))
