"""Approval by the liaison officer (#34, optional per agency: `UnitSet.approval`): a unit's
`responded`/`resolved` on the desk is a draft (desk.drafts.v1), not a status, until the
agency's admin approves it (one status, the draft's note, an id derived from the draft) or
sends it back with a note (the unit sees it and may draft again). The admin's own answers
need no approval, a unit's staff cannot approve, and every repeat is one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from schemas import AgencyStatus, Status, StatusDraft, StatusEvent, UnitSet
from services.desk.actions import available
from services.desk.drafts import approved_status_id
from services.desk.view import KEY_MISMATCH, DeskView, apply_record
from services.desk.web import DeskSite
from services.runtime.topics import DRAFTS, STATUS, UNITS
from tests.unit.test_desk import A, B, FORM, MON, delivered
from tests.unit.test_desk_units import ADMIN, BDG, DINKES, PUPR, PUPR_STAFF, FakeSignIn, bandung, disposed

ANSWER = "Lubang di Jl. Soekarno-Hatta sudah ditambal pada 7 Oktober."
UNIT = f"/a/{BDG}/u/{PUPR}/c/{A}"
ADMIN_PAGE = f"/a/{BDG}/c/{A}"


def with_approval(v: DeskView, on: bool = True) -> None:
    """The agency publishes its units again with approval on (as `lapor units publish` would)."""
    starting = v.units.of(BDG).unit_set
    published = UnitSet.model_validate({**starting.model_dump(mode="json"), "version": 1, "approval": on})
    assert apply_record(v, UNITS, published.to_bytes(), BDG.encode()) is None


def read_draft(v: DeskView, draft: StatusDraft) -> str | None:
    """What every desk worker does with a draft on the topic."""
    return apply_record(v, DRAFTS, draft.to_bytes(), f"{draft.agency_id}|{draft.complaint_id}".encode())


def read_status(v: DeskView, sent: AgencyStatus) -> None:
    """The status judged and read back from complaints.status.v1."""
    assert apply_record(v, STATUS, StatusEvent(**sent.model_dump()).to_bytes()) is None


class Desk:
    def __init__(self) -> None:
        self.view = bandung()
        self.view.status(disposed(A, PUPR, MON + timedelta(hours=1)))
        self.view.status(disposed(B, DINKES, MON + timedelta(hours=1)))
        self.sent: list[AgencyStatus] = []
        self.drafts: list[StatusDraft] = []
        self.clients: list[TestClient[web.Request, web.Application]] = []

    async def publish(self, event: AgencyStatus) -> None:
        self.sent.append(event)

    async def publish_draft(self, draft: StatusDraft) -> None:
        self.drafts.append(draft)

    async def client(self, roles: Any) -> TestClient[web.Request, web.Application]:
        site = DeskSite(self.view, FakeSignIn(roles), self.publish, frozenset({"127.0.0.1"}),  # type: ignore[arg-type]
                        self.publish_draft)
        c = TestClient(TestServer(site.app(), host="127.0.0.1"))
        await c.start_server()
        self.clients.append(c)
        return c


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    d = Desk()
    yield d
    for c in d.clients:
        await c.close()


async def post(c: TestClient[web.Request, web.Application], path: str, **form: str) -> Any:
    return await c.post(path, data={"csrf": "tok", **form}, allow_redirects=False)


async def drafted(desk: Desk, status: str = "responded", form_id: str = "f" * 24) -> StatusDraft:
    """PUPR's staff answer; the draft is read back by the desk."""
    pupr = await desk.client(PUPR_STAFF)
    answer = await post(pupr, f"{UNIT}/status", form_id=form_id, status=status, note=ANSWER)
    assert answer.status == 303 and answer.headers["Location"] == f"{UNIT}?notice=drafted"
    draft = desk.drafts[-1]
    assert read_draft(desk.view, draft) is None
    return draft


async def test_approval_off_a_units_answer_is_a_status_as_today(desk: Desk) -> None:
    with_approval(desk.view, on=False)
    pupr = await desk.client(PUPR_STAFF)
    page = await (await pupr.get(UNIT)).text()
    assert "menunggu persetujuan" not in page
    answer = await post(pupr, f"{UNIT}/status", **FORM, status="responded", note=ANSWER)
    assert answer.status == 303 and answer.headers["Location"] == f"{UNIT}?notice=sent"
    assert [(s.status, s.note) for s in desk.sent] == [(Status.responded, ANSWER)] and desk.drafts == []


