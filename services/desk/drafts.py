"""A unit's answer waiting for its agency admin's approval (#34, optional per agency: the
units in force say `approval: true`). Pure: what a unit's form becomes, and what the admin's
decision writes.

With approval on, a unit's staff choosing `responded` or `resolved` make a draft
(`desk.drafts.v1`), not a status: nothing reaches the gate, the clocks or the reporter. The
admin (the liaison officer) approves it, and the desk writes the agency's status with the
draft's status and note, or rejects it with a note, and the unit may draft again. The admin's
own answers need no approval; agencies on Kafka or webhooks run their own.

Ids are derived, never drawn: a resent unit form is the same draft, and an approval sent
twice (a double click, two workers) is one status event id, which the judge keeps once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from schemas import AgencyStatus, Status, StatusDraft
from services.desk.actions import ACTIONS, NOTE_MAX, ActionRefused, available
from services.desk.view import DeskView, Facts

ANSWERS = (Status.responded, Status.resolved)  # what a unit's staff send to the reporter
DECISIONS = ("approve", "reject")


def needs_approval(view: DeskView, agency_id: str, unit_id: str | None, status: Status) -> bool:
    """A unit's answer while the agency's units in force ask for approval."""
    return unit_id is not None and status in ANSWERS and view.units.of(agency_id).unit_set.approval


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def draft_from(event: AgencyStatus, unit_id: str) -> StatusDraft:
    """The draft a unit's answer becomes (`event`: the status its form asked for). The draft
    is the answer the reporter will read: a note is required, `resolved` too."""
    if event.note is None:
        raise ActionRefused("draf tanggapan memerlukan catatan: teks yang akan diterima pelapor")
    assert event.agency_id is not None
    # The text is in the id: the same form resent with another text (browser back, edited) is
    # another draft, so an approval names the text the admin was shown, never a swapped one.
    return StatusDraft(draft_id=f"draft-{_digest(f'draft|{event.event_id}|{event.note}')}",
                       agency_id=event.agency_id,
                       complaint_id=event.complaint_id, unit_id=unit_id, status=event.status,
                       note=event.note, drafted_at=event.at)


def approved_status_id(draft: StatusDraft) -> str:
    """The event id of the status an approval writes: one per draft, however often approved."""
    return f"desk-{_digest(f'approved|{draft.draft_id}')}"


def review(view: DeskView, facts: Facts, agency_id: str, form: dict[str, str],
           at: datetime) -> tuple[AgencyStatus | None, StatusDraft]:
    """The admin's decision on the complaint's pending draft: (the agency's status to write,
    or None on a rejection; the decided draft), or ActionRefused."""
    cid = facts.deliveries[agency_id]["complaint_id"]
    draft = view.pending_draft(agency_id, cid)
    if draft is None or draft.draft_id != form.get("draft_id"):
        raise ActionRefused("draf itu sudah diputuskan atau diganti: muat ulang halaman")
    decision = form.get("decision")
    if decision not in DECISIONS:
        raise ActionRefused("keputusan tidak dikenal")
    if decision == "reject":
        note = (form.get("review_note") or "").strip()
        if not note:
            raise ActionRefused("draf yang dikembalikan memerlukan catatan untuk unit")
        if len(note) > NOTE_MAX:
            raise ActionRefused(f"catatan lebih dari {NOTE_MAX} karakter")
        return None, StatusDraft.model_validate({**draft.model_dump(), "state": "rejected",
                                                 "review_note": note, "reviewed_at": at})
    # A unit's answer is its own: once the complaint was moved or handed back, the unit that
    # wrote it no longer answers for the complaint, and the admin may only send it back.
    holding = view.current_unit(facts, agency_id)
    if holding is None or holding.unit_id != draft.unit_id:
        raise ActionRefused("unit penulis draf ini tidak lagi memegang aduan: kembalikan drafnya")
    if ACTIONS[draft.status.value] not in available(view, facts, agency_id):
        raise ActionRefused("aduan ini tidak bisa ditanggapi lagi (sudah selesai atau diteruskan): "
                            "kembalikan drafnya")
    status = AgencyStatus(event_id=approved_status_id(draft), complaint_id=cid, status=draft.status,
                          agency_id=agency_id, at=at, note=draft.note)
    return status, StatusDraft.model_validate({**draft.model_dump(), "state": "approved", "reviewed_at": at})
