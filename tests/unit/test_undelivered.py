"""A complaint the bridge could not put into an agency's own system (bridge.undelivered.v1,
compacted, key `<agency_id>|<complaint_id>`, a tombstone ends it) reaches the agency's staff by
another door: marked in its desk (queue, filter, page), counted on the operations page. The
pure decisions: the mark, its end, the agency it is for and no other, a repeat changes nothing,
a mark read before its complaint waits (bounded) like the desk's other records."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import make_mocked_request

from schemas import BridgeUndelivered
from services.desk.pages import complaint_page, queue_page, undelivered_text
from services.desk.view import KEY_MISMATCH, DeskView, Facts, apply_record, undelivered_only
from services.desk.web import only_undelivered, undelivered_json
from services.domain.registry import load_registry
from services.ops_view import queries
from services.runtime.memory import run_until_idle
from services.runtime.topics import BRIDGE_DELIVERIES, BRIDGE_UNDELIVERED, REJECTED
from tests.unit.test_desk import A, B, C, MON, delivered, view
from tests.unit.test_ops_view import T, View
from tests.unit.test_view_repeats import random_ids

AT = MON + timedelta(days=1, hours=1)  # Tuesday 10:15 WIB


def mark(cid: str, agency: str, reason: str = "bridge_gave_up", *, attempt: int = 1, at: datetime = AT,
         http_status: int | None = 503) -> BridgeUndelivered:
    """The bridge's mark on the agency's delivery (its event id, as tests.unit.test_desk delivers)."""
    return BridgeUndelivered(agency_id=agency, complaint_id=cid, event_id=f"d-{cid}-{agency}-{attempt}",
                             reason=reason, at=at, http_status=http_status)


def key(cid: str, agency: str) -> bytes:
    return f"{agency}|{cid}".encode()


def feed(v: DeskView, m: BridgeUndelivered) -> str | None:
    return apply_record(v, BRIDGE_UNDELIVERED, m.to_bytes(), key(m.complaint_id, m.agency_id))


def end(v: DeskView, cid: str, agency: str) -> str | None:
    return apply_record(v, BRIDGE_UNDELIVERED, None, key(cid, agency))


def marked(v: DeskView, agency: str) -> dict[str, str]:
    """complaint -> the reason of its mark, in the agency's queue."""
    return {r.complaint_id: r.undelivered.reason for r in v.queue(agency) if r.undelivered}


def facts_of(v: DeskView, agency: str, cid: str) -> Facts:
    held = v.holding(agency, cid)
    assert held is not None
    return held[0]


def seen(v: DeskView) -> Any:
    return (copy.deepcopy(v.facts), copy.deepcopy(dict(v.parked)), v.parked_count,
            [(r.complaint_id, r.undelivered) for a in ("pln", "kemensos") for r in v.queue(a)])


# --- the desk -------------------------------------------------------------------------------

def test_a_mark_shows_in_the_agencys_queue_and_page_in_bahasa_with_its_time() -> None:
    v = view()
    for cid in (A, B):
        v.delivered(delivered(cid, "pln"))
    assert feed(v, mark(A, "pln", "bridge_gave_up", http_status=503)) is None
    assert marked(v, "pln") == {A: "bridge_gave_up"}
    assert [r.complaint_id for r in undelivered_only(v.queue("pln"))] == [A]
    tz = "Asia/Jakarta"
    page = queue_page("pln", "PT PLN (Persero)", v.queue("pln"), "Siti", "t", v.now, tz, 1)
    assert ("Tidak masuk ke sistem instansi Anda: dihentikan setelah batas waktu (jawaban terakhir HTTP 503), "
            "2026-10-06 10:15 WIB — tangani di sini") in page
    assert f'data-complaint="{A}" data-role="primary" data-undelivered="bridge_gave_up"' in page
    assert f'data-complaint="{B}" data-role="primary">' in page  # unmarked
    assert 'href="/a/pln/?undelivered=1">Hanya yang tidak masuk ke sistem instansi Anda (1)' in page
    facts, delivery = v.holding("pln", A) or (None, None)
    assert facts is not None and delivery is not None
    shown = complaint_page("pln", delivery, [], [], [], [], "Siti", "t", None, None, tz,
                           v.undelivered_mark(facts, "pln"))
    assert '<p class="undelivered" data-undelivered="bridge_gave_up" role="note">' in shown
    assert undelivered_json(v.undelivered_mark(facts, "pln")) == {
        "reason": "bridge_gave_up", "at": AT.isoformat(), "http_status": 503}
    # Each reason in its words.
    feed(v, mark(A, "pln", "bridge_refused", http_status=422))
    feed(v, mark(B, "pln", "bridge_skipped", http_status=None))
    page = queue_page("pln", "PT PLN (Persero)", v.queue("pln"), "Siti", "t", v.now, tz, 2)
    assert "Tidak masuk ke sistem instansi Anda: ditolak (HTTP 422), 2026-10-06 10:15 WIB" in page
    assert "Tidak masuk ke sistem instansi Anda: dilewati operator, 2026-10-06 10:15 WIB" in page