async def test_approval_on_a_units_answer_is_a_draft_not_a_status(desk: Desk) -> None:
    with_approval(desk.view)
    pupr = await desk.client(PUPR_STAFF)
    page = await (await pupr.get(UNIT)).text()
    assert "Kirim tanggapan ke pelapor (draf: menunggu persetujuan admin)" in page
    # The draft is what the reporter will read: `resolved` too needs its text.
    refused = await post(pupr, f"{UNIT}/status", **FORM, status="resolved")
    assert refused.status == 400 and "draf tanggapan memerlukan catatan" in await refused.text()
    # The same form sent twice (a double click, before the draft is read back): one draft.
    for _ in range(2):
        answer = await post(pupr, f"{UNIT}/status", **FORM, status="responded", note=ANSWER)
        assert answer.status == 303 and answer.headers["Location"] == f"{UNIT}?notice=drafted"
    assert desk.sent == []  # nothing reaches the gate, the clocks or the reporter
    draft = desk.drafts[0]
    assert [d.draft_id for d in desk.drafts] == 2 * [draft.draft_id]
    assert (draft.agency_id, draft.complaint_id, draft.unit_id, draft.status, draft.note, draft.state) == (
        BDG, A, PUPR, Status.responded, ANSWER, "pending")
    for d in desk.drafts:
        assert read_draft(desk.view, d) is None
    waiting = desk.view.pending_draft(BDG, A)
    assert waiting is not None and waiting.draft_id == draft.draft_id
    # Read back, it waits: no second answer from the unit meanwhile.
    other = await post(pupr, f"{UNIT}/status", form_id="o" * 24, status="resolved", note=ANSWER)
    assert other.status == 400 and len(desk.drafts) == 2
    facts, _ = desk.view.holding(BDG, A) or (None, None)
    assert facts is not None
    assert not {"responded", "resolved"} & {a.name for a in available(desk.view, facts, BDG, PUPR)}
    assert {"responded", "resolved"} <= {a.name for a in available(desk.view, facts, BDG)}
    # The unit sees its draft waiting, without the admin's forms.
    page = await (await pupr.get(UNIT)).text()
    assert 'data-state="pending"' in page and ANSWER in page and 'data-decision' not in page
    queue = await (await pupr.get(f"/a/{BDG}/u/{PUPR}/")).text()
    assert 'data-draft="pending"' in queue


async def test_the_admin_sees_the_pending_draft_and_its_own_answers_need_no_approval(desk: Desk) -> None:
    with_approval(desk.view)
    draft = await drafted(desk)
    admin = await desk.client(ADMIN)
    queue = await (await admin.get(f"/a/{BDG}/")).text()
    assert f'<tr data-complaint="{A}" data-role="primary" data-draft="pending">' in queue
    assert "1 draf unit menunggu persetujuan" in queue and queue.count('data-draft="pending"') == 1
    rows = (await (await admin.get(f"/api/a/{BDG}/queue")).json())["complaints"]
    assert {r["complaint_id"]: r["awaiting_approval"] for r in rows}[A] is True
    page = await (await admin.get(ADMIN_PAGE)).text()
    assert f'data-draft="{draft.draft_id}" data-state="pending"' in page and ANSWER in page
    assert 'data-decision="approve"' in page and 'data-decision="reject"' in page
    assert (await (await admin.get(f"/api/a/{BDG}/c/{A}")).json())["draft"]["note"] == ANSWER
    # Dinkes's staff never see PUPR's draft: not while PUPR has the complaint, nor once the
    # admin moves it to Dinkes (the draft is PUPR's text; Dinkes answers on its own).
    dinkes = await desk.client(type(PUPR_STAFF)(False, frozenset(), frozenset({(BDG, DINKES)})))
    assert (await dinkes.get(f"/a/{BDG}/u/{DINKES}/c/{A}")).status == 404
    desk.view.status(disposed(A, DINKES, MON + timedelta(hours=2)))
    moved = await dinkes.get(f"/a/{BDG}/u/{DINKES}/c/{A}")
    assert moved.status == 200 and ANSWER not in await moved.text()
    assert (await (await dinkes.get(f"/api/a/{BDG}/u/{DINKES}/c/{A}")).json())["draft"] is None
    own = await post(admin, f"{ADMIN_PAGE}/status", form_id="a" * 24, status="resolved", note="selesai")
    assert own.status == 303 and [(s.status, s.unit_id) for s in desk.sent] == [(Status.resolved, None)]
    assert len(desk.drafts) == 1


