"""The operations page and its JSON API (aiohttp, in the ops_view worker). Reads the stores;
everything the page loads is served from here (no CDN).

With a sign-in provider (LAPOR_OIDC_ISSUER) only national operators see it, and they may
assign a triaged complaint to an agency: the page's one write, the national admin's
`assigned` on admin-status.v1 (the router judges it). Without one it is read-only and must stay on a loopback
address (LAPOR_OPS_HOST, 127.0.0.1 by default): it shows no personal data, but complaint
ids, agencies and dead-letter errors are internal."""

from __future__ import annotations

import asyncio
import json
import re
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from schemas import Status, StatusEvent
from services.domain.calendar import WorkingCalendar
from services.domain.complaint_id import normalise_complaint_id
from services.domain.labels import reason_text
from services.domain.registry import Registry
from services.domain.unit_catalogue import starting_units
from services.domain.units import UnitsBook
from services.ops_view import queries
from services.ops_view.handlers import BOARD, TIMELINES
from services.web.forwarded import Network, client_address
from services.runtime.logging import get_logger
from services.web.staff_signin import Staff, StaffSignIn
from services.web.site import SECURITY_HEADERS, favicon, guarded, signed_in_headers

Assign = Callable[[StatusEvent], Awaitable[None]]
STAFF = web.RequestKey("staff", Staff)  # who signed in, for the handlers behind the check

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
PUSH_EVERY_S = 1.0
LEVELS = ("1", "2", "3")
AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

def bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)



def timeline_refusal(exc: queries.TimelineError) -> web.Response:
    """An id nobody has (404) or one mistyped (400), with the message for whoever typed it."""
    return web.json_response({"error": str(exc)}, status=404 if "no such complaint" in str(exc) else 400)


def static_file(name: str, served: Mapping[str, str]) -> web.Response:
    """One of the page's own files (`served`: name -> content type), else 404."""
    if name not in served:
        raise web.HTTPNotFound()
    body = resources.files("services.ops_view").joinpath(f"static/{name}").read_bytes()
    return web.Response(body=body, content_type=served[name], charset="utf-8")



