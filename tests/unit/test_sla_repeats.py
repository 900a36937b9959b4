"""Each status event once in the SLA monitor (contract addition "Each event once"): a status
whose event_id the complaint has applied already changes nothing, whenever it comes again
(at once, after later statuses, after ticks, while its complaint or routing is awaited). The
router drops repeats first; these tests feed the monitor repeats the judge let through."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import Escalation, Notification, StatusEvent
from tests.sla_scenario import Produced, Step, accepted, routed, run_in_memory, status, tick

CID = "LPR-RRRRRRRRRRR1"
MON = "2026-03-02T09:15:00+07:00"


def at(day: int, hhmm: str = "10:00") -> str:
    return f"2026-03-{day:02d}T{hhmm}:00+07:00"


OPEN = [accepted(CID, MON), routed(CID, "pln", MON)]
ACK = status(CID, "acknowledged", "pln", at(3))
# pln refuses and the router re-routes to kemensos: a late repeat of a pln status is then a
# status of an agency no longer responsible (flagged, were it applied again).
REROUTED = [status(CID, "not_our_authority", "pln", at(6)),
            routed(CID, "kemensos", at(6), attempt=2)]
TICKS = [tick(at(4, "12:00")), tick(at(13, "00:00")), tick("2026-04-30T00:00:00+07:00"),
         tick("2026-06-30T00:00:00+07:00")]

def disposed(cid: str, agency: str, when: str, unit: str | None) -> Step:
    """A `disposed` inside the holder, to `unit` (None: back to its admin)."""
    topic, key, value = status(cid, "disposed", agency, when)
    return topic, key, {**value, "event_id": f"{value['event_id']}-{unit}", "unit_id": unit}


# kind -> (the complaint and statuses before it, the status, statuses after it). Each "after"
# is chosen so that the status applied again there would change something.
CASES: dict[str, tuple[list[Step], Step, list[Step]]] = {
    "acknowledged": (OPEN, ACK, REROUTED),
    "in_progress": (OPEN, status(CID, "in_progress", "pln", at(3)), REROUTED),
    "info_requested": (OPEN + [ACK], status(CID, "info_requested", "pln", at(4)),
                       [status(CID, "info_received", "pln", at(9))]),  # would pause again
    "info_received": (OPEN + [ACK, status(CID, "info_requested", "pln", at(4))],
                      status(CID, "info_received", "pln", at(5)),
                      [status(CID, "info_requested", "pln", at(9))]),  # would resume
    "field_inspection_required": (OPEN + [ACK], status(CID, "field_inspection_required", "pln", at(4)),
                                  REROUTED),
    "responded": (OPEN + [ACK], status(CID, "responded", "pln", at(5)),
                  [status(CID, "reporter_replied", None, at(9))]),  # would restart auto_close
    "resolved": (OPEN + [ACK], status(CID, "resolved", "pln", at(5)), REROUTED),
    "not_our_authority": (OPEN, status(CID, "not_our_authority", "pln", at(3)),
                          [routed(CID, "kemensos", at(3), attempt=2),
                           status(CID, "acknowledged", "kemensos", at(4))]),
    "assigned": ([accepted(CID, MON), routed(CID, None, MON)], status(CID, "assigned", None, at(3)),
                 [routed(CID, "pln", at(3), attempt=2), status(CID, "acknowledged", "pln", at(4))]),
    "reporter_replied": (OPEN + [ACK, status(CID, "responded", "pln", at(5))],
                         status(CID, "reporter_replied", None, at(6)),
                         [status(CID, "responded", "pln", at(9))]),  # would cancel the new auto_close
    "disposed": (OPEN + [ACK], disposed(CID, "pln", at(4), "unit-a"),
                 [disposed(CID, "pln", at(5), "unit-b")]),  # would move it back to unit-a
    "archived": (OPEN + [ACK], status(CID, "archived", "pln", at(5)), []),
    "closed": (OPEN + [ACK], status(CID, "closed", "pln", at(5)), []),
}


def run(log: list[Step]) -> tuple[list[bytes], dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Every output's bytes, the complaint's clocks state at the 13 March tick (later ones
    end a closed complaint's state) and the stage's notes."""
    checkpoint = log.index(TICKS[1]) + 1 if TICKS[1] in log else len(log)
    stores: dict[str, dict[str, Any]] = {}
    notes: list[tuple[str, dict[str, Any]]] = []
    outputs = run_in_memory(log[:checkpoint], stores=stores, notes=notes)
    state = dict(stores["clocks"].get(CID, {}))
    outputs += run_in_memory(log[checkpoint:], stores=stores, notes=notes)
    return [o.event.to_bytes() for o in outputs], state, notes


def kinds(outputs: list[Produced]) -> list[str]:
    return [type(o.event).__name__ for o in outputs]


