"""The agency desk's site (aiohttp): sign-in, an agency's queue, a complaint's page, its
actions, and the same as JSON for scripts.

Who sees what: a signed-in user with the role `agency:<id>` (the agency's admin) sees that
agency's desk (`/a/<id>/`) and nothing else; one with the role `unit:<id>/<unit>` (a unit's
staff) sees that unit's desk (`/a/<id>/u/<unit>/`): only the complaints dispositioned to
that unit now. Any other agency's or unit's queue, any complaint not delivered to the agency
in the address, and for a unit any complaint not with that unit, answers 404, exactly like
an id nobody has, so ids cannot be probed. A national operator without an agency or unit
role has no desk (the operations page is theirs).

Approval (#34, when the agency's units in force ask for it): a unit's `responded` or
`resolved` is published as a draft (`desk.drafts.v1`), shown to that unit and to the admin,
who approves it (the agency's status is written then) or sends it back with a note, from the
complaint's page (`POST /a/<id>/c/<cid>/draft`: the admin's address only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any, NamedTuple
from urllib.parse import quote

from aiohttp import web

from schemas import AgencyStatus, Status, StatusDraft
from services.desk import pages
from services.desk.actions import ActionRefused, available, disposition_choices, status_from_form
from services.desk.drafts import draft_from, needs_approval, review
from services.desk.pages import desk_base
from services.desk.view import WITH_ADMIN, DeskView, QueueRow, Undelivered, undelivered_only, with_unit_only
from services.web.staff_signin import Staff, StaffSignIn
from services.web.site import NO_SCRIPT_CSP, favicon, guarded, signed_in_headers
from services.domain.complaint_id import normalise_complaint_id

Publish = Callable[[AgencyStatus], Awaitable[None]]
PublishDraft = Callable[[StatusDraft], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOTICES = {"sent": "Terkirim. Gerbang status memeriksanya; status tampil di riwayat setelah diteruskan.",
           "drafted": "Draf tersimpan: menunggu persetujuan admin instansi. Belum ada yang dikirim ke pelapor.",
           "approved": "Disetujui: tanggapan dikirim. Gerbang status memeriksanya; status tampil di riwayat "
                       "setelah diteruskan.",
           "rejected": "Draf dikembalikan ke unit dengan catatan Anda."}


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


class Posted(NamedTuple):
    """A form posted on one complaint: the desk it came from and the complaint it names."""

    form: dict[str, str]
    agency: str
    unit: str | None
    facts: Any
    cid: str


class DeskSite:
    def __init__(self, view: DeskView, signin: StaffSignIn, publish: Publish,
                 allowed_hosts: frozenset[str], publish_draft: PublishDraft | None = None):
        """`publish_draft`: writes a unit's draft or the admin's decision (None: this desk
        takes no drafts, and a unit's answer needing approval is refused)."""
        self.view, self.signin, self.publish, self.allowed_hosts = view, signin, publish, allowed_hosts
        self.publish_draft = publish_draft
        self.headers = signed_in_headers(signin.provider.origin, NO_SCRIPT_CSP)

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        return await guarded(request, handler, self.allowed_hosts, "LAPOR_DESK_ALLOWED_HOSTS",
                             methods=("GET", "HEAD", "POST"), headers=self.headers)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        self.signin.install(app)
        app.router.add_get("/", self.home)
        app.router.add_get("/static/desk.css", self.css)
        app.router.add_get("/favicon.ico", favicon)
        for desk in ("/a/{agency}/", "/a/{agency}/u/{unit}/"):  # the admin's, a unit's
            app.router.add_get(desk, self.queue)
            app.router.add_get(desk + "c/{cid}", self.complaint)
            app.router.add_post(desk + "c/{cid}/status", self.act)
            app.router.add_get("/api" + desk + "queue", self.queue_json)
            app.router.add_get("/api" + desk + "c/{cid}", self.complaint_json)
        app.router.add_post("/a/{agency}/c/{cid}/draft", self.decide)  # the admin's alone
        return app

    async def css(self, request: web.Request) -> web.Response:
        body = resources.files("services.desk").joinpath("static/desk.css").read_bytes()
        return web.Response(body=body, content_type="text/css", charset="utf-8")

    async def signed_in(self, request: web.Request) -> Staff:
        staff = await self.signin.staff(request)
        if staff is None:
            if request.path.startswith("/api/"):
                raise web.HTTPUnauthorized(reason="sign in first")
            raise web.HTTPFound(f"/auth/login?next={quote(request.path_qs)}")
        return staff

    async def desk_of(self, request: web.Request) -> tuple[Staff, str, str | None]:
        """The agency in the address, and the unit if the address names one, if the user is
        the agency's admin or that unit's staff; else 404 (not 403: a page of another agency
        or unit must look like one that does not exist). An admin has no unit's address."""
        staff = await self.signed_in(request)
        agency, unit = request.match_info["agency"], request.match_info.get("unit")
        if unit is None and agency not in staff.roles.agencies \
                or unit is not None and (agency, unit) not in staff.roles.units:
            raise web.HTTPNotFound(reason="no such page")
        return staff, agency, unit

    def holding(self, agency: str, cid_text: str, unit: str | None = None) -> tuple[Any, dict[str, Any], str]:
        """The complaint as the agency holds it; for a unit, only while it is with that unit."""
        cid = normalise_complaint_id(cid_text)
        held = self.view.holding(agency, cid) if cid is not None else None
        if held is None or cid is None or unit is not None and not self.view.with_unit(held[0], agency, unit):
            raise web.HTTPNotFound(reason="no such complaint")
        return held[0], held[1], cid

    def unit_name(self, agency: str, unit: str) -> str:
        found = self.view.units.of(agency).unit(unit)
        return found.name if found else unit

    def rows(self, request: web.Request, agency: str, unit: str | None) -> list[QueueRow] | None:
        """The queue in the address: a unit's own; the admin's, filtered by `?unit=` (a
        unit's id, or `-`: those no unit has). None: a filter that is not one."""
        chosen = request.query.get("unit", "")
        if unit is not None:
            return self.view.queue(agency, unit) if not chosen else None
        rows = self.view.queue(agency)
        if not chosen:
            return rows
        if chosen != WITH_ADMIN and self.view.units.of(agency).unit(chosen) is None:
            return None
        return with_unit_only(rows, chosen)

    def draft_shown(self, agency: str, cid: str, unit: str | None) -> StatusDraft | None:
        """The complaint's draft as this desk shows it: the admin any unit's, a unit its own."""
        draft = self.view.draft_of(agency, cid)
        return draft if draft is not None and (unit is None or draft.unit_id == unit) else None

    def name(self, agency: str) -> str:
        found = self.view.registry.get(agency)
        return found.name if found else agency

    async def home(self, request: web.Request) -> web.StreamResponse:
        staff = await self.signin.staff(request)
        if staff is None:
            return html(pages.message_page("Meja instansi SP4N-LAPOR!",
                                           "Petugas instansi masuk untuk mengerjakan antrean aduan.",
                                           links=[("/auth/login", "Masuk")]))
        desks = [(desk_base(a), self.name(a)) for a in sorted(staff.roles.agencies)] + [
            (desk_base(a, u), f"{self.unit_name(a, u)} ({self.name(a)})") for a, u in sorted(staff.roles.units)]
        if len(desks) == 1:
            raise web.HTTPFound(desks[0][0])
        if not desks:
            return html(pages.message_page("Akun ini tidak punya meja", "Akun Anda belum punya peran instansi; "
                                           "mintalah kepada administrator.", staff.name, staff.csrf),
                        status=403)
        return html(pages.message_page("Meja Anda", "Pilih instansi atau unit.", staff.name, staff.csrf, desks))

    async def queue(self, request: web.Request) -> web.StreamResponse:
        """`?undelivered=1`: only what the agency's own system never took (the bridge's marks);
        the admin's `?unit=`: one unit's complaints (`-`: those with no unit)."""
        staff, agency, unit = await self.desk_of(request)
        only, rows = only_undelivered(request), self.rows(request, agency, unit)
        if only is None or rows is None:
            return html(pages.message_page("Alamat tidak dikenal", "undelivered hanya boleh 1; unit harus unit "
                                           "instansi ini.", staff.name, staff.csrf,
                                           [(desk_base(agency, unit), "Antrean")]), status=400)
        marked = undelivered_only(rows)
        units = [(u.unit_id, u.name, None) for u in self.view.units.of(agency).active_units()]
        return html(pages.queue_page(agency, self.name(agency), marked if only else rows, staff.name,
                                     staff.csrf, self.view.now, self.view.registry.timezone(agency),
                                     len(marked), only, unit, self.unit_name(agency, unit) if unit else None,
                                     request.query.get("unit"), units))

    async def complaint(self, request: web.Request, error: str | None = None) -> web.StreamResponse:
        staff, agency, unit = await self.desk_of(request)
        facts, delivery, cid = self.holding(agency, request.match_info["cid"], unit)
        agencies = sorted(((a.id, a.name) for a in self.view.registry.agencies.values()
                           if not a.id.startswith("pemda-")), key=lambda x: x[1])
        page = pages.complaint_page(agency, delivery, self.view.clocks(facts, agency),
                                    self.view.timeline(facts, agency), available(self.view, facts, agency, unit),
                                    agencies, staff.name, staff.csrf,
                                    NOTICES.get(request.query.get("notice", "")), error,
                                    self.view.registry.timezone(agency),
                                    self.view.undelivered_mark(facts, agency), self.name, unit,
                                    self.view.current_unit(facts, agency),
                                    disposition_choices(self.view, facts, agency) if unit is None else (),
                                    self.draft_shown(agency, cid, unit),
                                    needs_approval(self.view, agency, unit, Status.responded),
                                    lambda u: self.unit_name(agency, u))
        return html(page, status=400 if error else 200)

    async def signed_form(self, request: web.Request) -> dict[str, str] | web.Response:
        """A posted form of a signed-in member of this desk, with this site's CSRF token; or
        the 403 to answer."""
        staff = await self.signin.staff(request)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if staff is None or not await self.signin.action_allowed(request, staff, form.get("csrf")):
            return web.json_response({"error": "not signed in, or the form is not this site's"}, status=403)
        return form

    def event_time(self) -> datetime:
        """The wall clock, or the ticks' when they run ahead of it (the demo's accelerated
        week); never before the moment the desk already shows."""
        return max(datetime.now(UTC), self.view.now or datetime.now(UTC))

    async def posted(self, request: web.Request) -> Posted | web.Response:
        """A form posted on one complaint by a signed-in member of this desk (its CSRF token
        this site's), with the complaint it names; or the answer to give instead."""
        form = await self.signed_form(request)
        if isinstance(form, web.Response):
            return form
        _, agency, unit = await self.desk_of(request)
        facts, _, cid = self.holding(agency, request.match_info["cid"], unit)
        return Posted(form, agency, unit, facts, cid)

    async def act(self, request: web.Request) -> web.StreamResponse:
        posted = await self.posted(request)
        if isinstance(posted, web.Response):
            return posted
        form, agency, unit, facts, cid = posted
        try:
            at = self.event_time()
            event = status_from_form(self.view, facts, agency, cid, form, at, unit)
            draft = draft_from(event, unit) if unit is not None and needs_approval(
                self.view, agency, unit, event.status) else None
            if draft is not None and self.publish_draft is None:
                raise ActionRefused("meja ini tidak menerima draf: hubungi operator")
        except ActionRefused as exc:
            return await self.complaint(request, error=str(exc))
        if draft is not None and self.publish_draft is not None:  # waits for the admin's approval
            await self.publish_draft(draft)
            raise web.HTTPSeeOther(f"{desk_base(agency, unit)}c/{cid}?notice=drafted")
        await self.publish(event)
        # A unit that handed the complaint back no longer sees it: back to its queue.
        if unit is not None and event.unit_id is None and event.status.value == "disposed":
            raise web.HTTPSeeOther(desk_base(agency, unit))
        raise web.HTTPSeeOther(f"{desk_base(agency, unit)}c/{cid}?notice=sent")

    async def decide(self, request: web.Request) -> web.StreamResponse:
        """The admin's decision on a unit's draft: approve (the agency's status, then the
        draft marked approved) or send it back with a note."""
        posted = await self.posted(request)
        if isinstance(posted, web.Response):
            return posted
        form, agency, unit, facts, cid = posted
        try:
            at = self.event_time()
            event, decided = review(self.view, facts, agency, form, at)
            if self.publish_draft is None:
                raise ActionRefused("meja ini tidak menerima draf: hubungi operator")
        except ActionRefused as exc:
            return await self.complaint(request, error=str(exc))
        if event is not None:  # the status first: a draft marked approved has its status written
            await self.publish(event)
        await self.publish_draft(decided)
        raise web.HTTPSeeOther(f"{desk_base(agency)}c/{cid}?notice={decided.state}")

    async def queue_json(self, request: web.Request) -> web.StreamResponse:
        """`?offset=&limit=` (limit at most 1,000): the queue in the page's order;
        `undelivered=1`: only what the agency's own system never took; the admin's `unit=`:
        one unit's (`-`: no unit's)."""
        _, agency, unit = await self.desk_of(request)
        try:
            offset = max(0, int(request.query.get("offset", "0")))
            limit = min(1000, max(1, int(request.query.get("limit", "200"))))
        except ValueError:
            return web.json_response({"error": "offset and limit are whole numbers"}, status=400)
        only, rows = only_undelivered(request), self.rows(request, agency, unit)
        if only is None or rows is None:
            return web.json_response({"error": "undelivered is 1 or absent; unit is a unit of the agency, "
                                      "or -"}, status=400)
        if only:
            rows = undelivered_only(rows)
        return web.json_response({"total": len(rows), "offset": offset, "complaints": [{
            "complaint_id": r.complaint_id, "role": r.role, "category": r.category,
            "routed_at": r.routed_at.isoformat(), "last_status": r.last_status,
            "clocks": [clock_json(c) for c in r.clocks], "undelivered": undelivered_json(r.undelivered),
            "unit": {"unit_id": r.unit.unit_id, "name": r.unit.name} if r.unit else None,
            "awaiting_approval": r.awaiting_approval}
            for r in rows[offset:offset + limit]]})

    async def complaint_json(self, request: web.Request) -> web.StreamResponse:
        _, agency, unit = await self.desk_of(request)
        facts, delivery, cid = self.holding(agency, request.match_info["cid"], unit)
        current = self.view.current_unit(facts, agency)
        draft = self.draft_shown(agency, cid, unit)
        return web.json_response({
            "complaint": delivery, "clocks": [clock_json(c) for c in self.view.clocks(facts, agency)],
            "timeline": self.view.timeline(facts, agency),
            "actions": [a.name for a in available(self.view, facts, agency, unit)],
            "undelivered": undelivered_json(self.view.undelivered_mark(facts, agency)),
            "unit": {"unit_id": current.unit_id, "name": current.name} if current else None,
            "draft": draft.model_dump(mode="json", exclude_none=True) if draft else None})



def only_undelivered(request: web.Request) -> bool | None:
    """The queue filter `undelivered`: absent (or empty) is off, 1 is on; None: anything else."""
    value = request.query.get("undelivered", "")
    return {"": False, "1": True}.get(value)


def undelivered_json(mark: Undelivered | None) -> dict[str, Any] | None:
    """The bridge's mark with the contract's codes (bridge.undelivered.v1), or None."""
    if mark is None:
        return None
    out = {"reason": mark.reason, "at": mark.at.isoformat(), "http_status": mark.http_status}
    if mark.unit_id is not None:  # a disposition's copy the unit's own endpoint did not take
        out["unit_id"] = mark.unit_id
    return out


def clock_json(c: Any) -> dict[str, Any]:
    return {"clock": c.name, "state": c.state, "due_at": c.due_at.isoformat() if c.due_at else None,
            "working_days_left": c.days_left, "breach_level": c.level}
