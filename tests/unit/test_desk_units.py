"""Units inside an agency on the desk (#34): who is a unit's staff (from the provider's group
paths), which unit a complaint is with (the agency's judged `disposed` statuses), a unit's
queue, what its staff and the agency's admin may do, and the site's 404 for anything of
another unit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from schemas import AgencyStatus, Status, StatusEvent, Tick, UnitSet
from services.desk.actions import ActionRefused, available, disposition_choices, status_from_form
from services.desk.pages import complaint_page, queue_page
from services.desk.view import WITH_ADMIN, DeskView, apply_record, with_unit_only
from services.desk.web import DeskSite
from services.domain.staff_roles import StaffRoles, roles_from_groups
from services.runtime.topics import STATUS, TICKS, UNITS
from services.web.staff_signin import Staff
from tests.unit.test_desk import A, B, C, FORM, MON, delivered, view

BDG = "pemda-32-73"  # Pemerintah Kota Bandung: the starting units of a city
PUPR, DINKES = "dinas-pupr", "dinas-kesehatan"
PUPR_NAME = "Dinas Pekerjaan Umum dan Penataan Ruang Kota Bandung"


def roles(*groups: object) -> list[str]:
    return roles_from_groups(groups, "/lapor", "national-operator", "agency-").names()


def test_a_units_group_under_its_agencys_group_is_that_units_staff() -> None:
    assert roles("/lapor/agency-pemda-32-73/unit-dinas-pupr") == ["unit:pemda-32-73/dinas-pupr"]
    assert roles("/lapor/agency-pln/unit-ulp-cimahi", "/lapor/agency-pemda-32-73/unit-dinas-pupr") == [
        "unit:pemda-32-73/dinas-pupr", "unit:pln/ulp-cimahi"]
    # A member of the agency's group and one of its units' is the agency's admin.
    assert roles("/lapor/agency-pln", "/lapor/agency-pln/unit-ulp-cimahi") == ["agency:pln"]
    assert roles("/lapor/agency-pln", "/lapor/agency-bpjs-kesehatan/unit-cabang-bandung") == [
        "agency:pln", "unit:bpjs-kesehatan/cabang-bandung"]


@pytest.mark.parametrize("group", [
    "/lapor/agency-pln/unit-x/agency-bpjs-kesehatan",  # deeper than a unit: nothing
    "/lapor/agency-pln/unit-x/unit-y",
    "/lapor/unit-x",  # a unit of no agency
    "unit-x", "agency-pln/unit-x",  # bare names
    "/lapor/agency-pln/unit-",  # no unit id
    "/lapor/agency-pln/unit-X", "/lapor/agency-pln/unit--x", "/lapor/agency-pln/unit-x!",
    "/lapor/agency-pln/unit-" + "x" * 65,
    "/lapor/agency-pln/ulp-cimahi",  # not a unit's prefix
    "/lapor/agency-PLN/unit-x", "/lapor/agency-/unit-x",  # not an agency id
    "/lapor/national-operator/unit-x",  # the operators' group has no units
    "/lapor/agency-pln//unit-x", "/lapor/agency-pln/unit-x/",
    "/laporan/agency-pln/unit-x", "/x/lapor/agency-pln/unit-x",
])
def test_a_group_that_is_not_exactly_a_units_path_is_nothing(group: str) -> None:
    assert roles(group) == []
    assert roles_from_groups([group], "/lapor", "national-operator", "agency-").any is False


# --- the view: which unit a complaint is with --------------------------------------------

def disposed(cid: str, unit: str | None, at: datetime, agency: str = BDG, n: int = 0,
             **more: Any) -> StatusEvent:
    return StatusEvent.model_validate({
        "event_id": f"d-{cid}-{unit}-{at.isoformat()}-{n}", "complaint_id": cid, "status": "disposed",
        "agency_id": agency, "at": at.isoformat(), "unit_id": unit, **more})


def bandung() -> DeskView:
    v = view()
    for cid in (A, B, C):
        v.delivered(delivered(cid, BDG))
    v.tick(MON + timedelta(hours=1))
    return v


def unit_of(v: DeskView, cid: str, agency: str = BDG) -> str | None:
    facts, _ = v.holding(agency, cid) or (None, None)
    assert facts is not None
    current = v.current_unit(facts, agency)
    return current.unit_id if current else None


def test_a_complaint_is_with_the_unit_of_the_agencys_latest_disposition() -> None:
    v = bandung()
    assert unit_of(v, A) is None
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(B, DINKES, MON + timedelta(hours=1)))
    assert (unit_of(v, A), unit_of(v, B), unit_of(v, C)) == (PUPR, DINKES, None)
    facts, _ = v.holding(BDG, A) or (None, None)
    assert facts is not None
    # No unit_name on the status (the judge not writing it yet): the units book's name.
    current = v.current_unit(facts, BDG)
    assert current is not None and current.name == PUPR_NAME
    v.status(disposed(A, DINKES, MON + timedelta(hours=2), unit_name="Dinkes (nama dari hakim)"))
    current = v.current_unit(facts, BDG)
    assert current is not None and (current.unit_id, current.name) == (DINKES, "Dinkes (nama dari hakim)")


def test_a_units_queue_holds_only_what_is_dispositioned_to_it_now() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(B, DINKES, MON + timedelta(hours=1)))
    assert [r.complaint_id for r in v.queue(BDG, PUPR)] == [A]
    assert [r.complaint_id for r in v.queue(BDG, DINKES)] == [B]
    assert v.queue(BDG, "satpol-pp") == []
    admin = v.queue(BDG)
    assert sorted(r.complaint_id for r in admin) == sorted([A, B, C])
    assert [r.complaint_id for r in with_unit_only(admin, PUPR)] == [A]
    assert [r.complaint_id for r in with_unit_only(admin, WITH_ADMIN)] == [C]
    # Another agency's `disposed` (it could only be refused by the judge) moves nothing here.
    v.status(disposed(C, PUPR, MON + timedelta(hours=2), agency="pln"))
    assert [r.complaint_id for r in v.queue(BDG, PUPR)] == [A]


def test_handed_back_or_moved_the_complaint_leaves_the_units_queue() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(B, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(A, None, MON + timedelta(hours=2), note="bukan wewenang unit"))  # handed back
    v.status(disposed(B, DINKES, MON + timedelta(hours=2)))  # moved by the admin
    assert v.queue(BDG, PUPR) == []
    assert unit_of(v, A) is None and [r.complaint_id for r in v.queue(BDG, DINKES)] == [B]
    # A repeat of the first disposition (at least once) changes nothing: one event, read twice.
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    assert unit_of(v, A) is None


def test_a_re_route_or_a_retired_unit_ends_the_units_part() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(B, DINKES, MON + timedelta(hours=1)))
    v.delivered(delivered(A, "pln", attempt=2, routed_at=MON + timedelta(hours=3)))  # re-routed away
    assert unit_of(v, A) is None and v.queue(BDG, PUPR) == []
    # Back again (a new delivery): with the admin, whatever it was before.
    v.delivered(delivered(A, BDG, attempt=3, routed_at=MON + timedelta(hours=5)))
    assert unit_of(v, A) is None
    starting = v.units.of(BDG).unit_set
    retired = UnitSet.model_validate({**starting.model_dump(mode="json"), "version": 1, "units": [
        {**u.model_dump(mode="json"), "retired": u.unit_id == DINKES} for u in starting.units],
        "rules": []})
    assert apply_record(v, UNITS, retired.to_bytes(), BDG.encode()) is None
    assert unit_of(v, B) is None and v.queue(BDG, DINKES) == []
    facts, _ = v.holding(BDG, B) or (None, None)
    assert facts is not None and DINKES not in {u for u, _, _ in disposition_choices(v, facts, BDG)}


def test_published_units_replace_the_starting_set_and_an_announcement_moves_no_clock() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    renamed = UnitSet.model_validate({"agency_id": BDG, "version": 2, "published_at": MON.isoformat(),
                                      "units": [{"unit_id": PUPR, "name": "Dinas PUPR"}]})
    apply_record(v, UNITS, renamed.to_bytes(), BDG.encode())
    shown = v.queue(BDG, PUPR)[0].unit
    assert shown is not None and shown.name == "Dinas PUPR"
    older = renamed.model_copy(update={"version": 1, "units": []})
    apply_record(v, UNITS, older.to_bytes(), BDG.encode())  # an older version: nothing
    assert [u.unit_id for u in v.units.of(BDG).active_units()] == [PUPR]
    announced = Tick(as_of=MON + timedelta(days=9), units=renamed)
    assert apply_record(v, TICKS, announced.to_bytes()) is None
    assert v.now == MON + timedelta(hours=1)


def test_the_timeline_names_the_unit_or_the_admin() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1), note="mohon ditindaklanjuti"))
    v.status(disposed(A, None, MON + timedelta(hours=2), note="saluran air, bukan jalan"))
    facts, delivery = v.holding(BDG, A) or (None, None)
    assert facts is not None and delivery is not None
    steps = [(t["status"], t.get("unit_id"), t.get("unit_name")) for t in v.timeline(facts, BDG)]
    assert steps == [("disposed", PUPR, PUPR_NAME), ("disposed", None, None)]
    page = complaint_page(BDG, delivery, v.clocks(facts, BDG), v.timeline(facts, BDG), [], [], "admin",
                          "tok", None, None, "Asia/Jakarta")
    assert (f'<b>Didisposisikan ke <span class="unit" data-unit="{PUPR}">{PUPR_NAME}</span></b> '
            f"oleh {BDG}") in page
    assert "<b>Dikembalikan ke admin instansi</b> oleh" in page and "Belum didisposisikan" in page


# --- what a unit's staff and the admin may do --------------------------------------------

def offered(v: DeskView, cid: str, unit: str | None) -> set[str]:
    facts, _ = v.holding(BDG, cid) or (None, None)
    assert facts is not None
    return {a.name for a in available(v, facts, BDG, unit)}


def test_a_unit_acts_on_its_own_complaints_only_and_hands_back_instead_of_refusing() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(B, DINKES, MON + timedelta(hours=1)))
    mine = offered(v, A, PUPR)
    assert {"in_progress", "responded", "resolved", "handed_back"} <= mine
    assert "not_our_authority" not in mine and "disposed" not in mine  # the admin's calls
    assert offered(v, B, PUPR) == set() and offered(v, C, PUPR) == set()
    admin = offered(v, A, None)
    assert {"not_our_authority", "disposed", "in_progress"} <= admin and "handed_back" not in admin
    facts, _ = v.holding(BDG, B) or (None, None)
    assert facts is not None
    # PUPR's staff cannot disposition, hand back or act on Dinkes's complaint.
    for form in ({"status": "disposed", "unit_id": PUPR}, {"status": "handed_back", "note": "x"},
                 {"status": "in_progress"}):
        with pytest.raises(ActionRefused, match="tidak tersedia"):
            status_from_form(v, facts, BDG, B, {**FORM, **form}, MON + timedelta(hours=2), PUPR)


def test_the_admin_dispositions_to_an_active_unit_and_a_unit_hands_back_with_a_note() -> None:
    v = bandung()
    facts, _ = v.holding(BDG, A) or (None, None)
    assert facts is not None
    at = MON + timedelta(hours=2)
    sent = status_from_form(v, facts, BDG, A, {**FORM, "status": "disposed", "unit_id": PUPR}, at)
    assert (sent.status, sent.unit_id, sent.agency_id, sent.unit_name) == (Status.disposed, PUPR, BDG, None)
    for unit in ("no-such-unit", "", "Dinas PUPR"):
        with pytest.raises(ActionRefused, match="unit itu"):
            status_from_form(v, facts, BDG, A, {**FORM, "status": "disposed", "unit_id": unit}, at)
    v.status(sent)
    with pytest.raises(ActionRefused, match="unit itu"):  # a move goes to another unit
        status_from_form(v, facts, BDG, A, {**FORM, "status": "disposed", "unit_id": PUPR}, at)
    with pytest.raises(ActionRefused, match="memerlukan catatan"):
        status_from_form(v, facts, BDG, A, {**FORM, "status": "handed_back"}, at, PUPR)
    back = status_from_form(v, facts, BDG, A, {"form_id": "h" * 24, "status": "handed_back", "note": "saluran air",
                                               "unit_id": DINKES}, at, PUPR)
    assert (back.status, back.unit_id, back.note) == (Status.disposed, None, "saluran air")
    assert back.event_id != sent.event_id


def test_the_pages_show_the_unit_the_filter_and_the_disposition_form() -> None:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    units = [(PUPR, PUPR_NAME, None), (DINKES, "Dinas Kesehatan", None)]
    admin = queue_page(BDG, "Kota Bandung", v.queue(BDG), "admin", "tok", v.now, "Asia/Jakarta",
                       unit_filter=PUPR, units=units)
    assert f'<td data-unit="{PUPR}">{PUPR_NAME}</td>' in admin and admin.count("Belum didisposisikan") >= 2
    assert f'<option value="{PUPR}" selected>' in admin and f'href="/a/{BDG}/c/{A}"' in admin
    unit = queue_page(BDG, "Kota Bandung", v.queue(BDG, PUPR), "pupr", "tok", v.now, "Asia/Jakarta",
                      unit_id=PUPR, unit_name=PUPR_NAME)
    assert f'href="/a/{BDG}/u/{PUPR}/c/{A}"' in unit and "<th>Unit</th>" not in unit and 'name="unit"' not in unit
    facts, delivery = v.holding(BDG, C) or (None, None)
    assert facts is not None and delivery is not None
    page = complaint_page(BDG, delivery, [], [], available(v, facts, BDG), [], "admin", "tok", None, None,
                          "Asia/Jakarta", units=disposition_choices(v, facts, BDG))
    assert 'data-action="disposed"' in page and f'<option value="{PUPR}">{PUPR_NAME}</option>' in page
    assert "Rumah Sakit Umum Daerah Kota Bandung — Dinas Kesehatan Kota Bandung" in page  # its parent


# --- the site: a unit's staff get 404 for anything not with their unit ------------------

class FakeSignIn:
    """The desk's sign-in as far as the site asks it: a fixed staff member, one CSRF token."""

    provider = SimpleNamespace(origin="http://provider.invalid")

    def __init__(self, roles: StaffRoles) -> None:
        self.who = Staff("sid", "sub", "tester", roles, "tok")

    def install(self, app: web.Application) -> None:
        pass

    async def staff(self, request: web.Request) -> Staff:
        return self.who

    async def action_allowed(self, request: web.Request, staff: Staff, token: str | None) -> bool:
        return token == "tok"


