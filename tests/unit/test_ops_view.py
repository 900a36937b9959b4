"""The operations view: what its handler keeps and what the page's queries answer, on the
in-memory runtime (aggregation across partitions, time zones, week and month boundaries,
timeline order, the id check, no identity kept)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.domain.calendar import WorkingCalendar
from tests.ids import make_complaint_id
from services.domain.registry import load_registry
from services.ops_view import queries
from services.ops_view.compose import build
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.topics import (
    ACCEPTED, BRIDGE_DELIVERIES, COMPLIANCE, ESCALATIONS, REJECTED, ROUTED, STATUS, TICKS,
)

CID = make_complaint_id("web", "ops-1")
T = "2026-03-02T09:15:00+07:00"


class View:
    def __init__(self, partitions: int = 2, **settings: Any):
        self.topics = MemoryTopics(partitions)
        self.worker = MemoryWorker(build(Settings(partitions=partitions, **settings)), self.topics)

    def send(self, topic: str, value: dict[str, Any], key: str | None = None,
             partition: int | None = None) -> View:
        self.topics.publish(topic, key.encode() if key else None, json.dumps(value).encode(), partition)
        run_until_idle([self.worker])
        return self

    def tick(self, at: str) -> View:
        for p in range(self.topics.partitions):
            self.send(TICKS, {"as_of": at}, partition=p)
        return self

    @property
    def board(self) -> dict[str, Any]:
        return self.worker.stores["board"]

    @property
    def timelines(self) -> dict[str, Any]:
        return self.worker.stores["timelines"]


def accepted(cid: str = CID, privacy: str = "public") -> dict[str, Any]:
    return {"event_id": f"acc-{cid}", "complaint_id": cid, "submission_id": "ops-1", "channel": "web",
            "submitted_at": T, "accepted_at": T, "body": "Token listrik Siti Aminah 081234567890",
            "title": "Siti Aminah", "privacy": privacy, "type": "complaint", "category": "electricity",
            "sla_tier": "standard_5d", "classification": {},
            "reporter": {"name": "Siti Aminah", "phone": "+6281234567890", "nik": "3273014506900002"}}


def routed(agency: str | None, at: str, attempt: int = 1, cid: str = CID) -> dict[str, Any]:
    return {"event_id": f"r-{cid}-{attempt}", "complaint_id": cid, "agency_id": agency, "role": "primary",
            "rule_id": "keyword" if agency else "triage", "reason": "x" if agency else "triage",
            "attempt": attempt, "routed_at": at}


def status(kind: str, agency: str | None, at: str, cid: str = CID) -> dict[str, Any]:
    return {"event_id": f"s-{cid}-{kind}-{at}", "complaint_id": cid, "status": kind,
            "agency_id": agency, "at": at, "note": "Bapak Budi Santoso sudah kami hubungi"}


def escalation(level: int, fire_at: str, agency: str = "pln", cid: str = CID,
               kind: str = "breach") -> dict[str, Any]:
    return {"escalation_id": f"e-{cid}-{level}-{kind}", "complaint_id": cid, "agency_id": agency,
            "clock": "first_response", "kind": kind, "level": level,
            "target": "national_admin" if level >= 2 else "agency_supervisor", "started_at": T,
            "due_at": fire_at, "fire_at": fire_at, "as_of": fire_at, "attempt": 1}


def compliance(event_id: str, agency: str, day: str, partition: int, received: int, on_time: int,
               late: int, overdue: int = 0, tz: str = "Asia/Jakarta") -> dict[str, Any]:
    return {"event_id": event_id, "agency_id": agency, "day": day, "timezone": tz, "received": received,
            "first_response_on_time": on_time, "first_response_late": late,
            "breaches": {"first_response": late}, "open_overdue_end_of_day": overdue,
            "as_of": f"{day}T17:00:00+00:00", "partition": partition}


def test_partition_reports_sum_to_one_figure_per_agency_and_period() -> None:
    v = View()
    v.send(COMPLIANCE, compliance("c1", "pln", "2026-03-02", 0, 3, 2, 1, overdue=1), key="pln")
    v.send(COMPLIANCE, compliance("c2", "pln", "2026-03-02", 1, 5, 4, 0, overdue=2), key="pln")
    v.send(COMPLIANCE, compliance("c2", "pln", "2026-03-02", 1, 5, 4, 0, overdue=2), key="pln")  # repeat
    v.send(COMPLIANCE, compliance("c3", "pln", "2026-03-02", 0, 1, 0, 1, overdue=1), key="pln")  # late delta
    [day] = queries.compliance(v.board, "day")
    assert (day["agency_id"], day["period"], day["received"], day["on_time"], day["late"]) == (
        "pln", "2026-03-02", 9, 6, 2)
    assert day["on_time_share"] == 0.75 and day["breaches_by_clock"] == {"first_response": 2}
    assert day["open_overdue_now"] == 3  # the latest report of each partition: 1 + 2


def test_weeks_start_on_monday_and_months_on_the_first_local_day() -> None:
    v = View()
    for n, day in enumerate(["2026-02-28", "2026-03-01", "2026-03-02"]):  # Sat, Sun, Mon
        v.send(COMPLIANCE, compliance(f"c{n}", "pemda-94-71", day, 0, 1, 1, 0, tz="Asia/Jayapura"),
               key="pemda-94-71")
    weeks = {r["period"]: r["received"] for r in queries.compliance(v.board, "week")}
    months = {r["period"]: r["received"] for r in queries.compliance(v.board, "month")}
    assert weeks == {"2026-W09": 2, "2026-W10": 1} and months == {"2026-02": 1, "2026-03": 2}


def test_breaches_by_level_fall_on_the_agencys_local_day() -> None:
    v = View()
    # 16:30 UTC on 5 March: still the 5th in WIB (23:30), already the 6th in WIT (01:30).
    v.send(ESCALATIONS, escalation(1, "2026-03-05T16:30:00+00:00", agency="pln"), key=CID)
    other = make_complaint_id("web", "ops-2")
    v.send(ESCALATIONS, escalation(2, "2026-03-05T16:30:00+00:00", agency="pemda-91-71", cid=other), key=other)
    days = {(r["agency_id"], r["period"]): r["breaches_by_level"] for r in queries.compliance(v.board)}
    assert days == {("pln", "2026-03-05"): {"1": 1}, ("pemda-91-71", "2026-03-06"): {"2": 1}}


def test_a_timeline_lists_events_in_time_order_and_keeps_no_identity() -> None:
    v = View()
    v.send(ROUTED, routed("pln", T), key=CID)  # read before the acceptance of the same time
    v.send(ACCEPTED, accepted(privacy="anonymous"), key=CID)
    v.send(STATUS, status("acknowledged", "pln", "2026-03-02T11:00:00+07:00"), key=CID)
    v.send(ESCALATIONS, escalation(1, "2026-03-06T00:00:00+07:00", kind="warning"), key=CID)
    v.send(ROUTED, routed("pln", T), key=CID)  # a repeat
    line = queries.timeline(v.timelines, CID.lower().replace("-", " "), load_registry())
    assert [(e["kind"], e["at"][:16]) for e in line["events"]] == [
        ("accepted", "2026-03-02T09:15"), ("routed", "2026-03-02T09:15"),
        ("status", "2026-03-02T11:00"), ("escalation", "2026-03-06T00:00")]
    assert line["events"][1]["agency_name"] == "PT PLN (Persero)"
    assert line["events"][3]["escalation_kind"] == "warning" and line["facts"]["privacy"] == "anonymous"
    kept = json.dumps([v.board, v.timelines])
    for identity in ("Siti", "Aminah", "081234567890", "+6281234567890", "3273014506900002", "Budi"):
        assert identity not in kept


def test_a_mistyped_tracking_id_gets_a_clear_answer() -> None:
    v = View().send(ACCEPTED, accepted(), key=CID)
    swapped = CID[:-2] + CID[-1] + CID[-2]
    with pytest.raises(queries.TimelineError, match="check character"):
        queries.timeline(v.timelines, swapped)
    with pytest.raises(queries.TimelineError, match="not a valid tracking number"):
        queries.timeline(v.timelines, "LPR-123")
    with pytest.raises(queries.TimelineError, match="no such complaint"):
        queries.timeline(v.timelines, make_complaint_id("web", "never"))
    assert queries.timeline(v.timelines, CID.replace("0", "O"))["complaint_id"] == CID


def test_the_triage_queue_is_oldest_first_with_working_day_ages_and_ping_pong() -> None:
    v = View()
    late = make_complaint_id("web", "ops-3")
    v.send(ROUTED, routed(None, "2026-03-03T10:00:00+07:00", cid=late), key=late)
    v.send(ROUTED, routed("kpk", T), key=CID)
    v.send(ROUTED, routed("kemendes", "2026-03-02T12:00:00+07:00", attempt=2), key=CID)
    v.send(ROUTED, routed(None, "2026-03-02T13:00:00+07:00", attempt=3), key=CID)
    v.tick("2026-03-09T08:00:00+07:00")  # Monday: 2 March -> 5 working days, 3 March -> 4
    queue = queries.triage_queue(v.board, v.timelines, WorkingCalendar())
    assert [(q["complaint_id"], q["age_working_days"], q["held_by"]) for q in queue] == [
        (CID, 5, ["kpk", "kemendes"]), (late, 4, [])]
    v.send(ROUTED, routed("pln", "2026-03-09T09:00:00+07:00", attempt=4), key=CID)  # assigned
    assert [q["complaint_id"] for q in queries.triage_queue(v.board, v.timelines, WorkingCalendar())] == [late]


def test_dead_letters_by_reason_and_source_without_their_bytes() -> None:
    v = View().send(ACCEPTED, accepted(), key=CID)
    for n, (reason, source) in enumerate([("invalid_json", "complaints.submitted.v1"),
                                          ("invalid_json", "complaints.submitted.v1"),
                                          ("not_the_holder", "complaints.status.v1")]):
        key = CID if source == "complaints.status.v1" else f"sub-{n}"
        v.send(REJECTED, {"event_id": f"d{n}", "source_topic": source, "source_partition": 0,
                          "source_offset": n, "received_at": f"2026-03-0{n + 2}T00:00:00+07:00",
                          "reason": reason, "errors": [{"loc": "$", "msg": "Expecting value"}],
                          "raw": '{"reporter": {"name": "Siti Aminah"}'}, key=key)
    dead = queries.dead_letters(v.board)
    assert dead["counts"][0] == {"reason": "invalid_json", "source_topic": "complaints.submitted.v1", "count": 2}
    assert [d["event_id"] for d in dead["latest"]] == ["d2", "d1", "d0"]
    assert "Siti" not in json.dumps(v.board)
    # A known complaint's dead letter is a step of its timeline (one for an unknown id is not:
    # tests/unit/test_view_repeats.py).
    assert [e["kind"] for e in queries.timeline(v.timelines, CID)["events"]] == ["accepted", "dead_letter"]


def test_live_escalations_newest_first_with_filters() -> None:
    v = View()
    v.send(ESCALATIONS, escalation(1, "2026-03-06T00:00:00+07:00"), key=CID)
    v.send(ESCALATIONS, escalation(2, "2026-03-11T00:00:00+07:00"), key=CID)
    v.send(ESCALATIONS, escalation(2, "2026-03-11T00:00:00+07:00"), key=CID)  # a repeat
    assert [e["level"] for e in queries.escalations(v.board)] == [2, 1]
    assert [e["level"] for e in queries.escalations(v.board, level=1)] == [1]
    assert queries.escalations(v.board, agency="kpk") == []


def test_a_closed_complaints_timeline_ends_after_its_days() -> None:
    v = View(ops_timeline_days=3)
    v.send(ACCEPTED, accepted(), key=CID).send(STATUS, status("closed", "pln", "2026-03-02T10:00:00+07:00"), key=CID)
    v.tick("2026-03-04T12:00:00+07:00")
    assert CID in v.timelines
    v.tick("2026-03-06T12:00:00+07:00")
    assert CID not in v.timelines


def test_the_bridge_rows_show_the_latest_report_per_agency_longest_waiting_first() -> None:
    def report(agency: str, as_of: str, pending: int, oldest: float, **more: Any) -> dict[str, Any]:
        return {"agency_id": agency, "mode": "webhook", "as_of": as_of, "started_at": T,
                "pending": pending, "oldest_undelivered_s": oldest, "retrying": oldest > 0,
                "delivered": 5, "refused": 0, "failed_tries": 0, "statuses_in": 1, **more}

    view = View(partitions=1)
    view.send(BRIDGE_DELIVERIES, report("pln", "2026-03-02T10:00:05+07:00", 3, 40.0), key="pln")
    view.send(BRIDGE_DELIVERIES, report("kemensos", "2026-03-02T10:00:05+07:00", 0, 0.0), key="kemensos")
    view.send(BRIDGE_DELIVERIES, report("bpjs-kesehatan", "2026-03-02T10:00:05+07:00", 1, 2.5),
              key="bpjs-kesehatan")
    # PLN's endpoint came back; then an older report of it is read late (a replay): ignored.
    view.send(BRIDGE_DELIVERIES, report("pln", "2026-03-02T10:00:10+07:00", 0, 0.0, delivered=8), key="pln")
    view.send(BRIDGE_DELIVERIES, report("pln", "2026-03-02T10:00:00+07:00", 9, 99.0), key="pln")
    rows = queries.bridge(view.board)
    assert [(r["agency_id"], r["pending"], r["retrying"], r["delivered"]) for r in rows] == [
        ("bpjs-kesehatan", 1, True, 5), ("kemensos", 0, False, 5), ("pln", 0, False, 8)]


def test_a_disposition_on_the_timeline_names_its_unit() -> None:
    v = View()
    v.send(ACCEPTED, accepted(), key=CID)
    v.send(STATUS, {**status("disposed", "pln", "2026-03-02T11:00:00+07:00"), "unit_id": "up3-bandung",
                    "unit_name": "PLN UP3 Bandung"}, key=CID)
    v.send(STATUS, status("disposed", "pln", "2026-03-02T12:00:00+07:00"), key=CID)
    line = queries.timeline(v.timelines, CID, load_registry())
    assert [e.get("disposition_text") for e in line["events"] if e["kind"] == "status"] == [
        "Didisposisikan ke PLN UP3 Bandung", "Dikembalikan ke admin instansi"]
    assert "Budi" not in json.dumps(v.timelines)  # the note stays out, as ever


def unit_share(event_id: str, unit: str, day: str, partition: int, received: int, breaches: int,
               overdue: int, agency: str = "pemda-32-73") -> dict[str, Any]:
    return {**compliance(event_id, agency, day, partition, received, 0, 0, overdue),
            "breaches": {"unit_response": breaches} if breaches else {}, "unit_id": unit}


def test_late_units_are_listed_by_agency_with_their_names_and_kept_apart_from_the_agency() -> None:
    v = View()
    bdg = "pemda-32-73"
    v.send(COMPLIANCE, compliance("a1", bdg, "2026-03-03", 0, 2, 2, 0), key=bdg)
    v.send(COMPLIANCE, unit_share("u1", "dinas-pupr", "2026-03-03", 0, 2, 0, 0), key=bdg)
    v.send(COMPLIANCE, unit_share("u2", "dinas-pupr", "2026-03-07", 1, 0, 1, 1), key=bdg)
    v.send(COMPLIANCE, unit_share("u2", "dinas-pupr", "2026-03-07", 1, 0, 1, 1), key=bdg)  # repeat
    v.send(COMPLIANCE, unit_share("u3", "dinas-kesehatan", "2026-03-03", 0, 1, 0, 0), key=bdg)  # on time
    v.send(COMPLIANCE, unit_share("u4", "kec-32-73-02", "2026-03-02", 0, 1, 0, 2), key=bdg)
    v.send(ACCEPTED, accepted(), key=CID)
    v.send(STATUS, {**status("disposed", bdg, "2026-03-03T10:00:00+07:00"), "unit_id": "dinas-pupr",
                    "unit_name": "Dinas PUPR Kota Bandung (baru)"}, key=CID)
    # The agency's own row is the agency's alone: no unit's share in it.
    [agency_row] = queries.compliance(v.board, "month")
    assert (agency_row["agency_id"], agency_row["received"], agency_row["open_overdue_now"]) == (bdg, 2, 0)
    late = [(r["unit_id"], r["unit_name"], r["period"], r["received"], r["breaches"], r["open_overdue_now"])
            for r in queries.late_units(v.board, "month")]
    assert late == [("kec-32-73-02", None, "2026-03", 1, 0, 2),
                    ("dinas-pupr", "Dinas PUPR Kota Bandung (baru)", "2026-03", 2, 1, 1)]


async def test_the_page_names_late_units_from_statuses_or_their_starting_set() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from services.ops_view.web import OpsSite

    v = View()
    bdg = "pemda-32-73"
    v.send(COMPLIANCE, unit_share("u1", "kec-32-73-02", "2026-03-02", 0, 1, 1, 1), key=bdg)
    site = OpsSite(v.worker.stores, load_registry(), WorkingCalendar())
    async with TestClient(TestServer(site.app())) as client:
        rows = await (await client.get("/api/units?period=day")).json()
        assert [(r["agency_name"], r["unit_name"], r["breaches"]) for r in rows] == [
            ("Pemerintah Kota Bandung", "Kecamatan Coblong", 1)]
        assert (await client.get("/api/units?period=year")).status == 400


def test_an_internal_lapse_is_no_level_of_the_agencys_ladder() -> None:
    v = View()
    lapse = {**escalation(1, "2026-03-07T00:00:00+07:00", agency="pemda-32-73"), "clock": "unit_response",
             "target": "agency_admin", "unit_id": "dinas-pupr", "escalation_id": "e-unit"}
    v.send(ESCALATIONS, lapse, key=CID)
    v.send(ESCALATIONS, escalation(1, "2026-03-07T00:00:00+07:00", agency="pemda-32-73"), key=CID)
    [row] = queries.compliance(v.board)
    assert row["breaches_by_level"] == {"1": 1}
