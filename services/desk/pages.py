"""The desk's HTML, rendered on the server (no script: every action is a plain form with the
session's CSRF token). Everything that came from a topic or a user is escaped.

The words are Bahasa Indonesia, as on the operations and tracking pages: the desk is for
agency staff. Codes show as names (services/domain/labels.py: category, type and tier, region,
the routing reason, agencies); the JSON API keeps the contract's codes.

Every link and form goes under the desk's own address (`base`): `/a/<agency>/` for the
agency's admin, `/a/<agency>/u/<unit>/` for a unit's staff."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from html import escape
from typing import Any

from schemas import StatusDraft
from services.desk.actions import Action
from services.desk.view import WITH_ADMIN, ClockView, CurrentUnit, QueueRow, Undelivered
from services.domain.calendar import zone
from services.domain.labels import (
    category_name, disposition_text, reason_text, region_name, type_and_tier,
)

CLOCK_NAMES = {"first_response": "Tanggapan pertama", "follow_up": "Tindak lanjut",
               "resolution": "Penyelesaian", "auto_close": "Tutup otomatis"}
LEVELS = {1: "atasan instansi", 2: "admin nasional", 3: "Ombudsman"}
STATUS_NAMES = {"acknowledged": "diterima instansi", "in_progress": "sedang diproses",
                "info_requested": "minta keterangan", "info_received": "keterangan diterima",
                "field_inspection_required": "perlu pemeriksaan lapangan", "responded": "ditanggapi",
                "resolved": "diselesaikan", "not_our_authority": "bukan wewenang",
                "assigned": "ditugaskan admin", "reporter_replied": "pelapor membalas",
                "archived": "diarsipkan", "closed": "ditutup", "new": "baru",
                "disposed": "didisposisikan"}
NO_UNIT = "Belum didisposisikan"  # with the agency's admin: no unit has it
AWAITING = "Menunggu persetujuan"  # a unit's draft answer, until the admin decides
DRAFT_STATES = {"pending": AWAITING, "approved": "Disetujui dan dikirim",
                "rejected": "Dikembalikan ke unit"}
# A unit to pick: (unit_id, name, the parent unit's name or None).
UnitChoice = tuple[str, str, str | None]


def status_name(code: str) -> str:
    return STATUS_NAMES.get(code, code)


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}
# Why the bridge could not put a complaint into the agency's own system (bridge.undelivered.v1).
UNDELIVERED_REASONS = {"bridge_refused": "ditolak", "bridge_gave_up": "dihentikan setelah batas waktu",
                       "bridge_skipped": "dilewati operator"}


def _when(value: datetime | str | None, tz: str) -> str:
    """A moment in the agency's own time zone (deadlines fall at its local midnights)."""
    if value is None:
        return "—"
    at = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(zone(tz))
    return f"{at:%Y-%m-%d %H:%M} {ZONE_NAMES.get(tz, tz)}"


def layout(title: str, body: str, staff_name: str | None = None, csrf: str | None = None) -> str:
    account = ""
    if staff_name is not None and csrf is not None:
        account = (f'<form class="signout" method="post" action="/auth/logout">'
                   f'<span>Masuk sebagai <b>{e(staff_name)}</b></span>'
                   f'<input type="hidden" name="csrf" value="{e(csrf)}">'
                   f'<button type="submit">Keluar</button></form>')
    return ("<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)} · Meja instansi LAPOR!</title><link rel=\"stylesheet\" href=\"/static/desk.css\">"
            "<link rel=\"icon\" href=\"/favicon.ico\" type=\"image/svg+xml\">"
            f"</head><body><header><a class=\"brand\" href=\"/\">SP4N-LAPOR! · Meja instansi</a>{account}</header>"
            f"<main>{body}</main></body></html>")


def undelivered_text(mark: Undelivered, tz: str) -> str:
    """The bridge's mark in words, with its time: "Tidak masuk ke sistem instansi Anda: ditolak
    (HTTP 422), 2026-10-05 10:00 WIB — tangani di sini" (plain text: escaped where it goes)."""
    why = UNDELIVERED_REASONS.get(mark.reason, mark.reason)
    if mark.http_status is not None and mark.reason != "bridge_skipped":
        answer = f"HTTP {mark.http_status}"
        why += f" ({answer})" if mark.reason == "bridge_refused" else f" (jawaban terakhir {answer})"
    elif mark.reason == "bridge_gave_up":
        why += " (tanpa jawaban)"
    system = "instansi Anda" if mark.unit_id is None else f"unit {mark.unit_id}"
    return f"Tidak masuk ke sistem {system}: {why}, {_when(mark.at, tz)} — tangani di sini"