@pytest.fixture
async def desk() -> AsyncIterator[tuple[DeskView, list[AgencyStatus], Any]]:
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1)))
    v.status(disposed(B, DINKES, MON + timedelta(hours=1)))
    sent: list[AgencyStatus] = []

    async def publish(event: AgencyStatus) -> None:
        sent.append(event)
    clients = []

    async def client(roles: StaffRoles) -> TestClient[web.Request, web.Application]:
        site = DeskSite(v, FakeSignIn(roles), publish, frozenset({"127.0.0.1"}))  # type: ignore[arg-type]
        c = TestClient(TestServer(site.app(), host="127.0.0.1"))
        await c.start_server()
        clients.append(c)
        return c
    yield v, sent, client
    for c in clients:
        await c.close()


PUPR_STAFF = StaffRoles(False, frozenset(), frozenset({(BDG, PUPR)}))
ADMIN = StaffRoles(False, frozenset({BDG}))


async def test_a_units_staff_see_and_act_on_their_units_complaints_only(desk: Any) -> None:
    v, sent, client = desk
    pupr = await client(PUPR_STAFF)
    home = await pupr.get("/", allow_redirects=False)
    assert home.headers["Location"] == f"/a/{BDG}/u/{PUPR}/"
    queue = await (await pupr.get(f"/a/{BDG}/u/{PUPR}/")).text()
    assert A in queue and B not in queue and C not in queue
    api = await (await pupr.get(f"/api/a/{BDG}/u/{PUPR}/queue")).json()
    assert [c["complaint_id"] for c in api["complaints"]] == [A] and api["complaints"][0]["unit"]["unit_id"] == PUPR
    assert (await pupr.get(f"/a/{BDG}/u/{PUPR}/c/{A}")).status == 200
    for guess in (f"/a/{BDG}/u/{PUPR}/c/{B}", f"/a/{BDG}/u/{PUPR}/c/{C}", f"/api/a/{BDG}/u/{PUPR}/c/{B}",
                  f"/a/{BDG}/", f"/a/{BDG}/c/{A}", f"/api/a/{BDG}/queue", f"/a/{BDG}/u/{DINKES}/",
                  f"/a/{BDG}/u/{DINKES}/c/{B}", f"/a/pln/u/{PUPR}/"):
        answer = await pupr.get(guess)
        assert answer.status == 404, guess
        assert B not in await answer.text()
    # Acting on Dinkes's complaint (and dispositioning it to PUPR) from PUPR's desk: 404, nothing sent.
    for path, form in ((f"/a/{BDG}/u/{PUPR}/c/{B}/status", {"status": "in_progress"}),
                       (f"/a/{BDG}/u/{PUPR}/c/{B}/status", {"status": "disposed", "unit_id": PUPR}),
                       (f"/a/{BDG}/u/{DINKES}/c/{B}/status", {"status": "in_progress"}),
                       (f"/a/{BDG}/c/{B}/status", {"status": "disposed", "unit_id": PUPR})):
        answer = await pupr.post(path, data={"csrf": "tok", **FORM, **form}, allow_redirects=False)
        assert answer.status == 404, path
    assert sent == []
    acted = await pupr.post(f"/a/{BDG}/u/{PUPR}/c/{A}/status", allow_redirects=False,
                            data={"csrf": "tok", **FORM, "status": "in_progress"})
    assert acted.status == 303 and acted.headers["Location"] == f"/a/{BDG}/u/{PUPR}/c/{A}?notice=sent"
    back = await pupr.post(f"/a/{BDG}/u/{PUPR}/c/{A}/status", allow_redirects=False,
                           data={"csrf": "tok", "form_id": "h" * 24, "status": "handed_back", "note": "bukan kami"})
    assert back.status == 303 and back.headers["Location"] == f"/a/{BDG}/u/{PUPR}/"
    assert [(s.status, s.agency_id, s.unit_id) for s in sent] == [
        (Status.in_progress, BDG, None), (Status.disposed, BDG, None)]
    refused = await pupr.post(f"/a/{BDG}/u/{PUPR}/c/{A}/status", data={"csrf": "tok", **FORM,
                                                                      "status": "not_our_authority", "note": "n"})
    assert refused.status == 400 and len(sent) == 2


