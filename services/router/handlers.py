"""Every decision of the router, as a pure handler: an accepted complaint or a status claim
and the holdings store in; agency deliveries, triage and routed decisions out, the
reporter's notice of each new responsible agency, and the statuses it judged passable
(`judge`: the router knows who holds each complaint, so it is the one judge of statuses).

Units (agency.units.v1) reach the router as announcements on its ticks partition
(`Tick.units`, written to every partition by `lapor units publish`): each partition keeps the
latest version announced there of each agency ("units:<p>:<agency_id>" in the holdings
store, beside the holdings it judges, so in the same changelog partition), and judges a
disposition with it, or with the agency's starting set when none was announced. Ticks and
claims are read in no order between them: a disposition judged just before an announcement
on its partition is judged by the units in force until then, as it would have been a moment
earlier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import (
    AcceptedComplaint, AgencyComplaint, Channel, ClockName, NoticeKind, Notification, Role, Status,
    StatusClaim, StatusEvent, Tick, UnitDisposition, UnitSet, ValidationErrorItem,
)
from services.domain.calendar import DEFAULT_TZ, WorkingCalendar
from services.domain.ids import deterministic_id
from services.domain.notices import ReplyAddress, load_notice_texts, notice
from services.domain.registry import Registry
from services.domain.sla_policy import Policy
from services.domain.units import STARTING_VERSION, AgencyUnits, StartingUnits, UnitsBook
from services.router.deliver import agency_message, routed_event
from services.router.engine import Router
from services.router.holdings import Delivery, Holding, first_route, on_status
from services.router.judge import Standing, UnitsOf, fingerprint, judge, passed_key
from services.router.redact import for_agency
from services.runtime.expiry import day_of, expire_through, list_for_expiry
from services.runtime.stage import (
    Outcome, Output, Record, StagedStores, StoreName, parse_or_reject, reject,
)
from services.runtime.topics import (
    ACCEPTED, ROUTED, STATUS, TICKS, TRIAGE, agency_topic_name, notifications_topic_name,
)

STAGE = "router"
HOLDINGS = StoreName.holdings


@dataclass(frozen=True)
class RouterHandlers:
    router: Router
    registry: Registry
    calendar: WorkingCalendar
    policy: Policy
    max_refusals: int
    closed_grace_days: int
    starting_units: StartingUnits  # agency id -> its version-0 units (cache it: it is asked often)

    def handle(self, record: Record, stores: StagedStores) -> Outcome:
        if record.topic == ACCEPTED:
            return self.accepted(record, stores)
        if record.topic == TICKS:
            return self.tick(record, stores)
        return self.claim(record, stores)

    def tick(self, record: Record, stores: StagedStores) -> Outcome:
        """Ticks end holdings: those of complaints closed more than the grace period ago."""
        t = parse_or_reject(STAGE, Tick, record, "invalid_tick")
        if isinstance(t, Outcome):
            return t
        if t.units is not None:
            return self.units_announced(record.partition, t.units, stores)
        if t.rules is not None:
            return Outcome()  # a rules announcement, not a tick (the SLA monitor's)
        ended = expire_through(stores, HOLDINGS, record.partition, day_of(t.as_of.timestamp()) - 1,
                               lambda cid, _day: "closed_at" in stores.get(HOLDINGS, cid))
        return Outcome().note("holdings_purged", complaints=ended) if ended else Outcome()

    def units_announced(self, partition: int, unit_set: UnitSet, stores: StagedStores) -> Outcome:
        """Keep an agency's units version announced on this partition, if newer than the one
        kept: a repeat, a late copy of an older version or a version 0 (the starting set,
        which needs no announcement) changes nothing."""
        key = units_key(partition, unit_set.agency_id)
        kept = stores.get(HOLDINGS, key)
        if unit_set.version <= (kept["version"] if kept else STARTING_VERSION):
            return Outcome().note("units_not_newer", agency_id=unit_set.agency_id,
                                  version=unit_set.version)
        stores.put(HOLDINGS, key, {"version": unit_set.version,
                                   "unit_set": unit_set.to_bytes().decode()})
        return Outcome().note("units_announced", agency_id=unit_set.agency_id,
                              version=unit_set.version)

    def units_of(self, stores: StagedStores, partition: int) -> UnitsOf:
        """Each agency's units in force on `partition`: its starting set, or the latest
        version announced there (read and parsed only when a disposition asks)."""
        def of(agency_id: str) -> AgencyUnits:
            kept = stores.get(HOLDINGS, units_key(partition, agency_id))
            published = [UnitSet.model_validate_json(kept["unit_set"])] if kept else []
            return UnitsBook(self.starting_units, published).of(agency_id)
        return of

    def accepted(self, record: Record, stores: StagedStores) -> Outcome:
        c = parse_or_reject(STAGE, AcceptedComplaint, record, "invalid_accepted")
        if isinstance(c, Outcome):
            return c
        if stores.get(HOLDINGS, c.complaint_id) is not None:
            return Outcome().note("duplicate_accepted", complaint_id=c.complaint_id)
        holding, deliveries = first_route(c, self.router)
        messages = self._messages(c, deliveries)
        # Re-routing needs the complaint as an agency may see it, never more: an anonymous
        # reporter's identity stays out of the holdings table and its changelog.
        stores.put(HOLDINGS, c.complaint_id,
                   {**holding.to_dict(), "complaint": for_agency(c).to_bytes().decode(),
                    "channel": c.channel.value, **holder_routing(messages)})
        return self._deliver(c, deliveries, messages)

    def claim(self, record: Record, stores: StagedStores) -> Outcome:
        """A status claim judged (`judge`): passed on to complaints.status.v1 and applied to
        the holding (a re-route, an assignment, a close), dropped as a repeat, or
        dead-lettered with the reason."""
        s = parse_or_reject(STAGE, StatusClaim, record, "invalid_status")
        if isinstance(s, Outcome):
            return s
        stored = stores.get(HOLDINGS, s.complaint_id)
        verdict = judge(s, standing(stored), self.registry, self.units_of(stores, record.partition))
        if verdict.repeat:
            return Outcome().note("status_repeat_dropped", complaint_id=s.complaint_id,
                                  event_id=s.event_id, status=s.status.value)
        if not verdict.passed:
            assert verdict.reason is not None
            out = reject(STAGE, record, verdict.reason.value,
                         [ValidationErrorItem(loc="$", msg=verdict.msg)])
            return out.note("status_refused", level="warning", complaint_id=s.complaint_id,
                            event_id=s.event_id, status=s.status.value, reason=verdict.reason.value,
                            agency_id=s.agency_id)
        assert stored is not None  # a passed claim names a held complaint
        stored = {**stored, "passed": {**stored.get("passed", {}), passed_key(s): fingerprint(s)}}
        if s.agency_id is not None and s.rule_id is None:  # the holder's own word, this attempt
            stored["spoke_attempt"] = stored["attempt"]
        stores.put(HOLDINGS, s.complaint_id, stored)
        # An agency speaks as the holder of the current attempt: readers place it by that.
        # A unit is named by the judge alone, from the holder's units in force.
        attempt = stored["attempt"] if s.agency_id is not None else None
        passed = StatusEvent(**{**s.model_dump(exclude={"schema_version", "attempt", "unit_name"}),
                                "attempt": attempt, "unit_name": verdict.unit_name})
        out = Outcome([Output(STATUS, s.complaint_id.encode(), passed.to_bytes())])
        # A status cannot claim a time after it was written.
        at = min(s.at, record.time.astimezone(s.at.tzinfo))
        outcome = on_status(Holding.from_dict(stored), s, at, self.router, self.registry,
                            self.max_refusals)
        out.note("status_passed", complaint_id=s.complaint_id, event_id=s.event_id,
                 status=s.status.value, agency_id=s.agency_id, outcome=outcome.note)
        if s.status is Status.disposed and s.agency_id is not None and s.agency_id == stored["holder"]:
            out.outputs.append(self._disposition_copy(stored, s.agency_id, passed))
        if outcome.deliveries:
            held = held_complaint(stored["complaint"])
            messages = self._messages(held, outcome.deliveries)
            stores.put(HOLDINGS, s.complaint_id, {**stored, **outcome.holding.to_dict(),
                                                  **holder_routing(messages)})
            delivered = self._deliver(held, outcome.deliveries, messages, previous_holder=stored["holder"])
            out.outputs += delivered.outputs
            out.notes += delivered.notes
        elif s.status in (Status.closed, Status.archived):
            self._close(stores, record.partition, s.complaint_id, stored, at)
        return out

    def _disposition_copy(self, stored: dict[str, Any], holder: str, disposed: StatusEvent) -> Output:
        """The complaint again on its holder's topic, naming the unit that has it now: the
        agency's systems (and the bridge, for a unit's own endpoint) get the complaint when
        a unit does, and none of them keeps complaint bodies for that. Built from the
        holding (the agency view the router keeps) as the holder's routing delivered it, its
        deadlines included (kept with the routing: a policy or calendar changed since must not
        make the copy differ from the delivery, nor a replay write other bytes under its id);
        its id follows the status it comes from, so a replay writes the same record."""
        routing = stored.get("holder_routing", UNRECORDED_ROUTING)
        d = Delivery(holder, Role.primary, routing["rule_id"], routing["reason"], stored["attempt"],
                     datetime.fromisoformat(stored["routed_at"]))
        c = held_complaint(stored["complaint"])
        update: dict[str, Any] = {
            "event_id": deterministic_id("disposition-copy", c.complaint_id, holder,
                                         disposed.event_id),
            "disposition": UnitDisposition(status_event_id=disposed.event_id,
                                           unit_id=disposed.unit_id, unit_name=disposed.unit_name,
                                           disposed_at=disposed.at)}
        if "deadlines" in routing:  # (a holding kept before they were: the policy in force)
            update["deadlines"] = {ClockName(k): datetime.fromisoformat(v)
                                   for k, v in routing["deadlines"].items()}
        message = agency_message(c, d, self.registry, self.calendar, self.policy).model_copy(update=update)
        return Output(agency_topic_name(holder), c.complaint_id.encode(), message.to_bytes())

    def _messages(self, c: AcceptedComplaint, deliveries: list[Delivery]) -> list[AgencyComplaint | None]:
        """What each delivery writes on its agency's topic (None: triage), built once for the
        topic and for what the holding keeps of it."""
        return [None if d.agency_id is None else
                agency_message(c, d, self.registry, self.calendar, self.policy) for d in deliveries]

    def _close(self, stores: StagedStores, partition: int, cid: str, stored: dict[str, Any],
               at: datetime) -> None:
        """Remember the close and list the holding to end after the grace period."""
        stores.put(HOLDINGS, cid, {**stored, "closed_at": at.isoformat()})
        tz = self.registry.timezone(stored["holder"]) if stored["holder"] else DEFAULT_TZ
        ends_at = self.calendar.deadline(at, self.closed_grace_days, tz)
        list_for_expiry(stores, HOLDINGS, partition, cid, day_of(ends_at.timestamp()))

    def _deliver(self, c: AcceptedComplaint, deliveries: list[Delivery],
                 messages: list[AgencyComplaint | None], previous_holder: str | None = None) -> Outcome:
        """Each delivery: the (redacted) complaint to its agency's topic or triage, then the
        routed decision. Sent in this order, so an agency has the complaint first. The
        reporter hears of a new responsible agency (not of copies, nor of triage)."""
        key, out = c.complaint_id.encode(), Outcome()
        for d, message in zip(deliveries, messages, strict=True):
            if d.agency_id is None or message is None:
                out.outputs.append(Output(TRIAGE, key, for_agency(c).to_bytes()))
            else:
                out.outputs.append(Output(agency_topic_name(d.agency_id), key, message.to_bytes()))
            event = routed_event(c.complaint_id, d, self.registry)
            out.outputs.append(Output(ROUTED, key, event.to_bytes()))
            out.note("routed", complaint_id=c.complaint_id, event_id=event.event_id,
                     agency_id=d.agency_id, role=d.role.value, rule_id=d.rule_id, attempt=d.attempt)
            if d.agency_id is not None and d.role is Role.primary:
                told = self._routed_notice(c, d, rerouted=previous_holder is not None)
                out.outputs.append(Output(notifications_topic_name(told.channel), key, told.to_bytes()))
        return out

    def _routed_notice(self, c: AcceptedComplaint, d: Delivery, rerouted: bool) -> Notification:
        assert d.agency_id is not None
        kind = NoticeKind.rerouted if rerouted else NoticeKind.routed
        agency = self.registry.get(d.agency_id)
        text = load_notice_texts().render(
            kind, c.channel, tracking_id=c.complaint_id, agency=agency.name if agency else d.agency_id,
            days=self.policy.limits(d.agency_id).first_response)
        return notice(kind, ReplyAddress(c.channel, c.submission_id), d.routed_at, d.attempt,
                      complaint_id=c.complaint_id, agency_id=d.agency_id, text=text)


# A holding written before the holder's routing was kept: its disposition copies say so.
UNRECORDED_ROUTING = {"rule_id": "unrecorded", "reason": None}


def holder_routing(messages: list[AgencyComplaint | None]) -> dict[str, Any]:
    """What a disposition's copy needs of the holder's delivery that the holding does not
    keep (the rule, its reason, the deadlines delivered); nothing when it went to triage."""
    for m in messages:
        if m is not None and m.routing.role is Role.primary:
            return {"holder_routing": {"rule_id": m.routing.rule_id, "reason": m.routing.reason,
                                       "deadlines": {clock.value: due.isoformat()
                                                     for clock, due in m.deadlines.items()}}}
    return {}


def units_key(partition: int, agency_id: str) -> str:
    """Where a partition keeps an agency's latest announced units version (no complaint id
    starts with "units:")."""
    return f"units:{partition}:{agency_id}"


def standing(stored: dict[str, Any] | None) -> Standing | None:
    """What the judge needs of a stored holding (holdings written before the channel was
    kept name it in their complaint)."""
    if stored is None:
        return None
    channel = stored.get("channel")
    return Standing(stored["holder"],
                    Channel(channel) if channel else held_complaint(stored["complaint"]).channel,
                    "closed_at" in stored, stored.get("passed", {}),
                    datetime.fromisoformat(stored["routed_at"]),
                    holder_spoke=stored.get("spoke_attempt") == stored["attempt"])


def held_complaint(stored: str | dict[str, object]) -> AcceptedComplaint:
    """The complaint a holding keeps: its agency view as JSON (holdings written before the
    view was kept hold the whole complaint as a dict; those are redacted on the way out)."""
    if isinstance(stored, str):
        return AcceptedComplaint.model_validate_json(stored)
    return for_agency(AcceptedComplaint.model_validate(stored))