def undelivered_mark(mark: Undelivered | None, tz: str, tag: str = "span") -> str:
    if mark is None:
        return ""
    return (f'<{tag} class="undelivered" data-undelivered="{e(mark.reason)}" role="note">'
            f'{e(undelivered_text(mark, tz))}</{tag}>')


def clock_cell(clock: ClockView, tz: str) -> str:
    name = CLOCK_NAMES.get(clock.name, clock.name)
    if clock.state == "stopped":
        text = "berhenti"
    elif clock.state == "paused":
        text = "dijeda (menunggu keterangan pelapor)"
    elif clock.days_left is None:
        text = f"tenggat {_when(clock.due_at, tz)}"
    elif clock.state == "breached" or clock.days_left < 0:
        over = -clock.days_left if clock.days_left < 0 else 0
        text = f"terlambat {over} hari kerja"
        if clock.level:
            text += f" · level {clock.level} ({LEVELS.get(clock.level, '')})"
    elif clock.days_left == 0:
        text = "tenggat hari ini"
    else:
        text = f"sisa {clock.days_left} hari kerja setelah hari ini"
    return (f'<span class="clock {e(clock.state)}" data-clock="{e(clock.name)}" '
            f'data-state="{e(clock.state)}" data-level="{clock.level}" title="tenggat {e(_when(clock.due_at, tz))}">'
            f'{e(name)}: {e(text)}</span>')


QUEUE_SHOWN = 200  # rows on the page (the nearest deadlines); the JSON API pages further


def desk_base(agency_id: str, unit_id: str | None = None) -> str:
    """The desk's own address: the agency's admin's, or one unit's staff's."""
    return f"/a/{agency_id}/" + (f"u/{unit_id}/" if unit_id is not None else "")


def queue_page(agency_id: str, agency_name: str, rows: list[QueueRow], staff_name: str, csrf: str,
               now: datetime | None, tz: str, undelivered: int = 0, only_undelivered: bool = False,
               unit_id: str | None = None, unit_name: str | None = None,
               unit_filter: str | None = None, units: Iterable[UnitChoice] | None = None) -> str:
    """`rows`: the queue as shown (filtered already when `only_undelivered`, or to
    `unit_filter`); `undelivered`: how many open complaints the agency's own system never
    took (the filter's count). `unit_id`/`unit_name`: a unit's queue; else the admin's, which
    shows each complaint's unit and filters by `units` (`unit_filter`, `WITH_ADMIN`: none)."""
    admin = unit_id is None
    base = e(desk_base(agency_id, unit_id))
    lines = []
    for r in rows[:QUEUE_SHOWN]:
        role = '<span class="copy">tembusan</span>' if r.role == "copy" else ""
        clocks = " ".join(clock_cell(c, tz) for c in r.clocks) or "—"
        marked = f' data-undelivered="{e(r.undelivered.reason)}"' if r.undelivered else ""
        marked += ' data-draft="pending"' if r.awaiting_approval else ""
        waiting = f'<div class="awaiting">{AWAITING}</div>' if r.awaiting_approval else ""
        held_by = (f'<td data-unit="{e(r.unit.unit_id if r.unit else "")}">'
                   f'{e(r.unit.name if r.unit else ("—" if r.role == "copy" else NO_UNIT))}</td>'
                   if admin else "")
        lines.append(
            f'<tr data-complaint="{e(r.complaint_id)}" data-role="{e(r.role)}"{marked}>'
            f'<td><a href="{base}c/{e(r.complaint_id)}">{e(r.complaint_id)}</a> {role}</td>'
            f"<td>{e(r.title or '(tanpa judul)')}{undelivered_mark(r.undelivered, tz, 'div')}</td>"
            f"<td>{e(category_name(r.category))}</td>{held_by}"
            f"<td>{e(_when(r.routed_at, tz))}</td><td>{clocks}</td>"
            f"<td>{e(status_name(r.last_status or 'new'))}{waiting}</td></tr>")
    empty = ("Tidak ada aduan terbuka yang tidak masuk ke sistem instansi Anda." if only_undelivered
             else "Tidak ada aduan terbuka.")
    table = ("<table><thead><tr><th>Nomor lacak</th><th>Judul</th><th>Kategori</th>"
             + ("<th>Unit</th>" if admin else "") + "<th>Diterima</th>"
             "<th>Jam SLA (hari kerja)</th><th>Status terakhir</th></tr></thead><tbody>"
             + "".join(lines) + "</tbody></table>") if lines else f'<p class="empty">{e(empty)}</p>'
    shown = f" · {QUEUE_SHOWN} pertama ditampilkan" if len(rows) > QUEUE_SHOWN else ""
    if only_undelivered:
        choice = (f'<a href="{base}">Semua aduan terbuka</a> · '
                  f'<b>Hanya yang tidak masuk ke sistem instansi Anda ({undelivered})</b>')
    else:
        choice = (f'<b>Semua aduan terbuka</b> · <a href="{base}?undelivered=1">Hanya yang tidak masuk '
                  f'ke sistem instansi Anda ({undelivered})</a>')
    what = "tidak masuk ke sistem instansi" if only_undelivered else "terbuka"
    if admin:
        heading = f"<h1>{e(agency_name)} <small>({e(agency_id)})</small></h1>"
        choice += unit_filter_form(base, unit_filter, units or ())
    else:
        heading = (f"<h1>{e(unit_name or unit_id)} <small>({e(agency_name)})</small></h1>"
                   "<p class=\"meta\">Antrean unit: aduan yang didisposisikan ke unit ini.</p>")
    awaiting = sum(r.awaiting_approval for r in rows)
    drafts = (f' · <b class="awaiting">{awaiting} draf unit {AWAITING.lower()}</b>' if admin and awaiting else "")
    body = (f"{heading}<p class=\"meta\">{len(rows)} {what}{shown} · tenggat terdekat lebih dulu · "
            f"per {e(_when(now, tz))}{drafts}</p><p class=\"filter\">{choice}</p>{table}")
    return layout(f"Antrean {unit_name or agency_name}", body, staff_name, csrf)