async def test_the_admin_sees_every_unit_filters_and_dispositions(desk: Any) -> None:
    v, sent, client = desk
    admin = await client(ADMIN)
    queue = await (await admin.get(f"/a/{BDG}/")).text()
    assert all(cid in queue for cid in (A, B, C)) and PUPR_NAME in queue
    only = await (await admin.get(f"/api/a/{BDG}/queue?unit={PUPR}")).json()
    assert [c["complaint_id"] for c in only["complaints"]] == [A]
    none = await (await admin.get(f"/api/a/{BDG}/queue?unit=-")).json()
    assert [c["complaint_id"] for c in none["complaints"]] == [C]
    assert (await admin.get(f"/a/{BDG}/?unit=no-such-unit")).status == 400
    assert (await admin.get(f"/a/{BDG}/u/{PUPR}/")).status == 404  # an admin has no unit's address
    page = await (await admin.get(f"/a/{BDG}/c/{C}")).text()
    assert 'data-action="disposed"' in page
    acted = await admin.post(f"/a/{BDG}/c/{C}/status", allow_redirects=False,
                             data={"csrf": "tok", **FORM, "status": "disposed", "unit_id": PUPR})
    assert acted.status == 303
    moved = await admin.post(f"/a/{BDG}/c/{B}/status", allow_redirects=False,
                             data={"csrf": "tok", "form_id": "m" * 24, "status": "disposed", "unit_id": PUPR})
    assert moved.status == 303
    assert [(s.complaint_id, s.status, s.unit_id) for s in sent] == [
        (C, Status.disposed, PUPR), (B, Status.disposed, PUPR)]
    no_token = await admin.post(f"/a/{BDG}/c/{C}/status", data={**FORM, "status": "disposed", "unit_id": PUPR})
    assert no_token.status == 403 and len(sent) == 2
    for s in sent:  # judged, read back: both are PUPR's now
        apply_record(v, STATUS, StatusEvent(**s.model_dump()).to_bytes())
    assert sorted(r.complaint_id for r in v.queue(BDG, PUPR)) == sorted([A, B, C])