async def test_approved_the_draft_is_one_status_with_its_note(desk: Desk) -> None:
    with_approval(desk.view)
    draft = await drafted(desk)
    admin = await desk.client(ADMIN)
    approve = {"draft_id": draft.draft_id, "decision": "approve"}
    first = await post(admin, f"{ADMIN_PAGE}/draft", **approve)
    assert first.status == 303 and first.headers["Location"] == f"{ADMIN_PAGE}?notice=approved"
    # A double click (or another worker) before the approval is read: the same status id.
    await post(admin, f"{ADMIN_PAGE}/draft", **approve)
    assert [(s.status, s.note, s.agency_id, s.unit_id, s.event_id) for s in desk.sent] == 2 * [
        (Status.responded, ANSWER, BDG, None, approved_status_id(draft))]
    assert [d.state for d in desk.drafts[1:]] == ["approved", "approved"]
    for d in desk.drafts[1:]:
        read_draft(desk.view, d)
    for s in desk.sent:
        read_status(desk.view, s)  # the judge keeps one; the desk reads at least once
    facts, _ = desk.view.holding(BDG, A) or (None, None)
    assert facts is not None
    assert [t["note"] for t in desk.view.timeline(facts, BDG) if t["status"] == "responded"] == [ANSWER]
    # Read back approved, it is never open again, whatever arrives late of the unit's form.
    assert read_draft(desk.view, draft) is None and desk.view.pending_draft(BDG, A) is None
    late = await post(admin, f"{ADMIN_PAGE}/draft", **approve)
    assert late.status == 400 and "sudah diputuskan" in await late.text() and len(desk.sent) == 2
    page = await (await admin.get(ADMIN_PAGE)).text()
    assert 'data-state="approved"' in page and 'data-decision' not in page


async def test_rejected_the_draft_goes_back_to_the_unit_with_the_note(desk: Desk) -> None:
    with_approval(desk.view)
    draft = await drafted(desk)
    admin = await desk.client(ADMIN)
    no_note = await post(admin, f"{ADMIN_PAGE}/draft", draft_id=draft.draft_id, decision="reject")
    assert no_note.status == 400 and len(desk.drafts) == 1
    back = await post(admin, f"{ADMIN_PAGE}/draft", draft_id=draft.draft_id, decision="reject",
                      review_note="Sebutkan tanggal perbaikan dan nomor SPK")
    assert back.status == 303 and back.headers["Location"] == f"{ADMIN_PAGE}?notice=rejected"
    rejected = desk.drafts[-1]
    assert (rejected.draft_id, rejected.state, rejected.review_note) == (
        draft.draft_id, "rejected", "Sebutkan tanggal perbaikan dan nomor SPK")
    assert desk.sent == []
    read_draft(desk.view, rejected)
    pupr = desk.clients[0]
    page = await (await pupr.get(UNIT)).text()
    assert 'data-state="rejected"' in page and "Sebutkan tanggal perbaikan dan nomor SPK" in page
    # The unit drafts again: a new draft, pending, and the rejected one is the key's past.
    again = await drafted(desk, form_id="g" * 24)
    assert again.draft_id != draft.draft_id and desk.view.pending_draft(BDG, A) == again
    assert desk.sent == []


async def test_a_units_staff_cannot_approve(desk: Desk) -> None:
    with_approval(desk.view)
    draft = await drafted(desk)
    pupr = desk.clients[0]
    for path in (f"{ADMIN_PAGE}/draft", f"{UNIT}/draft"):
        answer = await post(pupr, path, draft_id=draft.draft_id, decision="approve")
        assert answer.status == 404, path
    assert desk.sent == [] and len(desk.drafts) == 1
    admin = await desk.client(ADMIN)
    wrong = await post(admin, f"{ADMIN_PAGE}/draft", draft_id="draft-" + "0" * 32, decision="approve")
    assert wrong.status == 400 and desk.sent == []
    no_token = await admin.post(f"{ADMIN_PAGE}/draft", data={"draft_id": draft.draft_id, "decision": "approve"})
    assert no_token.status == 403 and desk.sent == []


def test_the_view_keeps_a_keys_latest_draft_and_checks_its_key() -> None:
    v = bandung()
    draft = StatusDraft(draft_id="draft-" + "a" * 32, agency_id=BDG, complaint_id=A, unit_id=PUPR,
                        status=Status.resolved, note=ANSWER, drafted_at=MON)
    assert apply_record(v, DRAFTS, draft.to_bytes(), f"{BDG}|{B}".encode()) == KEY_MISMATCH
    assert apply_record(v, DRAFTS, draft.to_bytes(), b"no key") == "invalid"
    assert v.draft_of(BDG, A) is None
    assert read_draft(v, draft) is None and v.pending_draft(BDG, A) == draft
    assert apply_record(v, DRAFTS, None, f"{BDG}|{A}".encode()) is None  # a tombstone
    assert v.draft_of(BDG, A) is None