def unit_filter_form(base: str, chosen: str | None, units: Iterable[UnitChoice]) -> str:
    """The admin's queue by unit: every unit, or those no unit has (a GET form)."""
    options = [("", "Semua unit"), (WITH_ADMIN, NO_UNIT)] + [
        (u, f"{n} ({p})" if p else n) for u, n, p in units]
    picked = "".join(f'<option value="{e(v)}"{" selected" if v == (chosen or "") else ""}>{e(t)}</option>'
                     for v, t in options)
    return (f'<form class="unit-filter" method="get" action="{base}"><label>Unit '
            f'<select name="unit">{picked}</select></label> <button type="submit">Tampilkan</button></form>')


def complaint_page(agency_id: str, delivery: dict[str, Any], clocks: list[ClockView],
                   timeline: list[dict[str, Any]], actions: list[Action], agencies: Iterable[tuple[str, str]],
                   staff_name: str, csrf: str, notice: str | None, error: str | None, tz: str,
                   undelivered: Undelivered | None = None,
                   agency_name: Callable[[str], str] = lambda a: a,
                   unit_id: str | None = None, unit: CurrentUnit | None = None,
                   units: Iterable[UnitChoice] = (), draft: StatusDraft | None = None,
                   drafting: bool = False, unit_names: Callable[[str], str] = lambda u: u) -> str:
    """`agency_name`: an agency's name by its id (the registry's), for the routing reason
    and the timeline. `unit_id`: the page of a unit's staff (else the admin's); `unit`: the
    unit the complaint is with; `units`: the admin's disposition choices. `draft`: the
    complaint's draft answer as this page may show it (the admin's: any unit's, with the
    approval forms while it waits); `drafting`: a unit's answers are drafts (approval on)."""
    cid = delivery["complaint_id"]
    reporter = delivery.get("reporter") or {}
    who = ", ".join(e(v) for k, v in reporter.items() if v) or (
        "anonim" if delivery.get("privacy") == "anonymous" else "tidak diisi")
    location = dict(delivery.get("location") or {})
    if location.get("region_code"):
        location["region_code"] = region_name(location["region_code"])
    where = ", ".join(e(v) for k, v in location.items() if isinstance(v, (str, int, float))) or "—"
    routing = delivery["routing"]
    why = reason_text(routing.get("reason"), agency_name) or f"aturan {routing['rule_id']}"
    role = ("tembusan: untuk diketahui, tanpa tindakan" if delivery["routing"]["role"] == "copy"
            else "instansi penanggung jawab")
    facts = (f"<dl><dt>Peran</dt><dd>{e(role)}</dd>"
             f"<dt>Kategori</dt><dd>{e(category_name(delivery['category']))}</dd>"
             f"<dt>Jenis</dt><dd>{e(type_and_tier(delivery['type'], delivery['sla_tier']))}</dd>"
             f"<dt>Diterima LAPOR!</dt><dd>{e(_when(delivery['accepted_at'], tz))}</dd>"
             f"<dt>Diteruskan ke sini</dt><dd>{e(_when(routing['routed_at'], tz))} "
             f"({e(why)})</dd>"
             f"<dt>Pelapor</dt><dd>{who}</dd><dt>Lokasi</dt><dd>{where}</dd>"
             + (f'<dt>Unit</dt><dd class="unit" data-unit="{e(unit.unit_id if unit else "")}">'
                f'{e(unit.name if unit else NO_UNIT)}</dd>' if routing["role"] == "primary" else "")
             + "</dl>")
    clock_list = "".join(f"<li>{clock_cell(c, tz)}</li>" for c in clocks) or "<li>tidak ada (tembusan)</li>"
    events = "".join(
        f'<li data-status="{e(t["status"])}"><time>{e(_when(t["at"], tz))}</time> '
        + (disposed_text(t) if t["status"] == "disposed" else f'<b>{e(status_name(t["status"]))}</b>')
        + f' oleh {e(agency_name(t["by"]))}'
        + (f' → {e(agency_name(t["target_agency_id"]))}' if t.get("target_agency_id") else "")
        + (f'<blockquote>{e(t["note"])}</blockquote>' if t.get("note") else "") + "</li>"
        for t in timeline) or "<li>belum ada</li>"
    banner = (f'<p class="notice" role="status">{e(notice)}</p>' if notice else "") + (
        f'<p class="error" role="alert">{e(error)}</p>' if error else "")
    base = desk_base(agency_id, unit_id)
    body = (f'<p><a href="{e(base)}">← antrean</a></p><h1>{e(delivery.get("title") or cid)}</h1>'
            f'<p class="meta">{e(cid)}</p>{banner}{undelivered_mark(undelivered, tz, "p")}{facts}'
            f'<h2>Isi aduan</h2>'
            f'<div class="body">{e(delivery["body"])}</div><h2>Jam SLA</h2><ul class="clocks">{clock_list}</ul>'
            f'<h2>Riwayat</h2><ol class="timeline">{events}</ol>'
            + (draft_section(draft, base, cid, csrf, tz, unit_id is None, unit_names) if draft else "")
            + action_forms(agency_id, cid, actions, agencies, csrf, base, units, unit is not None, drafting))
    return layout(cid, body, staff_name, csrf)