def test_a_tombstone_clears_the_mark() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    feed(v, mark(A, "pln"))
    assert marked(v, "pln") == {A: "bridge_gave_up"}
    assert end(v, A, "pln") is None
    assert marked(v, "pln") == {} and undelivered_only(v.queue("pln")) == []
    assert facts_of(v, "pln", A).undelivered == {}
    assert end(v, A, "pln") is None  # a second tombstone: nothing to end, nothing skipped


def test_another_agency_never_sees_a_mark_that_is_not_its_own() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.delivered(delivered(A, "kemensos", role="copy"))
    feed(v, mark(A, "kemensos", "bridge_refused"))  # the copy did not reach Kemensos's system
    feed(v, mark(A, "bpjs-kesehatan", "bridge_skipped"))  # a key naming an agency it never reached
    assert marked(v, "kemensos") == {A: "bridge_refused"}
    assert marked(v, "pln") == {}
    assert v.undelivered_mark(facts_of(v, "pln", A), "pln") is None
    # BPJS has no such complaint: its queue is empty and the complaint is 404 to it.
    assert v.queue("bpjs-kesehatan") == [] and v.holding("bpjs-kesehatan", A) is None
    # A mark of PLN's own does not show Kemensos's reason.
    feed(v, mark(A, "pln", "bridge_gave_up"))
    assert marked(v, "pln") == {A: "bridge_gave_up"} and marked(v, "kemensos") == {A: "bridge_refused"}


def test_a_repeat_changes_nothing_and_the_keys_latest_record_is_the_mark() -> None:
    def after(times: int, before_delivery: bool) -> DeskView:
        v = view()
        if not before_delivery:
            v.delivered(delivered(A, "pln"))
        for _ in range(times):
            feed(v, mark(A, "pln"))
        return v
    for before in (False, True):
        assert seen(after(3, before)) == seen(after(1, before))
    v = after(1, True)
    assert v.parked_count == 1
    feed(v, mark(A, "pln", "bridge_skipped", http_status=None))  # the key's newer record
    assert v.parked_count == 1  # in the older one's place
    v.delivered(delivered(A, "pln"))
    assert marked(v, "pln") == {A: "bridge_skipped"} and v.parked_count == 0


def test_a_mark_read_before_its_complaint_waits_for_it_and_a_tombstone_takes_it_away() -> None:
    v = view()
    feed(v, mark(A, "pln"))
    feed(v, mark(B, "pln"))
    assert v.facts == {} and v.parked_count == 2  # it makes no complaint
    assert end(v, B, "pln") is None
    assert v.parked_count == 1 and B not in v.parked
    v.delivered(delivered(A, "pln"))
    v.delivered(delivered(B, "pln"))
    assert marked(v, "pln") == {A: "bridge_gave_up"} and v.parked_count == 0


def test_parked_marks_are_bounded_like_the_other_parked_records() -> None:
    dropped: list[tuple[str, int]] = []
    base = view()
    v = DeskView(load_registry(), base.calendar, base.policy, closed_days=30, parked_kept=5,
                 on_dropped=lambda cid, n: dropped.append((cid, n)))
    unknown = random_ids(8, "undelivered")
    for cid in unknown:
        assert feed(v, mark(cid, "pln")) is None
    assert v.parked_count == 5 and list(v.parked) == unknown[-5:]
    assert dropped == [(cid, 1) for cid in unknown[:3]]


def test_a_mark_of_an_earlier_delivery_does_not_mark_a_later_one() -> None:
    # PLN's system refused attempt 1; the complaint went to triage and came back (attempt 3),
    # a delivery the bridge may well have put in: the old mark is not about it.
    v = view()
    v.delivered(delivered(A, "pln"))
    feed(v, mark(A, "pln", "bridge_refused", attempt=1))
    assert marked(v, "pln") == {A: "bridge_refused"}
    v.delivered(delivered(A, "pln", attempt=3, routed_at=MON + timedelta(days=2)))
    assert marked(v, "pln") == {}
    feed(v, mark(A, "pln", "bridge_gave_up", attempt=3))
    assert marked(v, "pln") == {A: "bridge_gave_up"}


