"""The SLA monitor's processing on the in-memory double (dict stores)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ComplianceStats, Escalation, EscalationTarget, RejectedEvent, StatusEvent
from services.domain.calendar import WorkingCalendar
from services.runtime.settings import Settings
from services.sla_monitor.clocks import INTERNAL
from services.sla_monitor.due_index import DUE_CHUNK
from tests.sla_scenario import (
    LIFE, LIFE_CLOSED_AT, LIFE_ESCALATIONS, LIFE_LOG, REROUTE_ESCALATIONS, REROUTE_LOG,
    accepted, routed, run_in_memory, status, tick,
)


def escalations(outputs: list) -> list[Escalation]:  # type: ignore[type-arg]
    """The contract clocks' escalations. An agency with units (#34) also has its admin's
    internal clocks, escalated to `agency_admin`: those are tests/unit/test_sla_units.py's."""
    return [o.event for o in outputs if isinstance(o.event, Escalation)
            and o.event.target is not EscalationTarget.agency_admin]


def test_a_complaints_whole_life() -> None:
    outputs = run_in_memory(LIFE_LOG, lateness_minutes=0)  # its ticks are at the moments themselves
    got = [(e.clock.value, e.kind.value, e.level, e.due_at.isoformat(), e.fire_at.isoformat())
           for e in escalations(outputs)]
    assert got == LIFE_ESCALATIONS
    first = escalations(outputs)[0]
    # Pinned: the id is what consumers deduplicate by, so it must never change between
    # versions (sha of complaint, agency, clock, kind, level, attempt).
    assert first.escalation_id == "escalation-d642c7c516b1ffb109252eb2"
    assert first.target.value == "agency" and escalations(outputs)[1].target.value == "agency_supervisor"
    assert first.as_of.isoformat() == "2026-03-05T00:00:00+07:00"
    closed = [o for o in outputs if isinstance(o.event, StatusEvent)]
    assert [(o.topic, o.event.complaint_id, o.event.status.value, o.event.at.isoformat(),
             o.event.agency_id) for o in closed if isinstance(o.event, StatusEvent)] == [
        ("sla.closures.v1", LIFE, "closed", LIFE_CLOSED_AT, None)]  # to the gate, not to statuses


def test_compliance_statistics_per_agency_day() -> None:
    outputs = run_in_memory(LIFE_LOG)
    stats = {(s.agency_id, s.day.isoformat()): s for s in (o.event for o in outputs)
             if isinstance(s, ComplianceStats)}
    received = stats[("pln", "2026-03-02")]
    assert received.received == 1 and received.timezone == "Asia/Jakarta"
    late_day = stats[("pln", "2026-03-06")]
    contract_breaches = {k: n for k, n in late_day.breaches.items() if k not in INTERNAL}
    assert late_day.first_response_late == 1 and contract_breaches == {"first_response": 1}
    assert late_day.open_overdue_end_of_day == 0  # the late acknowledgement stopped the clock


def test_a_reroute_starts_new_clocks_and_stops_the_old() -> None:
    got = [(e.agency_id, e.clock.value, e.kind.value, e.level, e.attempt, e.fire_at.isoformat())
           for e in escalations(run_in_memory(REROUTE_LOG, lateness_minutes=0))]
    assert got == REROUTE_ESCALATIONS


def test_stopping_before_a_moment_means_nothing_is_emitted() -> None:
    log = LIFE_LOG[:2] + [
        ("complaints.status.v1", LIFE, {"event_id": "s", "complaint_id": LIFE, "status": "resolved",
                                        "agency_id": "pln", "at": "2026-03-03T10:00:00+07:00"}),
        tick("2026-06-01T00:00:00+07:00"),
    ]
    assert escalations(run_in_memory(log)) == []


def test_replaying_the_log_gives_identical_output() -> None:
    first = [o.event.to_bytes() for o in run_in_memory(LIFE_LOG + REROUTE_LOG)]
    second = [o.event.to_bytes() for o in run_in_memory(LIFE_LOG + REROUTE_LOG)]
    assert first == second and first


