"""What an agency's staff may do to a complaint from the desk, and the status it becomes
(pure). Each action is an `agency-status.<id>.v1` record, exactly what the agency's own
system would publish: the status gate stays the authority on whether it counts.

The event id is derived from the form the page handed out (a random id per rendered form),
so a double click or a resent form publishes the same status twice under one id, which
every stage treats as one.

Inside the agency (units, #34): its admin (`unit` None) may do everything the agency may
and disposition the complaint to an active unit, or move it to another; a unit's staff act
on a complaint dispositioned to their unit only, with the agency's actions except
`not_our_authority` (whether the agency answers for it is the admin's call) and may hand it
back to the admin (`disposed` without a unit, with a note). Both are `disposed` on the
agency's own status topic, judged like every other status."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from schemas import AgencyStatus, SlaTier, Status
from services.desk.view import DeskView, Facts

FORM_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
NOTE_MAX = 5000


@dataclass(frozen=True)
class Action:
    status: Status
    label: str
    note_required: bool = False
    takes_target: bool = False
    takes_unit: bool = False  # the admin's disposition: to the unit chosen on the form
    key: str = ""  # the form's `status` value (default: the status's own code)

    @property
    def name(self) -> str:
        return self.key or self.status.value


ACTIONS = {a.name: a for a in (
    Action(Status.acknowledged, "Terima (tanggapan pertama)"),
    Action(Status.in_progress, "Sedang diproses"),
    Action(Status.info_requested, "Minta keterangan pelapor (jam SLA dijeda)"),
    Action(Status.info_received, "Keterangan diterima (jam SLA berjalan lagi)"),
    Action(Status.field_inspection_required, "Perlu pemeriksaan lapangan (60 hari kerja)"),
    Action(Status.responded, "Kirim tanggapan ke pelapor", note_required=True),
    Action(Status.resolved, "Selesai"),
    Action(Status.not_our_authority, "Bukan wewenang kami", note_required=True,
           takes_target=True),
)}
DISPOSE = Action(Status.disposed, "Disposisikan ke unit", takes_unit=True)
HAND_BACK = Action(Status.disposed, "Bukan wewenang unit (kembalikan ke admin)", note_required=True,
                   key="handed_back")
EVERY_ACTION = {**ACTIONS, DISPOSE.name: DISPOSE, HAND_BACK.name: HAND_BACK}
ADMINS_OWN = {Status.not_our_authority}  # whether the agency answers for it: not a unit's call


class ActionRefused(ValueError):
    """The form asks for something the desk does not send; the message says what."""


def available(view: DeskView, facts: Facts, agency_id: str, unit_id: str | None = None) -> list[Action]:
    """The actions open to the agency now (`unit_id`: to that unit's staff): none on a copy
    (tembusan), on a complaint passed on or finished, and none to a unit it is not
    dispositioned to; a pause is asked for once and ended once; a field inspection once, and
    never on the 5-day tier, which has no resolution clock. The admin dispositions (to an
    active unit other than the one that has it, while there is one); a unit hands back, and
    drafts no second answer while its draft waits for approval."""
    if not view.is_current_holder(facts, agency_id) or not view.is_open(facts, agency_id):
        return []
    if unit_id is not None and not view.with_unit(facts, agency_id, unit_id):
        return []
    delivery = facts.deliveries[agency_id]
    own = [s["status"] for s in view.own_statuses(facts, agency_id)]
    # A disposition is no answer to the reporter: the first response is still to give.
    answered = [s for s in own if s != Status.disposed.value]
    paused = view.is_paused(facts, agency_id)
    # A unit's answer waiting for the admin's approval (services/desk/drafts.py): not a second one.
    draft = view.pending_draft(agency_id, delivery["complaint_id"]) if unit_id is not None else None
    waiting = draft is not None and draft.unit_id == unit_id
    out = []
    for action in ACTIONS.values():
        s = action.status
        if s is Status.acknowledged and answered:
            continue
        if s is Status.info_requested and paused or s is Status.info_received and not paused:
            continue
        if s is Status.field_inspection_required and (
                delivery.get("sla_tier") != SlaTier.dispute_14d.value or s.value in own):
            continue
        if unit_id is not None and s in ADMINS_OWN:
            continue
        if waiting and s in (Status.responded, Status.resolved):
            continue
        out.append(action)
    if unit_id is not None:
        out.append(HAND_BACK)
    elif disposition_choices(view, facts, agency_id):
        out.insert(0, DISPOSE)  # the admin's first call on a complaint: which unit answers it
    return out


def disposition_choices(view: DeskView, facts: Facts, agency_id: str) -> list[tuple[str, str, str | None]]:
    """The units the admin may disposition the complaint to: (unit_id, name, parent's name)
    of every active unit of the agency but the one that has it now."""
    units = view.units.of(agency_id)
    current = view.current_unit(facts, agency_id)
    out = []
    for unit in units.active_units():
        if current is not None and unit.unit_id == current.unit_id:
            continue
        parent = units.unit(unit.parent_id)
        out.append((unit.unit_id, unit.name, parent.name if parent else None))
    return out


def status_from_form(view: DeskView, facts: Facts, agency_id: str, complaint_id: str,
                     form: dict[str, str], at: datetime, unit_id: str | None = None) -> AgencyStatus:
    """The agency status a submitted action form asks for (`unit_id`: from that unit's
    staff; None: from the agency's admin), or ActionRefused."""
    choice = EVERY_ACTION.get(form.get("status", ""))
    if choice is None or choice not in available(view, facts, agency_id, unit_id):
        raise ActionRefused("tindakan itu tidak tersedia untuk aduan ini sekarang")
    form_id = form.get("form_id", "")
    if not FORM_ID.fullmatch(form_id):
        raise ActionRefused("formulir tidak lengkap: muat ulang halaman")
    note = (form.get("note") or "").strip() or None
    if choice.note_required and note is None:
        raise ActionRefused("tindakan ini memerlukan catatan")
    if note is not None and len(note) > NOTE_MAX:
        raise ActionRefused(f"catatan lebih dari {NOTE_MAX} karakter")
    target = (form.get("target_agency_id") or "").strip() or None if choice.takes_target else None
    if target is not None and (target == agency_id or target not in view.registry):
        raise ActionRefused("instansi yang diusulkan tidak dikenal (atau instansi ini sendiri)")
    to_unit = None
    if choice.takes_unit:
        to_unit = (form.get("unit_id") or "").strip()
        if to_unit not in {u for u, _, _ in disposition_choices(view, facts, agency_id)}:
            raise ActionRefused("unit itu tidak ada, sudah tidak aktif, atau sudah memegang aduan ini")
    digest = hashlib.sha256(f"{agency_id}|{complaint_id}|{choice.status.value}|{form_id}".encode()).hexdigest()
    return AgencyStatus(event_id=f"desk-{digest[:32]}", complaint_id=complaint_id,
                        status=choice.status, agency_id=agency_id, at=at, note=note,
                        target_agency_id=target, unit_id=to_unit)