def test_a_mark_whose_key_is_not_its_own_or_malformed_is_skipped() -> None:
    v = view()
    v.delivered(delivered(A, "pln"))
    v.delivered(delivered(C, "pln"))
    assert apply_record(v, BRIDGE_UNDELIVERED, mark(A, "pln").to_bytes(), key(C, "pln")) == KEY_MISMATCH
    assert apply_record(v, BRIDGE_UNDELIVERED, mark(A, "pln").to_bytes(), key(A, "kemensos")) == KEY_MISMATCH
    for bad in (None, b"pln", f"PLN|{A}".encode(), f"pln|{A[:-1]}0".encode(), f"pln|{A}|x".encode()):
        assert apply_record(v, BRIDGE_UNDELIVERED, mark(A, "pln").to_bytes(), bad) == "invalid"
        assert apply_record(v, BRIDGE_UNDELIVERED, None, bad) == "invalid"
    assert apply_record(v, BRIDGE_UNDELIVERED, b'{"agency_id": "pln"}', key(A, "pln")) == "invalid"
    assert marked(v, "pln") == {} and v.parked_count == 0


def test_the_queue_filter_is_1_or_absent() -> None:
    def ask(query: str) -> bool | None:
        return only_undelivered(make_mocked_request("GET", f"/a/pln/{query}"))
    assert (ask(""), ask("?undelivered="), ask("?undelivered=1")) == (False, False, True)
    assert ask("?undelivered=yes") is None and ask("?undelivered=0") is None


# --- the operations page ----------------------------------------------------------------------

def ops_mark(cid: str, agency: str, reason: str = "bridge_gave_up", at: str = "2026-03-02T10:00:00+07:00",
             event: str | None = None) -> dict[str, Any]:
    return {"agency_id": agency, "complaint_id": cid, "event_id": event or f"d-{cid}-{agency}", "reason": reason,
            "at": at, "http_status": 503}


def send_mark(v: View, value: dict[str, Any] | None, cid: str, agency: str) -> View:
    v.topics.publish(BRIDGE_UNDELIVERED, key(cid, agency), json.dumps(value).encode() if value else None)
    run_until_idle([v.worker])
    return v


def report(agency: str, **more: Any) -> dict[str, Any]:
    return {"agency_id": agency, "mode": "webhook", "as_of": "2026-03-02T10:00:05+07:00", "started_at": T,
            "pending": 0, "oldest_undelivered_s": 0.0, "retrying": False, "delivered": 5, "refused": 1,
            "failed_tries": 0, "statuses_in": 1, **more}


def undelivered(v: View) -> dict[str, tuple[int, dict[str, int]]]:
    return {r["agency_id"]: (r["undelivered"], r["undelivered_by_reason"]) for r in queries.bridge(v.board)}


def test_the_ops_page_counts_each_agencys_undelivered_complaints_by_reason() -> None:
    v = View(partitions=1)
    v.send(BRIDGE_DELIVERIES, report("pln", gave_up=2, skipped=1), key="pln")
    send_mark(v, ops_mark(A, "pln", "bridge_gave_up"), A, "pln")
    send_mark(v, ops_mark(B, "pln", "bridge_skipped"), B, "pln")
    send_mark(v, ops_mark(C, "pln", "bridge_gave_up"), C, "pln")
    send_mark(v, ops_mark(A, "kemensos", "bridge_refused"), A, "kemensos")  # no delivery report: a row all the same
    assert undelivered(v) == {"pln": (3, {"bridge_gave_up": 2, "bridge_skipped": 1}),
                              "kemensos": (1, {"bridge_refused": 1})}
    rows = {r["agency_id"]: r for r in queries.bridge(v.board)}
    assert (rows["pln"]["gave_up"], rows["pln"]["skipped"], rows["pln"]["disabled"]) == (2, 1, False)
    assert (rows["kemensos"]["mode"], rows["kemensos"]["delivered"], rows["kemensos"]["disabled"]) == (None, 0, False)
    assert v.topics.read(REJECTED) == []


def test_the_ops_page_ends_a_mark_at_its_tombstone_and_a_tombstone_is_no_dead_letter() -> None:
    v = View(partitions=1)
    v.send(BRIDGE_DELIVERIES, report("pln"), key="pln")
    send_mark(v, ops_mark(A, "pln"), A, "pln")
    send_mark(v, ops_mark(B, "pln"), B, "pln")
    send_mark(v, None, A, "pln")
    assert undelivered(v) == {"pln": (1, {"bridge_gave_up": 1})}
    send_mark(v, None, B, "pln")
    send_mark(v, None, C, "pln")  # a tombstone of a key never seen: nothing
    assert undelivered(v) == {"pln": (0, {})}
    assert not any(k.startswith("undelivered|") for k in v.board)
    assert v.topics.read(REJECTED) == []