def disposed_text(step: dict[str, Any]) -> str:
    """A `disposed` in the timeline, in the words of every timeline (labels.yaml): "Didisposisikan
    ke <the unit>", or "Dikembalikan ke admin instansi" (HTML, escaped)."""
    if not step.get("unit_id"):
        return f"<b>{e(disposition_text(None))}</b>"
    marker = "\x00"  # where the unit's name goes in the words, marked up as the unit
    before, _, after = disposition_text(marker).partition(marker)
    unit = f'<span class="unit" data-unit="{e(step["unit_id"])}">{e(step.get("unit_name"))}</span>'
    return f"<b>{e(before)}{unit}{e(after)}</b>"


def draft_section(draft: StatusDraft, base: str, cid: str, csrf: str, tz: str, reviewing: bool,
                  unit_names: Callable[[str], str]) -> str:
    """A unit's draft answer: its state, its text, the admin's note on a rejection; for the
    admin (`reviewing`) while it waits, the forms that approve it or send it back."""
    head = (f'<p class="meta"><b class="awaiting">{e(DRAFT_STATES[draft.state])}</b> · '
            f'{e(status_name(draft.status.value))} · dari {e(unit_names(draft.unit_id))} · '
            f'{e(_when(draft.drafted_at, tz))}</p>')
    review = ""
    if draft.state == "rejected" and draft.review_note:
        review = (f'<p>Catatan admin ({e(_when(draft.reviewed_at, tz))}):</p>'
                  f'<blockquote class="review-note">{e(draft.review_note)}</blockquote>')
    forms = ""
    if reviewing and draft.state == "pending":
        hidden = (f'<input type="hidden" name="csrf" value="{e(csrf)}">'
                  f'<input type="hidden" name="draft_id" value="{e(draft.draft_id)}">')
        action = f'{e(base)}c/{e(cid)}/draft'
        forms = (f'<div class="actions"><form method="post" action="{action}" class="action" '
                 f'data-decision="approve">{hidden}<input type="hidden" name="decision" value="approve">'
                 f'<button type="submit">Setujui dan kirim ke pelapor</button></form>'
                 f'<form method="post" action="{action}" class="action" data-decision="reject">{hidden}'
                 f'<input type="hidden" name="decision" value="reject"><label>Catatan untuk unit (wajib) '
                 f'<textarea name="review_note" maxlength="5000" required></textarea></label>'
                 f'<button type="submit">Kembalikan ke unit</button></form></div>')
    return (f'<section class="draft" data-draft="{e(draft.draft_id)}" data-state="{e(draft.state)}">'
            f'<h2>Draf tanggapan unit</h2>{head}<blockquote class="draft-text">{e(draft.note)}</blockquote>'
            f'{review}{forms}</section>')


