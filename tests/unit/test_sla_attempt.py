"""The SLA monitor places an agency's status by the routing attempt the judge stamped on it,
not by which routing it happens to have read: a former holder assigned back by the national
admin speaks before the monitor read its new routing, and the escalations are the same as
when the routing came first (contract v1: the same log gives the same escalations)."""

from __future__ import annotations

from schemas import Escalation
from tests.sla_scenario import Step, accepted, routed, run_in_memory, status, tick

CID = "LPR-RRRRRRRRRRR1"
MON = "2026-03-02T09:15:00+07:00"


def at(day: int, hm: str) -> str:
    return f"2026-03-{day:02d}T{hm}:00+07:00"


# PLN refuses, Kemensos refuses, the complaint is triaged, and the admin gives it back to PLN.
BEFORE = [accepted(CID, MON), routed(CID, "pln", MON),
          status(CID, "not_our_authority", "pln", at(2, "11:00")), routed(CID, "kemensos", at(2, "11:00"), 2),
          status(CID, "not_our_authority", "kemensos", at(2, "12:00")), routed(CID, None, at(2, "12:00"), 3),
          status(CID, "assigned", None, at(2, "13:00"))]
BACK_TO_PLN = routed(CID, "pln", at(2, "13:00"), 4)


def acknowledged(attempt: int | None) -> Step:
    topic, key, value = status(CID, "acknowledged", "pln", at(2, "14:00"))
    return topic, key, {**value, "attempt": attempt} if attempt else value


def escalations(log: list[Step]) -> list[tuple[str, str, str, int, int | None]]:
    return sorted((o.event.agency_id, o.event.clock.value, o.event.kind.value, o.event.level,
                   o.event.attempt)
                  for o in run_in_memory(log, lateness_minutes=0) if isinstance(o.event, Escalation))


def test_a_status_read_before_its_routing_counts_as_if_read_after() -> None:
    end = [tick(at(20, "00:00"))]
    routing_first = escalations(BEFORE + [BACK_TO_PLN, acknowledged(4)] + end)
    status_first = escalations(BEFORE + [acknowledged(4), BACK_TO_PLN] + end)
    assert status_first == routing_first
    # PLN answered within the hour: no first-response moment of attempt 4 fired.
    assert not [e for e in routing_first if e[1] == "first_response" and e[4] == 4]
