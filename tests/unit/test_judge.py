"""The one judge of statuses (services/router/judge.py): who may say what about a complaint
at that moment, and each event_id once. Pure: claims and standings in, verdicts out."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

import pytest

from schemas import Channel, Status, StatusEvent, Unit, UnitSet
from services.domain.units import UnitsBook, empty_set
from services.router.judge import (
    MAX_STATUSES, PASSED, REPEAT, Reason, Standing, Verdict, fingerprint, judge, passed_key,
)
from tests.unit.test_routing import REGISTRY

CID = "LPR-7K2QX9M4TD5W"
AT = "2026-03-05T10:00:00+07:00"
ROUTED_AT = datetime.fromisoformat("2026-03-02T09:15:00+07:00")
AGENCY_KINDS = [s for s in Status if s not in (Status.assigned, Status.reporter_replied)]
PLN_UNITS = UnitSet(agency_id="pln", version=2, published_at=ROUTED_AT, units=[
    Unit(unit_id="up3-bandung", name="PLN UP3 Bandung"),
    Unit(unit_id="up3-cimahi", name="PLN UP3 Cimahi", retired=True)])
UNITS = UnitsBook(lambda a: empty_set(a, ROUTED_AT), [PLN_UNITS]).of  # pln's units in force


def claim(kind: Status | str, agency: str | None = None, channel: Channel | None = None,
          target: str | None = None, event_id: str = "e-1", at: str = AT,
          note: str | None = None, unit: str | None = None) -> StatusEvent:
    return StatusEvent.model_validate({"event_id": event_id, "complaint_id": CID, "status": kind,
                                       "agency_id": agency, "channel": channel, "at": at,
                                       "target_agency_id": target, "note": note, "unit_id": unit})


def held(holder: str | None = "pln", closed: bool = False,
         passed: Mapping[str, str] | None = None) -> Standing:
    return Standing(holder, Channel.sms, closed, passed or {}, ROUTED_AT)


def reason(v: Verdict) -> str | None:
    return v.reason.value if v.reason else None


@pytest.mark.parametrize("kind", AGENCY_KINDS)
def test_the_holder_may_say_every_agency_status(kind: Status) -> None:
    assert judge(claim(kind, "pln"), held(), REGISTRY, UNITS) == PASSED


@pytest.mark.parametrize("kind", AGENCY_KINDS)
@pytest.mark.parametrize("who", ["ombudsman", "kemensos"])  # a copy agency, one never involved
def test_no_other_agency_may_say_anything(kind: Status, who: str) -> None:
    assert reason(judge(claim(kind, who), held(), REGISTRY, UNITS)) == "not_the_holder"


def test_a_former_holder_and_any_agency_of_a_triaged_complaint_are_refused() -> None:
    # After pln's refusal the complaint is kemensos's: pln's late statuses are a former holder's.
    assert reason(judge(claim(Status.resolved, "pln"), held("kemensos"), REGISTRY, UNITS)) == "not_the_holder"
    assert reason(judge(claim(Status.acknowledged, "pln"), held(None), REGISTRY, UNITS)) == "not_the_holder"


def test_unknown_complaints_are_refused_before_anything_else() -> None:
    for c in (claim(Status.acknowledged, "pln"), claim(Status.closed),
              claim(Status.assigned, target="pln"), claim(Status.reporter_replied, channel=Channel.sms)):
        assert reason(judge(c, None, REGISTRY, UNITS)) == "unknown_complaint"


def test_the_national_admin_assigns_a_triaged_complaint_to_a_known_agency_only() -> None:
    assert judge(claim(Status.assigned, target="kemensos"), held(None), REGISTRY, UNITS) == PASSED
    assert reason(judge(claim(Status.assigned, target="kemensos"), held("pln"), REGISTRY, UNITS)) == "not_in_triage"
    assert reason(judge(claim(Status.assigned, target="nope"), held(None), REGISTRY, UNITS)) == "unknown_target"


def test_the_reporter_speaks_through_the_complaints_own_channel_only() -> None:
    assert judge(claim(Status.reporter_replied, channel=Channel.sms), held(), REGISTRY, UNITS) == PASSED
    assert (reason(judge(claim(Status.reporter_replied, channel=Channel.web), held(), REGISTRY, UNITS))
            == "not_the_reporters_channel")


def test_the_sla_monitors_auto_close_passes_once() -> None:
    assert judge(claim(Status.closed), held(), REGISTRY, UNITS) == PASSED
    assert reason(judge(claim(Status.closed, event_id="e-2"), held(closed=True), REGISTRY, UNITS)) == "complaint_closed"


def test_nobody_speaks_about_a_closed_complaint() -> None:
    for c in (claim(Status.in_progress, "pln"), claim(Status.reporter_replied, channel=Channel.sms),
              claim(Status.assigned, target="pln")):
        assert reason(judge(c, held(closed=True), REGISTRY, UNITS)) == "complaint_closed"


def test_a_repeat_is_dropped_whoever_holds_now_and_a_conflict_is_refused() -> None:
    first = claim(Status.responded, "pln", note="Token sudah masuk")
    passed = {passed_key(first): fingerprint(first)}
    assert judge(first, held(passed=passed), REGISTRY, UNITS) == REPEAT
    # A resend stamped anew (a form posted twice) is the same event.
    again = claim(Status.responded, "pln", note="Token sudah masuk", at="2026-03-05T10:01:00+07:00")
    assert judge(again, held(passed=passed), REGISTRY, UNITS) == REPEAT
    # A late repeat after the complaint moved on or closed is still only a repeat.
    assert judge(first, held("kemensos", closed=True, passed=passed), REGISTRY, UNITS) == REPEAT
    other = claim(Status.resolved, "pln", note="Token sudah masuk")
    assert reason(judge(other, held(passed=passed), REGISTRY, UNITS)) == "event_id_conflict"
    assert reason(judge(claim(Status.responded, "pln", note="Lain"), held(passed=passed), REGISTRY, UNITS)) \
        == "event_id_conflict"


def test_every_refusal_has_a_reason_a_person_can_read() -> None:
    refused = [judge(claim(Status.resolved, "ombudsman"), held(), REGISTRY, UNITS),
               judge(claim(Status.resolved, "pln"), None, REGISTRY, UNITS)]
    assert all(isinstance(v.reason, Reason) and v.msg for v in refused)


def test_one_speakers_event_id_is_not_anothers() -> None:
    # A channel that sends its reply under the id the operator's assignment will carry does
    # not get the assignment refused as a conflict.
    squatter = claim(Status.reporter_replied, channel=Channel.sms, event_id="ops-assign-1")
    passed = {passed_key(squatter): fingerprint(squatter)}
    assigned = claim(Status.assigned, target="kemensos", event_id="ops-assign-1")
    assert judge(assigned, held(None, passed=passed), REGISTRY, UNITS) == PASSED
    assert judge(claim(Status.acknowledged, "pln", event_id="ops-assign-1"),
                 held(passed=passed), REGISTRY, UNITS) == PASSED


def test_a_complaint_takes_a_bounded_number_of_statuses() -> None:
    passed = {f"k{i}": "f" for i in range(MAX_STATUSES)}
    assert reason(judge(claim(Status.in_progress, "pln", event_id="one-more"), held(passed=passed),
                        REGISTRY, UNITS)) == "too_many_statuses"
    fewer = {f"k{i}": "f" for i in range(MAX_STATUSES - 1)}
    assert judge(claim(Status.in_progress, "pln", event_id="one-more"), held(passed=fewer),
                 REGISTRY, UNITS) == PASSED


def test_nobody_dates_a_status_before_the_current_routing() -> None:
    # A backdated acknowledgement or resolution would stop clocks before they started; an
    # agency clock a few minutes behind ours is no backdating.
    backdated = claim(Status.resolved, "pln", at="2026-02-01T10:00:00+07:00")
    assert reason(judge(backdated, held(), REGISTRY, UNITS)) == "before_its_routing"
    assert reason(judge(claim(Status.acknowledged, "pln", at="2026-03-02T09:00:00+07:00"), held(),
                        REGISTRY, UNITS)) == "before_its_routing"
    assert judge(claim(Status.acknowledged, "pln", at="2026-03-02T09:06:00+07:00"), held(),
                 REGISTRY, UNITS) == PASSED


def test_the_holder_dispositions_to_an_active_unit_of_its_own_named_by_the_judge() -> None:
    verdict = judge(claim(Status.disposed, "pln", unit="up3-bandung"), held(), REGISTRY, UNITS)
    assert verdict.passed and verdict.unit_name == "PLN UP3 Bandung"
    # Back to the agency's admin: no unit, nothing to name.
    assert judge(claim(Status.disposed, "pln"), held(), REGISTRY, UNITS) == PASSED


def test_a_disposition_to_a_retired_or_unknown_unit_is_refused() -> None:
    for unit in ("up3-cimahi", "no-such-unit"):
        verdict = judge(claim(Status.disposed, "pln", unit=unit), held(), REGISTRY, UNITS)
        assert reason(verdict) == "unknown_unit" and unit in verdict.msg
    # Another agency's unit is not the holder's: kemensos has none (its starting set is empty).
    assert reason(judge(claim(Status.disposed, "kemensos", unit="up3-bandung"), held("kemensos"),
                        REGISTRY, UNITS)) == "unknown_unit"
    # Not the holder comes first: a non-holder learns nothing of the holder's units.
    assert reason(judge(claim(Status.disposed, "kemensos", unit="up3-bandung"), held(), REGISTRY,
                        UNITS)) == "not_the_holder"


def test_the_same_event_id_with_another_unit_is_a_conflict() -> None:
    first = claim(Status.disposed, "pln", unit="up3-bandung")
    passed = {passed_key(first): fingerprint(first)}
    assert judge(first, held(passed=passed), REGISTRY, UNITS) == REPEAT
    assert reason(judge(claim(Status.disposed, "pln", unit="up3-cimahi"), held(passed=passed),
                        REGISTRY, UNITS)) == "event_id_conflict"
    assert reason(judge(claim(Status.disposed, "pln"), held(passed=passed), REGISTRY, UNITS)) \
        == "event_id_conflict"


def test_a_fingerprint_without_a_unit_is_the_one_kept_before_units_existed() -> None:
    # Holdings keep fingerprints of statuses passed before units: their repeats stay repeats.
    before = claim(Status.responded, "pln", note="Token sudah masuk")
    parts = [CID, "responded", "pln", "", "", "Token sudah masuk"]
    assert fingerprint(before) == hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def test_an_automatic_disposition_stands_only_until_the_agency_speaks_itself() -> None:
    automatic = claim(Status.disposed, "pln", unit="up3-bandung", event_id="disp-1")
    automatic = automatic.model_copy(update={"rule_id": "listrik"})
    assert judge(automatic, held(), REGISTRY, UNITS).passed
    # The agency's own word this attempt (its admin's disposition, a unit's hand-back, any
    # status) came first: a late automatic one would override it, and is refused instead.
    spoke = Standing("pln", Channel.sms, False, {}, ROUTED_AT, holder_spoke=True)
    assert reason(judge(automatic, spoke, REGISTRY, UNITS)) == "agency_spoke_first"
    # The agency's own disposition is its word whenever it comes.
    assert judge(claim(Status.disposed, "pln", unit="up3-bandung"), spoke, REGISTRY, UNITS).passed
    # The rule is content: the same event id without it is another event.
    passed = {passed_key(automatic): fingerprint(automatic)}
    assert reason(judge(claim(Status.disposed, "pln", unit="up3-bandung", event_id="disp-1"),
                        held(passed=passed), REGISTRY, UNITS)) == "event_id_conflict"