def test_every_status_kind_has_a_case() -> None:
    from schemas import Status

    assert set(CASES) == {s.value for s in Status}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_status_delivered_again_changes_nothing(kind: str) -> None:
    before, once, after = CASES[kind]
    expected_outputs, expected_state, _ = run(before + [once] + after + TICKS)
    assert expected_outputs and expected_state  # something to compare: escalations, notices...
    variants = {
        "twice at once": before + [once, once] + after + TICKS,
        "again after later statuses": before + [once] + after + [once] + TICKS,
        "again after a tick": before + [once] + after + TICKS[:1] + [once] + TICKS[1:],
        "three times": before + [once, once] + after + [once] + TICKS,
    }
    for name, log in variants.items():
        outputs, state, notes = run(log)
        assert outputs == expected_outputs, name  # escalations, notices, closures, compliance
        assert state == expected_state, name  # every clock, pause, fired level, flag, id
        repeats = [f for event, f in notes if event == "status_repeat_ignored"]
        closed_by_now = kind in ("archived", "closed")  # (a closed complaint ignores every status)
        assert closed_by_now or repeats, name
        assert all(f == {"complaint_id": CID, "event_id": once[2]["event_id"]} for f in repeats)


def test_the_repeats_that_would_do_harm_do_none() -> None:
    # What each repeat would have done, applied again, stated plainly.
    _, paused_twice, _ = CASES["info_requested"]
    outputs = run_in_memory(CASES["info_requested"][0] + [paused_twice]
                            + CASES["info_requested"][2] + [paused_twice] + TICKS)
    told = [o.event.kind.value for o in outputs if isinstance(o.event, Notification)]
    assert told.count("info_requested") == 1  # the reporter is asked once
    follow_up = [e for e in (o.event for o in outputs) if isinstance(e, Escalation)
                 and e.clock.value == "follow_up"]
    assert [e.level for e in follow_up] == [0, 1, 2, 3]  # the clock runs on: it is not paused again

    before, responded, after = CASES["responded"]
    outputs = run_in_memory(before + [responded] + after + [responded] + TICKS)
    assert not [o for o in outputs if isinstance(o.event, StatusEvent)]  # no auto-close restarted
    assert [o.event.kind.value for o in outputs if isinstance(o.event, Notification)] == ["responded"]


def test_a_status_read_twice_before_its_complaint_is_applied_once() -> None:
    asked = status(CID, "info_requested", "pln", at(4))
    once = run([asked] + OPEN + [ACK] + TICKS)
    twice = run([asked, asked] + OPEN + [ACK, ACK] + TICKS)
    assert twice[:2] == once[:2]


def test_a_status_waiting_for_its_routing_twice_is_applied_once() -> None:
    # kemensos's acknowledgement read before the re-route to kemensos, twice.
    ack = status(CID, "acknowledged", "kemensos", at(6, "11:00"))
    head = OPEN + [status(CID, "not_our_authority", "pln", at(6))]
    once = run(head + [ack, routed(CID, "kemensos", at(6), attempt=2)] + TICKS)
    twice = run(head + [ack, ack, routed(CID, "kemensos", at(6), attempt=2), ack] + TICKS)
    assert twice[:2] == once[:2]


def test_another_status_that_changes_nothing_tells_nothing() -> None:
    # A second `responded` (another event id) moves no clock: no second notice either, though
    # its id is new to the complaint's state.
    before, responded, _ = CASES["responded"]
    again = status(CID, "responded", "pln", at(5, "11:00"))
    told = [[o.event.kind.value for o in run_in_memory(log) if isinstance(o.event, Notification)]
            for log in (before + [responded] + TICKS, before + [responded, again] + TICKS)]
    assert told[0] == told[1] == ["responded", "auto_closed"]


def test_the_ids_are_kept_while_open_and_dropped_at_the_close() -> None:
    before, closed, _ = CASES["closed"]
    _, open_state, _ = run(before)
    assert len(open_state["applied"]) == 1 and all(len(k) == 12 for k in open_state["applied"])
    assert ACK[2]["event_id"] not in open_state["applied"]  # digests, not the ids themselves
    _, closed_state, _ = run(before + [closed])
    assert closed_state["closed"] and closed_state["applied"] == []


def test_a_repeated_routing_decision_changes_nothing() -> None:
    # Routing decisions are idempotent by attempt: the same decision again, or an earlier
    # attempt's after a re-route, starts no clock and counts no complaint twice.
    head, tail = OPEN + [ACK], [status(CID, "not_our_authority", "pln", at(4)),
                                routed(CID, "kemensos", at(4), attempt=2)]
    once = run(head + tail + TICKS)
    again = run(OPEN[:1] + [OPEN[1], OPEN[1], ACK] + tail + [tail[1], OPEN[1]] + TICKS)
    assert again[:2] == once[:2]
    assert kinds(run_in_memory(head + tail + TICKS)).count("ComplianceStats") >= 2