def test_the_ops_page_counts_a_repeat_once() -> None:
    def after(times: int) -> Any:
        v = View(partitions=1)
        for _ in range(times):
            send_mark(v, ops_mark(A, "pln"), A, "pln")
            send_mark(v, ops_mark(B, "pln", "bridge_refused"), B, "pln")
        return copy.deepcopy(v.board), queries.bridge(v.board)
    assert after(3) == after(1)
    assert after(1)[1][0]["undelivered"] == 2


def test_the_ops_page_ignores_a_mark_whose_key_is_not_its_own() -> None:
    v = View(partitions=1)
    send_mark(v, ops_mark(A, "pln"), B, "pln")
    send_mark(v, ops_mark(A, "pln"), A, "kemensos")
    send_mark(v, ops_mark(A, "pln"), A, "PLN")
    assert undelivered(v) == {}
    assert not any(k.startswith("undelivered|") for k in v.board)


def test_a_disabled_endpoint_comes_first_and_an_older_report_reads_as_not_disabled() -> None:
    v = View(partitions=1)
    v.send(BRIDGE_DELIVERIES, report("pln", pending=4, oldest_undelivered_s=90.0, retrying=True), key="pln")
    v.send(BRIDGE_DELIVERIES, report("kemensos", disabled=True, pending=2), key="kemensos")
    # A report stored before gave_up/skipped/disabled existed.
    v.board["bridge|bpjs-kesehatan"] = report("bpjs-kesehatan")
    rows = queries.bridge(v.board)
    assert [(r["agency_id"], r["disabled"], r["gave_up"], r["skipped"]) for r in rows] == [
        ("kemensos", True, 0, 0), ("pln", False, 0, 0), ("bpjs-kesehatan", False, 0, 0)]


def test_the_ops_page_forgets_a_mark_compliance_days_after_it_and_not_a_newer_one_sooner() -> None:
    v = View(partitions=1, ops_compliance_days=10)
    send_mark(v, ops_mark(A, "pln", at="2026-03-02T10:00:00+07:00"), A, "pln")
    send_mark(v, ops_mark(B, "pln", at="2026-03-02T10:00:00+07:00"), B, "pln")
    # B's key gets a newer record (a redelivery that failed again) five days later.
    send_mark(v, ops_mark(B, "pln", "bridge_refused", at="2026-03-07T10:00:00+07:00"), B, "pln")
    v.tick("2026-03-11T12:00:00+07:00")
    assert undelivered(v) == {"pln": (2, {"bridge_gave_up": 1, "bridge_refused": 1})}
    v.tick("2026-03-14T12:00:00+07:00")  # past A's ten days; B's newer record has five more
    assert undelivered(v) == {"pln": (1, {"bridge_refused": 1})}
    v.tick("2026-03-19T12:00:00+07:00")
    assert undelivered(v) == {}


def test_a_mark_on_a_dispositions_copy_marks_the_delivery_and_names_the_unit() -> None:
    # The router writes the complaint again once a disposition passed; a unit's own endpoint
    # (or the agency's) that does not take that copy is marked under the same key. The desk
    # shows it on the complaint it keeps, naming the unit, and a copy of an earlier routing
    # marks nothing.
    v = view()
    v.delivered(delivered(A, "pln"))
    copy_of = delivered(A, "pln", event_id="copy-A", disposition={
        "status_event_id": "admin-1", "unit_id": "uid-jabar", "unit_name": "PLN UID Jawa Barat",
        "disposed_at": AT.isoformat()})
    v.delivered(copy_of)
    feed(v, mark(A, "pln", "bridge_refused", http_status=400).model_copy(
        update={"event_id": "copy-A", "unit_id": "uid-jabar"}))
    assert marked(v, "pln") == {A: "bridge_refused"}
    [row] = v.queue("pln")
    assert row.undelivered is not None
    assert undelivered_text(row.undelivered, "Asia/Jakarta").startswith(
        "Tidak masuk ke sistem unit uid-jabar: ditolak (HTTP 400)")
    assert undelivered_json(row.undelivered) == {"reason": "bridge_refused", "at": AT.isoformat(),
                                                 "http_status": 400, "unit_id": "uid-jabar"}
    v.delivered(delivered(A, "pln", attempt=2))  # passed on and back: a new delivery
    assert marked(v, "pln") == {}