def test_one_batch_gives_what_one_record_at_a_time_gives() -> None:
    # A batch stages its writes and later records read through them: the whole log handled
    # as one batch (on two partitions) emits exactly what record-by-record handling emits.
    log = LIFE_LOG + REROUTE_LOG
    single = [o.event.to_bytes() for o in run_in_memory(log, partitions=2)]
    batched = [o.event.to_bytes() for o in run_in_memory(log, partitions=2, one_batch=True)]
    assert sorted(batched) == sorted(single)
    got = [(e.clock.value, e.kind.value, e.level, e.due_at.isoformat(), e.fire_at.isoformat())
           for e in escalations(run_in_memory(log, partitions=2, one_batch=True))
           if e.complaint_id == LIFE]
    assert got == LIFE_ESCALATIONS


def test_repeated_ticks_and_events_emit_nothing_new() -> None:
    once = run_in_memory(LIFE_LOG)
    twice = run_in_memory([step for step in LIFE_LOG for _ in (0, 1)])
    assert [o.event.to_bytes() for o in once] == [o.event.to_bytes() for o in twice]


def test_a_late_tick_fires_every_level_once() -> None:
    log = LIFE_LOG[:2] + [tick("2026-06-01T00:00:00+07:00"), tick("2026-06-02T00:00:00+07:00")]
    got = [(e.clock.value, e.level) for e in escalations(run_in_memory(log))]
    assert got == [("first_response", 0), ("first_response", 1), ("first_response", 2),
                   ("first_response", 3), ("follow_up", 0), ("follow_up", 1), ("follow_up", 2),
                   ("follow_up", 3)]


def test_a_moment_already_past_the_watermark_fires_at_the_next_tick() -> None:
    log = [tick("2026-03-20T00:00:00+07:00")] + REROUTE_LOG[:2] + [tick("2026-03-20T01:00:00+07:00")]
    got = [(e.agency_id, e.clock.value, e.level) for e in escalations(run_in_memory(log))]
    # first_response (3 days from 2 March): 5, 6 and 11 March are past; level 3 (27 March) and
    # the 14-day resolution warning (27 March) are not yet.
    assert got == [("kpk", "first_response", 0), ("kpk", "first_response", 1),
                   ("kpk", "first_response", 2)]


def test_routed_and_status_read_before_their_complaint_wait_for_it() -> None:
    acc, rte, *rest = LIFE_LOG
    in_order = run_in_memory(LIFE_LOG)
    out_of_order = run_in_memory([rest[3], rte, acc] + [s for s in rest if s is not rest[3]])
    assert rest[3][0] == "complaints.status.v1"  # the late acknowledgement, read first
    # Event time decides, not reading order: the same escalations, the same ids.
    assert [e.escalation_id for e in escalations(out_of_order)] == [
        e.escalation_id for e in escalations(in_order)]


def test_a_crowded_due_bucket_is_chunked_and_fires_each_complaint_once() -> None:
    # Deadlines fall at 00:00, so every complaint accepted the same day shares one bucket.
    ids = [f"LPR-{i:012d}" for i in range(2 * DUE_CHUNK + 50)]
    log: list = [step for cid in ids for step in (  # type: ignore[type-arg]
        accepted(cid, "2026-03-02T09:00:00+07:00"), routed(cid, "pln", "2026-03-02T09:00:00+07:00"),
        routed(cid, "pln", "2026-03-02T09:00:00+07:00"))]  # a redelivered decision: no second listing
    stores: dict[str, dict[str, Any]] = {}
    run_in_memory([tick("2026-03-01T00:00:00+07:00"), *log], stores=stores, lateness_minutes=0)
    chunks = {k: v for k, v in stores["due"].items() if "#" in k}
    assert sorted(len(v) for v in chunks.values()) == [50, DUE_CHUNK, DUE_CHUNK]
    assert sorted(cid for v in chunks.values() for cid in v) == ids

    outputs = run_in_memory([tick("2026-03-05T00:00:00+07:00"), tick("2026-03-06T00:00:00+07:00"),
                             tick("2026-03-06T00:00:00+07:00")], stores=stores, lateness_minutes=0)
    fired = [(e.complaint_id, e.kind.value) for e in escalations(outputs)]
    assert sorted(fired) == sorted((cid, kind) for cid in ids for kind in ("warning", "breach"))
    # What is left is each complaint listed once, under its next moment's bucket.
    left = [cid for k, v in stores["due"].items() if "#" in k for cid in v]
    assert sorted(left) == ids
    assert all(len(v) <= DUE_CHUNK for k, v in stores["due"].items() if "#" in k)