def test_a_disposition_is_no_first_response_on_the_desk_either() -> None:
    # As in the SLA monitor: a complaint dispositioned (by the rules or the admin) is still to
    # be answered, so the first response stays offered and its clock keeps running.
    v = bandung()
    v.status(disposed(A, PUPR, MON + timedelta(hours=1), rule_id="jalan-air"))
    assert "acknowledged" in offered(v, A, PUPR) and "acknowledged" in offered(v, A, None)
    facts, _ = v.holding(BDG, A) or (None, None)
    assert facts is not None
    [first] = [c for c in v.clocks(facts, BDG) if c.name == "first_response"]
    assert first.state == "running"
    v.status(StatusEvent.model_validate({"event_id": "ack-1", "complaint_id": A, "status": "acknowledged",
                                         "agency_id": BDG, "at": (MON + timedelta(hours=2)).isoformat()}))
    assert "acknowledged" not in offered(v, A, PUPR)
    [first] = [c for c in v.clocks(facts, BDG) if c.name == "first_response"]
    assert first.state == "stopped"


def test_a_dispositions_copy_never_replaces_the_delivery_the_desk_keeps() -> None:
    # The router writes the complaint again on the agency's topic once a disposition passed
    # (for the agency's systems and the bridge); the desk keeps what the agency received.
    v = bandung()
    copy = delivered(A, BDG, event_id="copy-A", deadlines={}, disposition={
        "status_event_id": "admin-1", "unit_id": PUPR, "unit_name": PUPR_NAME,
        "disposed_at": (MON + timedelta(hours=1)).isoformat()})
    assert apply_record(v, "agency.pemda-32-73.complaints.v1", copy.to_bytes()) is None
    facts, _ = v.holding(BDG, A) or (None, None)
    assert facts is not None
    kept = facts.deliveries[BDG]
    assert kept["event_id"] == f"d-{A}-{BDG}-1" and "disposition" not in kept
    assert kept["deadlines"]  # the delivery's own deadlines, not the copy's
    # A later routing's record is still taken (the rule is about the copy alone).
    v.delivered(delivered(A, BDG, attempt=2))
    assert v.holding(BDG, A) is not None
    assert facts.deliveries[BDG]["routing"]["attempt"] == 2