def action_forms(agency_id: str, cid: str, actions: list[Action], agencies: Iterable[tuple[str, str]],
                 csrf: str, base: str | None = None, units: Iterable[UnitChoice] = (),
                 has_unit: bool = False, drafting: bool = False) -> str:
    """`units`: the admin's disposition choices; `has_unit`: the complaint is with a unit
    already (the disposition is then a move); `drafting`: a unit's answers wait for the
    admin's approval (a draft, its text required)."""
    if not actions:
        return ""
    base = base or desk_base(agency_id)
    options = "".join(f'<option value="{e(a)}">{e(n)} ({e(a)})</option>' for a, n in agencies if a != agency_id)
    unit_options = "".join(f'<option value="{e(u)}">{e(n)}{f" — {e(p)}" if p else ""}</option>'
                           for u, n, p in units)
    forms = []
    for a in actions:
        extra, label = "", a.label
        if a.takes_unit:
            label = "Pindahkan ke unit lain" if has_unit else a.label
            extra += (f'<label>Unit <select name="unit_id" required><option value="">— pilih unit —</option>'
                      f'{unit_options}</select></label>'
                      f'<label>Catatan untuk unit <textarea name="note" maxlength="5000"></textarea></label>')
        if a.takes_target:
            extra += (f'<label>Usulan instansi <select name="target_agency_id"><option value="">'
                      f'— diputuskan triase —</option>{options}</select></label>')
        draft = drafting and a.status.value in ("responded", "resolved")
        if draft:
            label += " (draf: menunggu persetujuan admin)"
        if a.note_required or draft or a.status.value in ("resolved", "info_requested"):
            required = a.note_required or draft
            extra += (f'<label>Catatan{" (wajib)" if required else ""} <textarea name="note" '
                      f'maxlength="5000"{" required" if required else ""}></textarea></label>')
        forms.append(
            f'<form method="post" action="{e(base)}c/{e(cid)}/status" class="action" '
            f'data-action="{e(a.name)}"><input type="hidden" name="csrf" value="{e(csrf)}">'
            f'<input type="hidden" name="form_id" value="{secrets.token_urlsafe(18)}">'
            f'<input type="hidden" name="status" value="{e(a.name)}">{extra}'
            f'<button type="submit">{e(label)}</button></form>')
    return "<h2>Tindakan</h2><div class=\"actions\">" + "".join(forms) + "</div>"


def message_page(title: str, message: str, staff_name: str | None = None, csrf: str | None = None,
                 links: Iterable[tuple[str, str]] = ()) -> str:
    items = "".join(f'<li><a href="{e(href)}">{e(text)}</a></li>' for href, text in links)
    return layout(title, f"<h1>{e(title)}</h1><p>{e(message)}</p><ul>{items}</ul>", staff_name, csrf)