def test_a_closed_complaint_is_deleted_after_its_grace_period() -> None:
    stores: dict[str, dict[str, Any]] = {}
    run_in_memory(LIFE_LOG, stores=stores, lateness_minutes=0)  # ends auto-closed: no clock left running
    assert stores["clocks"][LIFE]["closed_at"] == LIFE_CLOSED_AT
    # Listed once more, for the end of its state: 10 working days after the close. (The
    # kemensos status still waits for a routing to kemensos: no routed decision of a later
    # hour is read after it here; see test_sla_waiting_statuses.)
    due = {k: v for k, v in stores["due"].items() if not k.startswith("awaiting@")}
    assert [cid for k, v in due.items() if "#" in k for cid in v] == [LIFE]
    purge_at = WorkingCalendar().deadline(datetime.fromisoformat(LIFE_CLOSED_AT), 10, "Asia/Jakarta")
    late = status(LIFE, "responded", "pln", "2026-04-06T10:00:00+07:00")
    before = run_in_memory([late, tick((purge_at - timedelta(hours=1)).isoformat())], stores=stores,
                           lateness_minutes=0)
    assert LIFE in stores["clocks"] and escalations(before) == []  # still closed, still known
    run_in_memory([tick(purge_at.isoformat())], stores=stores, lateness_minutes=0)
    assert LIFE not in stores["clocks"] and all(k.startswith("awaiting@") for k in stores["due"])


