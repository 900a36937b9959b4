"""A status read before the routing it follows (the worker lags on complaints.routed.v1):
it waits for that routing instead of being flagged, so a first response on time is not lost
and no false escalation fires; a status from an agency that never gets the complaint is
applied (flagged) once routed decisions of a later hour have been read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas import AcceptedComplaint, ComplianceStats, Escalation, RoutedEvent, StatusEvent
from services.runtime.settings import Settings
from services.runtime.stage import StagedStores
from services.sla_monitor.compose import build_processor
from services.sla_monitor.processor import Result
from tests.sla_scenario import LIFE, accepted, routed, status

T0 = datetime.fromisoformat("2026-03-02T10:00:00+07:00")  # record times: write order


class Worker:
    def __init__(self) -> None:
        self.processor = build_processor(Settings())
        self.stores: dict[str, dict[str, Any]] = {s: {} for s in ("clocks", "due", "marks", "stats", "overdue")}
        self.out: list[Any] = []

    def _done(self, res: Result) -> Result:
        res.view.commit()
        self.out += [e.event for e in res.outputs]
        return res

    def accepted(self, step: Any, minutes: int) -> Result:
        c = AcceptedComplaint.model_validate(step[2])
        return self._done(self.processor.accepted(StagedStores(self.stores), 0, c, T0 + timedelta(minutes=minutes)))

    def routed(self, step: Any, minutes: int) -> Result:
        r = RoutedEvent.model_validate(step[2])
        return self._done(self.processor.routed(StagedStores(self.stores), 0, r, T0 + timedelta(minutes=minutes)))

    def status(self, step: Any, minutes: int) -> Result:
        s = StatusEvent.model_validate(step[2])
        return self._done(self.processor.status(StagedStores(self.stores), 0, s, T0 + timedelta(minutes=minutes)))

    def tick(self, as_of: str) -> Result:
        return self._done(self.processor.tick(StagedStores(self.stores), 0, datetime.fromisoformat(as_of)))


MON = "2026-03-02T09:15:00+07:00"


def test_a_first_response_read_before_its_routing_still_counts() -> None:
    w = Worker()
    w.accepted(accepted(LIFE, MON), 0)
    # pln's acknowledgement (written at +30 min, after the routing at +1) is read first
    assert w.status(status(LIFE, "acknowledged", "pln", "2026-03-02T11:00:00+07:00"), 30).note == "waits_for_routing"
    w.routed(routed(LIFE, "pln", MON), 1)
    state = w.stores["clocks"][LIFE]
    assert state["first_response_done"] and state["flagged_statuses"] == 0
    assert "awaiting:" + LIFE not in w.stores["clocks"]
    w.tick("2026-03-07T00:00:00+07:00")  # past the first response's due time: nothing fires for it
    assert [e.level for e in w.out if isinstance(e, Escalation) and e.clock.value == "first_response"] == []
    reports = [e for e in w.out if isinstance(e, ComplianceStats)]
    assert [(r.agency_id, r.first_response_on_time, r.first_response_late) for r in reports
            if r.first_response_on_time or r.first_response_late] == [("pln", 1, 0)]


def test_a_status_from_an_agency_that_never_gets_it_is_flagged_after_later_routings() -> None:
    w = Worker()
    w.accepted(accepted(LIFE, MON), 0)
    w.routed(routed(LIFE, "pln", MON), 1)
    assert w.status(status(LIFE, "acknowledged", "kemensos", "2026-03-02T11:00:00+07:00"), 30).note == "waits_for_routing"
    other = "LPR-CCCCCCCCCCC3"
    w.accepted(accepted(other, MON), 40)
    w.routed(routed(other, "pln", MON), 50)  # the same hour: not yet
    assert w.stores["clocks"][LIFE]["flagged_statuses"] == 0
    w.routed(routed(other, "kpk", "2026-03-02T12:00:00+07:00", attempt=2), 125)  # written in a later hour
    assert w.stores["clocks"][LIFE]["flagged_statuses"] == 1
    assert "awaiting:" + LIFE not in w.stores["clocks"]
    assert not [k for k in w.stores["due"] if k.startswith("awaiting@")]


def test_a_refusal_read_after_its_re_route_is_counted_once_on_time() -> None:
    refusal = status(LIFE, "not_our_authority", "kpk", "2026-03-02T12:00:00+07:00")
    reroute = routed(LIFE, "kemendes", "2026-03-02T12:00:00+07:00", attempt=2)
    counts = []
    for order in ([refusal, reroute], [reroute, refusal]):  # either topic read first
        w = Worker()
        w.accepted(accepted(LIFE, MON), 0)
        w.routed(routed(LIFE, "kpk", MON), 1)
        for step in order:
            (w.status if step is refusal else w.routed)(step, 180)
        w.tick("2026-03-07T00:00:00+07:00")
        counts.append(sorted((r.agency_id, r.first_response_on_time, r.first_response_late)
                             for r in w.out if isinstance(r, ComplianceStats)
                             and (r.first_response_on_time or r.first_response_late)))
        assert not [e for e in w.out if isinstance(e, Escalation) and e.agency_id == "kpk"]
    assert counts[0] == counts[1] == [("kpk", 1, 0)]
