"""Every decision of the SLA monitor, as a pure handler: an accepted, routed, status or tick
record (co-partitioned by complaint id) and the clock stores in; escalations, compliance
statistics and auto-close statuses out."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import AcceptedComplaint, Escalation, RejectedEvent, RoutedEvent, StatusEvent, Tick, WireModel
from services.runtime.stage import (
    Outcome, Output, Record, StagedStores, StoreName, parse_or_reject,
)
from services.runtime.topics import ACCEPTED, ROUTED, STATUS, TICKS
from services.sla_monitor.processor import Result, SlaProcessor

STAGE = "sla_monitor"
STORES = (StoreName.clocks, StoreName.due, StoreName.marks, StoreName.stats, StoreName.overdue)
MODELS: dict[str, type[WireModel]] = {
    ACCEPTED: AcceptedComplaint, ROUTED: RoutedEvent, STATUS: StatusEvent, TICKS: Tick}


@dataclass(frozen=True)
class SlaHandlers:
    processor: SlaProcessor

    def handle(self, record: Record, stores: StagedStores) -> Outcome:
        model = MODELS[record.topic]
        event = parse_or_reject(STAGE, model, record, f"invalid_{model.schema_name}")
        if isinstance(event, Outcome):
            return event
        p, proc = record.partition, self.processor
        if isinstance(event, AcceptedComplaint):
            res = proc.accepted(stores, p, event, record.time)
        elif isinstance(event, RoutedEvent):
            res = proc.routed(stores, p, event, record.time, source=(record.topic, record.offset))
        elif isinstance(event, StatusEvent):
            res = proc.status(stores, p, event, record.time, source=(record.topic, record.offset))
        elif isinstance(event, Tick) and event.rules is not None:
            res = proc.announce(stores, p, event.rules)
            return Outcome().note(res.note, rules_version=event.rules.version,
                                  effective_from=event.rules.effective_from.isoformat())
        elif isinstance(event, Tick) and event.units is not None:
            res = proc.announce_units(stores, p, event.units)
            return Outcome().note(res.note, agency_id=event.units.agency_id,
                                  units_version=event.units.version)
        else:
            assert isinstance(event, Tick)
            res = proc.tick(stores, p, event.as_of)
        return outcome_of(res)


def outcome_of(res: Result) -> Outcome:
    out = Outcome([Output(e.topic, e.key.encode(), e.event.to_bytes()) for e in res.outputs])
    for e in res.outputs:
        if isinstance(e.event, Escalation):
            esc = e.event
            out.note("escalation", complaint_id=e.key, event_id=esc.escalation_id,
                     clock=esc.clock.value, kind=esc.kind.value, escalation_level=esc.level)
    for e in res.outputs:
        if isinstance(e.event, RejectedEvent):  # a parked event whose complaint never came
            out.note("rejected", level="warning", reason=e.event.reason, complaint_id=e.key,
                     event_id=e.event.event_id)
    # Ids only; each is also counted by the stage's metrics (lapor_handled, by event).
    for cid, event_id in res.repeats:  # the judge let a repeat through: the second line held
        out.note("status_repeat_ignored", complaint_id=cid, event_id=event_id)
    for cid, event_id in res.late:  # read after the ticks passed its time by the lateness
        out.note("late_status", complaint_id=cid, event_id=event_id)
    if res.purged:
        out.note("sla_state_purged", complaints=res.purged)
    if res.rules_switched:
        version, relisted = res.rules_switched
        out.note("rules_in_force", rules_version=version, complaints_relisted=relisted)
    out.note("handled", level="debug", outcome=res.note, outputs=len(res.outputs))
    return out