START = datetime(2026, 3, 2, tzinfo=timezone(timedelta(hours=7)))  # Monday 00:00 WIB
complaint_plans = st.lists(st.tuples(
    st.integers(0, 21 * 24 * 60),                                   # accepted, minutes after START
    st.sampled_from(["standard_5d", "dispute_14d", "field_60d"]),
    st.sampled_from(["pln", "pemda-51-71", "pemda-94-01"]),          # WIB, WITA, WIT
    st.one_of(st.none(), st.integers(0, 30 * 24 * 60)),              # acknowledged, minutes later
    st.one_of(st.none(), st.tuples(st.integers(0, 20 * 24 * 60),     # then info requested and,
                                   st.integers(0, 10 * 24 * 60))),   # later, received (a pause)
), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(complaint_plans, st.lists(st.integers(0, 100 * 24), min_size=1, max_size=15))
def test_what_fires_does_not_depend_on_how_often_ticks_come(plans, tick_hours) -> None:  # type: ignore[no-untyped-def]
    """Events first, then ticks: one final tick and any sequence of ticks ending at it emit
    the same escalation ids (the due index loses nothing and fires nothing twice). Chunks of
    3 ids make the index's chunk boundaries part of every example."""
    events: list = []  # type: ignore[type-arg]
    for i, (accepted_min, tier, agency, ack_after, pause) in enumerate(plans):
        cid, at = f"LPR-{i:012d}", START + timedelta(minutes=accepted_min)
        events += [accepted(cid, at.isoformat(), tier=tier), routed(cid, agency, at.isoformat())]
        if ack_after is None:
            continue
        at += timedelta(minutes=ack_after)
        events.append(status(cid, "acknowledged", agency, at.isoformat()))
        if pause is not None:
            asked, received = at + timedelta(minutes=pause[0]), at + timedelta(minutes=sum(pause))
            events += [status(cid, "info_requested", agency, asked.isoformat()),
                       status(cid, "info_received", agency, received.isoformat())]
    ticks = [tick((START + timedelta(hours=h)).isoformat()) for h in sorted(set(tick_hours))]
    with patch("services.sla_monitor.due_index.DUE_CHUNK", 3):
        many = escalations(run_in_memory(events + ticks))
        once = escalations(run_in_memory(events + ticks[-1:]))
    ids = [e.escalation_id for e in many]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(e.escalation_id for e in once)


def test_an_acknowledgement_read_before_the_ticks_still_owes_the_breach_before_it() -> None:
    # Accepted Monday 00:00, acknowledged Friday 00:01 (after the 00:00 breach), but read
    # before the Thursday and Friday ticks: both moments fire, as with the Friday tick alone.
    cid, at = "LPR-000000000001", "2026-03-02T00:00:00+07:00"
    log = [accepted(cid, at), routed(cid, "pln", at),
           status(cid, "acknowledged", "pln", "2026-03-06T00:01:00+07:00"),
           tick("2026-03-05T00:00:00+07:00"), tick("2026-03-06T00:00:00+07:00")]
    got = [(e.kind.value, e.level, e.fire_at.isoformat())
           for e in escalations(run_in_memory(log, lateness_minutes=0))]  # (ticks at the moments)
    assert got == [("warning", 0, "2026-03-05T00:00:00+07:00"), ("breach", 1, "2026-03-06T00:00:00+07:00")]


def test_events_whose_complaint_never_comes_are_dead_lettered_after_the_bound() -> None:
    # A routing decision and a status for a complaint never accepted wait until this
    # partition has read accepted complaints written 24 hours after them; ticks, however far
    # ahead (they say what was published, not what was read), do not end the wait.
    from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
    from services.sla_monitor.compose import build as build_sla

    cid, t0 = "LPR-NEVERCAME001", 1_772_413_200.0  # 2026-03-02 09:00 WIB
    topics = MemoryTopics(partitions=1)
    worker = MemoryWorker(build_sla(Settings(partitions=1)), topics)

    def publish(step: Any, hours: float) -> list[RejectedEvent]:
        topic, key, value = step
        topics.publish(topic, key.encode() if key else None, json.dumps(value).encode(),
                       partition=0, timestamp=t0 + hours * 3600)
        run_until_idle([worker])
        return [RejectedEvent.model_validate_json(r.value or b"") for r in topics.read("complaints.rejected.v1")]

    publish(routed(cid, "pln", "2026-03-02T09:00:00+07:00"), 0)
    publish(status(cid, "acknowledged", "pln", "2026-03-02T10:00:00+07:00"), 1)
    assert publish(accepted("LPR-ANTHER000001", "2026-03-02T18:00:00+07:00"), 10) == []
    assert publish(tick("2026-03-20T00:00:00+07:00"), 11) == []
    assert f"pending:{cid}" in worker.stores["clocks"]
    letters = publish(accepted("LPR-ANTHER000002", "2026-03-03T12:00:00+07:00"), 27)
    assert [(l.reason, l.source_topic, l.source_offset, l.source_key) for l in letters] == [
        ("complaint_never_accepted", "complaints.routed.v1", 0, cid),
        ("complaint_never_accepted", "complaints.status.v1", 0, cid)]
    assert f"pending:{cid}" not in worker.stores["clocks"]
    assert not [k for k in worker.stores["due"] if k.startswith("pending@")]


def test_events_whose_complaint_comes_in_time_are_applied_not_dead_lettered() -> None:
    acc, rte, *rest = LIFE_LOG
    outputs = run_in_memory([rte, tick("2026-03-02T12:00:00+07:00"), acc, *rest])
    assert not [o for o in outputs if isinstance(o.event, RejectedEvent)]
    assert [e.escalation_id for e in escalations(outputs)] == [
        e.escalation_id for e in escalations(run_in_memory(LIFE_LOG))]


def test_a_tick_years_ahead_visits_only_the_listed_buckets() -> None:
    # A hostile (or mistaken) tick in year 9999 must not walk every hour from now to then.
    from services.runtime.expiry import _listed_days
    from services.runtime.stage import StagedStores
    from services.sla_monitor.compose import build_processor
    from services.sla_monitor.processor import Result

    processor = build_processor(Settings())
    stores = StagedStores({"due": {"0:500000": 1, "0:500000#0": ["x"], "0:700000": 1, "1:600000": 1},
                           "clocks": {}, "marks": {}, "stats": {}, "overdue": {}, "h": {}})
    res = Result(stores, processor.rules_for(stores, 0, datetime(2026, 1, 1, tzinfo=timezone.utc)))
    assert processor._buckets(res, 0, 400_000, 70_000_000) == [500000, 700000]
    assert processor._buckets(res, 0, 400_000, 400_010) == list(range(400_000, 400_011))
    stores.put("h", "expiry:0:20000", 1)
    assert _listed_days(stores, "h", 0, 19_000, 2_900_000) == [20000]
    out = run_in_memory(LIFE_LOG[:2] + [tick("2026-03-03T00:00:00+07:00"), tick("9999-12-30T00:00:00+00:00")])
    assert sorted((e.clock.value, e.level) for e in escalations(out)) == sorted(
        (clock, level) for clock in ("first_response", "follow_up") for level in range(4))
