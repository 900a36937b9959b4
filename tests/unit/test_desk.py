"""The desk's pure parts: what an agency sees (its queue, its clocks in working days, never
another agency's complaint), what it may do, and who a provider's groups make a user."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas import AgencyComplaint, Escalation, Status, StatusEvent, Tick
from services.desk.actions import ActionRefused, available, status_from_form
from services.desk.pages import complaint_page, queue_page
from services.desk.view import DeskView, apply_record
from services.domain.calendar import WorkingCalendar
from services.domain.registry import load_registry
from services.domain.sla_policy import load_policy
from services.domain.staff_roles import roles_from_groups
from services.runtime.topics import ESCALATIONS, STATUS, TICKS, agency_topic_name

MON = datetime.fromisoformat("2026-10-05T09:15:00+07:00")  # a Monday, no holiday for weeks
A, B, C = "LPR-7K2QX9M4TD5B", "LPR-83TMCEDBBQ9T", "LPR-ZC6BZMKHSC6Z"  # check characters right
FORM = {"form_id": "f" * 24}


def view() -> DeskView:
    return DeskView(load_registry(), WorkingCalendar(), load_policy(None), closed_days=30)


def delivered(cid: str, agency: str, *, role: str = "primary", attempt: int = 1, tier: str = "dispute_14d",
              routed_at: datetime = MON, **more: Any) -> AgencyComplaint:
    deadlines = {"first_response": (routed_at.replace(hour=0, minute=0) + timedelta(days=4)).isoformat(),
                 "resolution": (routed_at.replace(hour=0, minute=0) + timedelta(days=18)).isoformat()}
    return AgencyComplaint.model_validate({
        "submission_id": f"s-{cid}", "channel": "web", "submitted_at": MON.isoformat(),
        "body": f"isi aduan {cid}", "title": f"judul {cid}", "event_id": f"d-{cid}-{agency}-{attempt}",
        "complaint_id": cid, "accepted_at": MON.isoformat(), "type": "complaint", "category": "other",
        "sla_tier": tier, "agency_id": agency, "deadlines": deadlines,
        "routing": {"role": role, "rule_id": "test", "routed_at": routed_at.isoformat(), "attempt": attempt},
        **more})


def status(cid: str, s: str, agency: str | None, at: datetime, **more: Any) -> StatusEvent:
    return StatusEvent.model_validate({"event_id": f"e-{cid}-{s}-{agency}-{at.isoformat()}", "complaint_id": cid,
                                       "status": s, "agency_id": agency, "at": at.isoformat(), **more})


def clock(v: DeskView, cid: str, agency: str, name: str) -> Any:
    facts, _ = v.holding(agency, cid) or (None, None)
    assert facts is not None
    return next(c for c in v.clocks(facts, agency) if c.name == name)


def test_an_agency_sees_only_what_was_delivered_to_it() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.delivered(delivered(B, "bpjs-kesehatan"))
    v.delivered(delivered(C, "kemensos", role="copy"))
    assert [r.complaint_id for r in v.queue("pln")] == [A]
    assert v.holding("pln", B) is None and v.holding("pln", C) is None
    assert v.holding("bpjs-kesehatan", A) is None
    assert [(r.complaint_id, r.role, r.clocks) for r in v.queue("kemensos")] == [(C, "copy", [])]


def test_the_queue_puts_the_nearest_deadline_first_and_copies_last() -> None:
    v = view()
    v.delivered(delivered(A, "pln", routed_at=MON + timedelta(days=1)))
    v.delivered(delivered(B, "pln", routed_at=MON))
    v.delivered(delivered(C, "pln", role="copy", routed_at=MON - timedelta(days=1)))
    assert [r.complaint_id for r in v.queue("pln")] == [B, A, C]


def test_clocks_count_working_days_and_stop_at_the_agencys_own_status() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.tick(MON + timedelta(hours=1))
    first = clock(v, A, "pln", "first_response")
    assert (first.state, first.days_left) == ("running", 3)  # Tue, Wed, Thu after Monday
    v.status(status(A, "acknowledged", "pln", MON + timedelta(hours=2)))
    assert clock(v, A, "pln", "first_response").state == "stopped"
    assert clock(v, A, "pln", "resolution").state == "running"


def test_another_agencys_status_stops_nothing() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.status(status(A, "acknowledged", "kemensos", MON + timedelta(hours=2)))
    assert clock(v, A, "pln", "first_response").state == "running"


def test_a_status_read_before_its_delivery_still_counts() -> None:
    # Topics arrive in no particular order relative to each other.
    v = view()
    v.status(status(A, "acknowledged", "pln", MON + timedelta(hours=2)))
    v.delivered(delivered(A, "pln"))
    assert clock(v, A, "pln", "first_response").state == "stopped"


def test_a_pause_moves_the_deadline_by_its_working_days_and_breaches_follow_the_ticks() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    due = clock(v, A, "pln", "resolution").due_at
    v.status(status(A, "info_requested", "pln", MON + timedelta(hours=1)))
    assert clock(v, A, "pln", "resolution").state == "paused"
    # Asked Monday, answered Thursday: (Mon, Thu] holds 3 working days.
    v.status(status(A, "info_received", "pln", MON + timedelta(days=3)))
    moved = clock(v, A, "pln", "resolution")
    assert moved.state == "running" and moved.due_at is not None and due is not None
    assert WorkingCalendar().working_days_between(due.date(), moved.due_at.date()) == 3
    v.tick(moved.due_at + timedelta(hours=1))
    late = clock(v, A, "pln", "resolution")
    assert late.state == "breached" and late.days_left is not None and late.days_left < 0


def test_a_field_inspection_gives_the_resolution_its_longer_limit() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    before = clock(v, A, "pln", "resolution").due_at
    v.status(status(A, "field_inspection_required", "pln", MON + timedelta(hours=1)))
    after = clock(v, A, "pln", "resolution").due_at
    assert after is not None and before is not None
    assert WorkingCalendar().working_days_between(before.date(), after.date()) == 60 - 14


def test_breach_levels_are_the_monitors_escalations_for_this_agency() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    for level, agency in ((1, "pln"), (2, "pln"), (3, "kemensos")):
        v.escalation(Escalation.model_validate({
            "escalation_id": f"x{level}", "complaint_id": A, "agency_id": agency, "clock": "first_response",
            "kind": "breach", "level": level, "target": "agency_supervisor", "started_at": MON.isoformat(),
            "due_at": MON.isoformat(), "fire_at": MON.isoformat(), "as_of": MON.isoformat(), "attempt": 1}))
    assert (clock(v, A, "pln", "first_response").state, clock(v, A, "pln", "first_response").level) == ("breached", 2)


def test_a_complaint_passed_on_or_finished_leaves_the_queue() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.delivered(delivered(B, "pln"))
    v.status(status(A, "not_our_authority", "pln", MON + timedelta(hours=1), target_agency_id="kemensos"))
    v.delivered(delivered(A, "kemensos", attempt=2, routed_at=MON + timedelta(hours=2)))
    v.status(status(B, "resolved", "pln", MON + timedelta(hours=1)))
    assert v.queue("pln") == []
    assert [r.complaint_id for r in v.queue("kemensos")] == [A]
    # PLN may still open what it once held (its own history), but may do nothing with it.
    facts, _ = v.holding("pln", A) or (None, None)
    assert facts is not None and available(v, facts, "pln") == []


def test_closed_complaints_are_forgotten_after_the_days_kept() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.status(status(A, "closed", None, MON + timedelta(days=1)))
    v.tick(MON + timedelta(days=30))
    assert v.holding("pln", A) is not None
    v.tick(MON + timedelta(days=32))
    assert v.holding("pln", A) is None


def test_records_that_do_not_parse_are_skipped_with_a_reason() -> None:
    v = view()
    assert apply_record(v, STATUS, b"{not json") == "invalid"
    assert apply_record(v, agency_topic_name("pln"), None) == "tombstone"
    assert apply_record(v, "complaints.accepted.v1", b"{}") == "unexpected_topic"
    assert apply_record(v, agency_topic_name("pln"), delivered(A, "pln").to_bytes()) is None
    assert apply_record(v, TICKS, Tick.model_validate({"as_of": MON.isoformat()}).to_bytes()) is None
    assert apply_record(v, ESCALATIONS, b'{"escalation_id": 1}') == "invalid"
    assert v.now == MON and v.holding("pln", A) is not None


def test_actions_follow_the_complaint() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    facts, _ = v.holding("pln", A) or (None, None)
    assert facts is not None
    offered = {a.status for a in available(v, facts, "pln")}
    assert Status.acknowledged in offered and Status.info_received not in offered
    v.status(status(A, "info_requested", "pln", MON + timedelta(hours=1)))
    offered = {a.status for a in available(v, facts, "pln")}
    assert Status.acknowledged not in offered and Status.info_received in offered
    assert Status.info_requested not in offered
    v.delivered(delivered(B, "pln", tier="standard_5d"))
    five, _ = v.holding("pln", B) or (None, None)
    assert five is not None
    assert Status.field_inspection_required not in {a.status for a in available(v, five, "pln")}
    v.delivered(delivered(C, "pln", role="copy"))
    copy, _ = v.holding("pln", C) or (None, None)
    assert copy is not None and available(v, copy, "pln") == []


def test_a_form_becomes_the_agencys_status_with_an_id_fixed_by_the_form() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    facts, _ = v.holding("pln", A) or (None, None)
    assert facts is not None
    first = status_from_form(v, facts, "pln", A, {**FORM, "status": "acknowledged"}, MON)
    again = status_from_form(v, facts, "pln", A, {**FORM, "status": "acknowledged"}, MON + timedelta(seconds=5))
    other = status_from_form(v, facts, "pln", A, {"form_id": "g" * 24, "status": "acknowledged"}, MON)
    assert first.event_id == again.event_id != other.event_id
    assert (first.agency_id, first.status, first.complaint_id) == ("pln", Status.acknowledged, A)
    refusal = status_from_form(v, facts, "pln", A, {**FORM, "status": "not_our_authority",
                                                    "note": "wewenang Kemensos", "target_agency_id": "kemensos"}, MON)
    assert refusal.target_agency_id == "kemensos"


@pytest.mark.parametrize("form, message", [
    ({"status": "assigned"}, "tidak tersedia"),
    ({"status": "acknowledged", "form_id": "short"}, "tidak lengkap"),
    ({"status": "responded"}, "memerlukan catatan"),
    ({"status": "responded", "note": "x" * 5001}, "lebih dari"),
    ({"status": "not_our_authority", "note": "n", "target_agency_id": "pln"}, "tidak dikenal"),
    ({"status": "not_our_authority", "note": "n", "target_agency_id": "no-such"}, "tidak dikenal"),
])
def test_a_form_asking_for_what_the_desk_does_not_send_is_refused(form: dict[str, str], message: str) -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    facts, _ = v.holding("pln", A) or (None, None)
    assert facts is not None
    with pytest.raises(ActionRefused, match=message):
        status_from_form(v, facts, "pln", A, {**FORM, **form}, MON)


def test_pages_escape_what_came_from_a_topic() -> None:
    v = view()
    v.delivered(delivered(A, "pln", title="<script>alert(1)</script>", body="<img src=x onerror=alert(1)>"))
    v.tick(MON)
    queue = queue_page("pln", "PT PLN", v.queue("pln"), "pln<b>", "tok", v.now, "Asia/Jakarta")
    assert "<script>" not in queue and "&lt;script&gt;" in queue and "pln&lt;b&gt;" in queue
    facts, delivery = v.holding("pln", A) or (None, None)
    assert facts is not None and delivery is not None
    page = complaint_page("pln", delivery, v.clocks(facts, "pln"), v.timeline(facts, "pln"),
                          available(v, facts, "pln"), [("kemensos", "Kemensos")], "pln", "tok", None, None,
                          "Asia/Jakarta")
    assert "<img" not in page and "&lt;img src=x" in page
    assert page.count('name="csrf" value="tok"') == 1 + len(available(v, facts, "pln"))  # sign-out + each action
    assert "09:15 WIB" in page  # the agency's own time


def test_roles_come_from_the_providers_groups() -> None:
    def roles(*groups: object, root: str = "/lapor") -> list[str]:
        return roles_from_groups(groups, root, "national-operator", "agency-").names()

    assert roles("/lapor/national-operator", "/lapor/agency-pln", "/lapor/agency-bpjs-kesehatan",
                 "/lapor/agency-BAD!", "/lapor/other", 42) == [
        "national-operator", "agency:bpjs-kesehatan", "agency:pln"]
    assert roles("/lapor/staff", "/lapor/agency-") == []
    # Only the full path counts: a subgroup named like a role (Keycloak can delegate creating
    # subgroups to an agency's admin), a bare name, another root or a deeper path is nothing.
    assert roles("/lapor/agency-pln/national-operator", "/lapor/agency-pln/agency-bpjs-kesehatan",
                 "national-operator", "agency-pln", "/national-operator", "/agency-pln",
                 "/laporan/agency-pln", "/lapor", "/x/lapor/agency-pln", "/lapor//agency-pln") == []
    assert roles("/national-operator", "/agency-pln", "/lapor/agency-kpk", root="") == [
        "national-operator", "agency:pln"]
    assert roles("/gov/lapor/agency-pln", "/lapor/agency-kpk", root="/gov/lapor") == ["agency:pln"]
    custom = roles_from_groups(["/lapor/instansi:pln", "/lapor/ops"], "/lapor", "ops", "instansi:")
    assert custom.agencies == {"pln"} and custom.national_operator