"""The operations page and its JSON API (aiohttp, in the ops_view worker). Reads the stores,
writes nothing; everything the page loads is served from here (no CDN).

Bound to LAPOR_OPS_HOST (127.0.0.1 by default): the page shows no personal data, but
complaint ids, agencies and dead-letter errors are internal; open it wider behind a proxy
with authentication."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from services.domain.calendar import WorkingCalendar
from services.domain.registry import Registry
from services.ops_view import queries
from services.ops_view.handlers import BOARD, TIMELINES

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
PUSH_EVERY_S = 1.0


class OpsSite:
    def __init__(self, stores: Mapping[str, Mapping[str, Any]], registry: Registry,
                 calendar: WorkingCalendar):
        self.stores, self.registry, self.calendar = stores, registry, calendar

    @property
    def board(self) -> Mapping[str, Any]:
        return self.stores[BOARD]

    @property
    def timelines(self) -> Mapping[str, Any]:
        return self.stores[TIMELINES]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.static)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/overview", self.overview)
        app.router.add_get("/api/compliance", self.compliance)
        app.router.add_get("/api/escalations", self.escalations)
        app.router.add_get("/api/timeline/{id}", self.timeline)
        app.router.add_get("/events", self.events)
        return app

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = resources.files("services.ops_view").joinpath(f"static/{name}").read_bytes()
        return web.Response(body=body, content_type=STATIC[name], charset="utf-8")

    def _names(self) -> dict[str, str]:
        return {a.id: a.name for a in self.registry.agencies.values()}

    async def overview(self, request: web.Request) -> web.Response:
        at = queries.now(self.board)
        triage = queries.triage_queue(self.board, self.timelines, self.calendar)
        return web.json_response({
            "now": at.isoformat() if at else None, "triage": triage,
            "dead_letters": queries.dead_letters(self.board)})

    async def compliance(self, request: web.Request) -> web.Response:
        period = request.query.get("period", "day")
        if period not in queries.PERIODS:
            return web.json_response({"error": f"period must be one of {queries.PERIODS}"}, status=400)
        rows = queries.compliance(self.board, period)
        names = self._names()
        return web.json_response([{**r, "agency_name": names.get(r["agency_id"], r["agency_id"])}
                                  for r in rows])

    def _escalations(self, request: web.Request) -> list[dict[str, Any]]:
        level = request.query.get("level")
        return queries.escalations(self.board, int(level) if level and level.isdigit() else None,
                                   request.query.get("agency") or None)

    async def escalations(self, request: web.Request) -> web.Response:
        return web.json_response(self._escalations(request))

    async def timeline(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(queries.timeline(self.timelines, request.match_info["id"],
                                                      self.registry))
        except queries.TimelineError as exc:
            status = 404 if "no such complaint" in str(exc) else 400
            return web.json_response({"error": str(exc)}, status=status)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: each escalation once, as the view learns of it."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        sent: set[str] = {e["escalation_id"] for e in queries.escalations(self.board)}
        await response.write(b": connected\n\n")
        try:
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
    runner = web.AppRunner(site.app())
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