async def test_an_approval_is_of_the_text_the_admin_was_shown(desk: Desk) -> None:
    """The unit's form resent with another text (browser back, edited, before its draft was
    read back): another draft, so an approval of the first (the page the admin saw) is
    refused once the second is read, never written out with a text nobody approved."""
    with_approval(desk.view)
    draft = await drafted(desk)
    pupr = desk.clients[0]
    desk.view.drafts.clear()  # this worker has not read its draft back yet
    edited = await post(pupr, f"{UNIT}/status", form_id="f" * 24, status="responded", note=ANSWER + " Edit.")
    assert edited.status == 303
    swapped = desk.drafts[-1]
    assert swapped.draft_id != draft.draft_id
    assert read_draft(desk.view, swapped) is None
    admin = await desk.client(ADMIN)
    stale = await post(admin, f"{ADMIN_PAGE}/draft", draft_id=draft.draft_id, decision="approve")
    assert stale.status == 400 and "diganti" in await stale.text() and desk.sent == []


def test_an_approved_draft_stays_approved_whatever_a_lagging_worker_decides_later() -> None:
    """Approved (its status written) on one worker, sent back on another that had not read the
    approval: the reporter has the answer, so the desk keeps showing it approved."""
    v = bandung()
    draft = StatusDraft(draft_id="draft-" + "a" * 32, agency_id=BDG, complaint_id=A, unit_id=PUPR,
                        status=Status.responded, note=ANSWER, drafted_at=MON)
    approved = StatusDraft.model_validate({**draft.model_dump(), "state": "approved", "reviewed_at": MON})
    rejected = StatusDraft.model_validate({**draft.model_dump(), "state": "rejected",
                                           "review_note": "lagi", "reviewed_at": MON})
    for record in (draft, approved, rejected, draft):
        assert read_draft(v, record) is None
    held = v.draft_of(BDG, A)
    assert held is not None and held.state == "approved"
    # Sent back first, approved later (on a worker that still had it pending): the status went out.
    v2 = bandung()
    for record in (draft, rejected, approved):
        assert read_draft(v2, record) is None
    held = v2.draft_of(BDG, A)
    assert held is not None and held.state == "approved"


async def test_a_draft_of_an_earlier_routing_is_no_ones_to_approve(desk: Desk) -> None:
    """The complaint passed on while a unit's draft waited, and routed back later: that draft
    answers nothing of the new routing (the admin cannot approve it into it, the unit is not
    held back from answering, the queue shows nothing waiting)."""
    with_approval(desk.view)
    draft = await drafted(desk)
    assert desk.view.pending_draft(BDG, A) == draft
    back = draft.drafted_at + timedelta(hours=1)  # (drafted at the wall clock)
    desk.view.delivered(delivered(A, BDG, attempt=3, routed_at=back))
    desk.view.status(disposed(A, PUPR, back + timedelta(hours=1)))
    assert desk.view.pending_draft(BDG, A) is None
    assert not [r for r in desk.view.queue(BDG) if r.complaint_id == A][0].awaiting_approval
    admin = await desk.client(ADMIN)
    stale = await post(admin, f"{ADMIN_PAGE}/draft", draft_id=draft.draft_id, decision="approve")
    assert stale.status == 400 and desk.sent == []
    facts, _ = desk.view.holding(BDG, A) or (None, None)
    assert facts is not None and "responded" in {a.name for a in available(desk.view, facts, BDG, PUPR)}


async def test_a_draft_of_a_unit_that_no_longer_holds_the_complaint_is_only_sent_back(desk: Desk) -> None:
    """PUPR drafted, then the admin moved the complaint to Dinkes (or PUPR handed it back):
    PUPR's answer is no longer the answer of the unit that has it, so the admin cannot
    approve it (sending it back stays open to them, as for any draft)."""
    with_approval(desk.view)
    draft = await drafted(desk)
    admin = await desk.client(ADMIN)
    for moved_to, n in ((DINKES, 1), (None, 2)):
        desk.view.status(disposed(A, moved_to, MON + timedelta(hours=1 + n), n=n))
        assert desk.view.pending_draft(BDG, A) == draft  # still waiting, still shown
        stale = await post(admin, f"{ADMIN_PAGE}/draft", draft_id=draft.draft_id, decision="approve")
        assert stale.status == 400 and "tidak lagi memegang" in await stale.text()
        assert desk.sent == []
    # Given back to PUPR, its draft is the answer of the unit that has it again.
    desk.view.status(disposed(A, PUPR, MON + timedelta(hours=5), n=3))
    approved = await post(admin, f"{ADMIN_PAGE}/draft", draft_id=draft.draft_id, decision="approve")
    assert approved.status == 303 and [s.event_id for s in desk.sent] == [approved_status_id(draft)]