class OpsSite:
    def __init__(self, stores: Mapping[str, Mapping[str, Any]], registry: Registry,
                 calendar: WorkingCalendar, allowed_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"}),
                 streams_per_client: int = 4, signin: StaffSignIn | None = None,
                 assign: Assign | None = None, proxies: tuple[Network, ...] = ()):
        self.stores, self.registry, self.calendar = stores, registry, calendar
        self.proxies = proxies  # behind them, a stream's client is the forwarded address
        self.allowed_hosts, self.streams_per_client = allowed_hosts, streams_per_client
        self.streams: dict[str, int] = {}  # open /events streams by client address
        self.signin, self.assign_status = signin, assign
        self.headers = dict(SECURITY_HEADERS) if signin is None else signed_in_headers(signin.provider.origin)
        self.starting = UnitsBook(starting_units(registry))  # (the late units' fallback names)

    @property
    def board(self) -> Mapping[str, Any]:
        return self.stores[BOARD]

    @property
    def timelines(self) -> Mapping[str, Any]:
        return self.stores[TIMELINES]

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        methods = ("GET", "HEAD", "POST") if self.signin is not None else ("GET", "HEAD")
        return await guarded(request, handler, self.allowed_hosts, "LAPOR_OPS_ALLOWED_HOSTS",
                             methods=methods, headers=self.headers)

    @web.middleware
    async def operators_only(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Signed-in national operators only (the page's script, style and icon aside); the page
        itself sends a stranger to sign in, the API answers 401, anyone else gets 403."""
        assert self.signin is not None
        if request.path.startswith(("/auth/", "/static/")) or request.path == "/favicon.ico":
            return await handler(request)  # type: ignore[no-any-return]
        staff = await self.signin.staff(request)
        if staff is None:
            if request.path == "/":
                raise web.HTTPFound("/auth/login?next=/")
            return web.json_response({"error": "sign in first"}, status=401)
        if not staff.roles.national_operator:
            return web.json_response({"error": "national operators only"}, status=403)
        request[STAFF] = staff
        return await handler(request)  # type: ignore[no-any-return]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        if self.signin is not None:
            self.signin.install(app)  # its session middleware, then ours
            app.middlewares.append(self.operators_only)
            app.router.add_post("/api/triage/{id}/assign", self.assign)
        app.router.add_get("/api/me", self.me)
        app.router.add_get("/", self.static)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/favicon.ico", favicon)
        app.router.add_get("/api/overview", self.overview)
        app.router.add_get("/api/compliance", self.compliance)
        app.router.add_get("/api/units", self.late_units)
        app.router.add_get("/api/escalations", self.escalations)
        app.router.add_get("/api/timeline/{id}", self.timeline)
        app.router.add_get("/events", self.events)
        return app

    async def static(self, request: web.Request) -> web.Response:
        return static_file(request.match_info.get("name", "index.html"), STATIC)

    async def me(self, request: web.Request) -> web.Response:
        """Who is signed in, the CSRF token for actions and the agencies one may assign to;
        `{"name": null}` on a deployment without sign-in."""
        staff = request.get(STAFF)
        if staff is None:
            return web.json_response({"name": None})
        agencies = sorted(((a.id, a.name) for a in self.registry.agencies.values()), key=lambda x: x[1])
        return web.json_response({"name": staff.name, "csrf": staff.csrf, "roles": staff.roles.names(),
                                  "agencies": [{"id": i, "name": n} for i, n in agencies]})

    async def assign(self, request: web.Request) -> web.Response:
        """The triage action: a complaint waiting in triage goes to the agency chosen. The
        event id is the same for the same complaint, target and triage round, so a resent
        click is one assignment."""
        assert self.signin is not None and self.assign_status is not None
        staff = request[STAFF]
        if not await self.signin.action_allowed(request, staff, None):
            return web.json_response({"error": "the request is not this page's (CSRF)"}, status=403)
        try:
            body = await request.json()
            target = str(body["target_agency_id"])
            cid = normalise_complaint_id(request.match_info["id"])
        except (ValueError, KeyError, TypeError):
            cid = None
        if cid is None:
            return bad_request("expected {\"target_agency_id\": <agency id>} and a complaint id")
        waiting = {t["complaint_id"]: t for t in queries.triage_queue(self.board, self.timelines, self.calendar)}
        if cid not in waiting:
            return web.json_response({"error": "that complaint is not waiting in triage"}, status=409)
        if target not in self.registry:
            return bad_request("the target is not a known agency")
        round_ = waiting[cid]["attempt"]
        digest = hashlib.sha256(f"{cid}|{target}|{round_}".encode()).hexdigest()[:32]
        event = StatusEvent(event_id=f"ops-assign-{digest}", complaint_id=cid, status=Status.assigned,
                            at=datetime.now(UTC), target_agency_id=target)
        await self.assign_status(event)
        get_logger(component="triage").info("triage_assigned", complaint_id=cid, target_agency_id=target,
                                             event_id=event.event_id, operator=staff.subject)
        return web.json_response({"event_id": event.event_id, "complaint_id": cid,
                                  "target_agency_id": target}, status=202)

    def prepared(self, response: web.StreamResponse) -> web.StreamResponse:
        """A streamed answer sends its headers itself: with the security headers."""
        response.headers.update(self.headers)
        return response

    def _names(self) -> dict[str, str]:
        return {a.id: a.name for a in self.registry.agencies.values()}

    async def overview(self, request: web.Request) -> web.Response:
        at = queries.now(self.board)
        names = self._names()
        # The agencies that held a complaint, and why it waits, by name (the page shows words).
        triage = [{**t, "held_by_names": [names.get(a, a) for a in t["held_by"]],
                   "reason_text": reason_text(t["reason"], lambda a: names.get(a, a))}
                  for t in queries.triage_queue(self.board, self.timelines, self.calendar)]
        bridge = [{**r, "agency_name": names.get(r["agency_id"], r["agency_id"])}
                  for r in queries.bridge(self.board)]
        return web.json_response({
            "now": at.isoformat() if at else None, "triage": triage,
            "dead_letters": queries.dead_letters(self.board), "bridge": bridge})

    async def compliance(self, request: web.Request) -> web.Response:
        period = request.query.get("period", "day")
        if period not in queries.PERIODS:
            return web.json_response({"error": f"period must be one of {queries.PERIODS}"}, status=400)
        rows = queries.compliance(self.board, period)
        names = self._names()
        return web.json_response([{**r, "agency_name": names.get(r["agency_id"], r["agency_id"])}
                                  for r in rows])

    async def late_units(self, request: web.Request) -> web.Response:
        """The "Unit terlambat" table: late units by agency, named (a unit no `disposed` status
        named here yet: its starting set's name, else its id)."""
        period = request.query.get("period", "day")
        if period not in queries.PERIODS:
            return web.json_response({"error": f"period must be one of {queries.PERIODS}"}, status=400)
        names, rows = self._names(), []
        for r in queries.late_units(self.board, period):
            unit = self.starting.of(r["agency_id"]).unit(r["unit_id"])
            rows.append({**r, "agency_name": names.get(r["agency_id"], r["agency_id"]),
                         "unit_name": r["unit_name"] or (unit.name if unit else r["unit_id"])})
        return web.json_response(rows)

    async def escalations(self, request: web.Request) -> web.Response:
        level, agency = request.query.get("level") or None, request.query.get("agency") or None
        if level is not None and level not in LEVELS:
            return bad_request(f"level must be one of {', '.join(LEVELS)}")
        if agency is not None and not AGENCY_ID.fullmatch(agency):
            return bad_request("agency must be an agency id (lower-case letters, digits, dashes)")
        return web.json_response(queries.escalations(self.board, int(level) if level else None, agency))

    async def timeline(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(queries.timeline(self.timelines, request.match_info["id"],
                                                      self.registry))
        except queries.TimelineError as exc:
            return timeline_refusal(exc)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: each escalation once, as the view learns of it. A client may
        hold `streams_per_client` open at once (429 beyond), so one cannot tie the worker up."""
        client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                self.proxies)
        if self.streams.get(client, 0) >= self.streams_per_client:
            return web.json_response({"error": "too many live streams from this address"},
                                     status=429, headers={"Retry-After": "10"})
        self.streams[client] = self.streams.get(client, 0) + 1
        try:
            return await self._stream(request)
        finally:
            self.streams[client] -= 1
            if not self.streams[client]:
                del self.streams[client]

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = self.prepared(web.StreamResponse(headers={"Content-Type": "text/event-stream"}))
        sent: set[str] = {e["escalation_id"] for e in queries.escalations(self.board)}
        try:
            # A browser that leaves (a reload, a closed tab) may be gone before the headers
            # are out: that is the stream's normal end, not an error to log with a traceback.
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while True:
                await asyncio.sleep(PUSH_EVERY_S)
                fresh = [e for e in reversed(queries.escalations(self.board))
                         if e["escalation_id"] not in sent]
                for e in fresh:
                    sent.add(e["escalation_id"])
                    await response.write(f"event: escalation\ndata: {json.dumps(e)}\n\n".encode())
                if not fresh:
                    await response.write(b": idle\n\n")  # keeps proxies from closing it
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


async def serve(site: OpsSite, host: str, port: int) -> None:
    """Run the page until the worker stops."""
    await serve_app(site.app(), host, port)


async def serve_app(app: web.Application, host: str, port: int) -> None:
    """Run a site until the worker stops."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
