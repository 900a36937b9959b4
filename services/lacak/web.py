"""Public tracking ("lacak"): anyone with a tracking id sees the complaint's progress
(received, forwarded to which agency, answered, closed, with dates) and never its text, the
reporter or a note (lacak's view keeps none of them). Its own worker, site and port
(LAPOR_LACAK_HOST/PORT), apart from the operations page: it may face the internet; the
operations page may not. Tracking ids are keyed hashes (services/domain/complaint_id.py), so
one cannot be guessed from another or from a submission id. Typing errors are forgiven as `lapor show` forgives them; each
client has a request budget (LAPOR_LACAK_PER_MINUTE) and all of them together another
(LAPOR_LACAK_GLOBAL_PER_MINUTE), so ids cannot be walked. Behind a proxy, the client is the
address the trusted proxy forwarded (services/web/forwarded.py), an IPv6 client's /64."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from services.domain.registry import Registry
from services.domain.tracking import TimelineError, progress
from services.web.forwarded import Network, budget_key, client_address
from services.web.site import favicon, guarded
from services.web.rate_limit import TokenBucket

STATIC = {"lacak.html": "text/html", "lacak.js": "text/javascript", "lacak.css": "text/css"}
CLIENTS_KEPT = 10_000  # request budgets remembered (the least recently seen go first)


class LacakSite:
    def __init__(self, timelines: Mapping[str, Any], registry: Registry,
                 allowed_hosts: frozenset[str], per_minute: int, global_per_minute: int = 3000,
                 proxies: tuple[Network, ...] = (), counted: Callable[[int], None] = lambda _status: None):
        """`counted(status)`: told of each lookup's answer (the worker's metrics)."""
        self.timelines, self.registry, self.counted = timelines, registry, counted
        self.allowed_hosts, self.per_minute, self.proxies = allowed_hosts, per_minute, proxies
        self.budgets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.everyone = TokenBucket(global_per_minute / 60, global_per_minute)

    def allowed(self, client: str, now: float) -> bool:
        """Within the client's budget and then everyone's (a refused request spends neither
        further: the client's own is spent first, so one client cannot drain everyone's)."""
        key = budget_key(client)
        bucket = self.budgets.pop(key, None) or TokenBucket(self.per_minute / 60, self.per_minute)
        self.budgets[key] = bucket
        while len(self.budgets) > CLIENTS_KEPT:
            self.budgets.popitem(last=False)
        return bucket.wait(now) == 0 and self.everyone.wait(now) == 0

    @web.middleware
    async def guard(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        return await guarded(request, handler, self.allowed_hosts, "LAPOR_LACAK_ALLOWED_HOSTS",
                             self.over_budget)

    def over_budget(self, request: web.Request) -> web.StreamResponse | None:
        """A 429 once the client's budget is spent (asked only of a request to an allowed host
        with GET: a refused one costs nothing)."""
        client = client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                self.proxies)
        if self.allowed(client, time.monotonic()):
            return None
        self.counted(429)
        return web.json_response({"error": "terlalu banyak permintaan: coba lagi sebentar lagi"},
                                 status=429, headers={"Retry-After": "10"})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/", self.static)
        app.router.add_get("/lacak", self.static)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/favicon.ico", favicon)
        app.router.add_get("/api/lacak/{id}", self.lookup)
        return app

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "lacak.html")
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = resources.files("services.lacak").joinpath(f"static/{name}").read_bytes()
        return web.Response(body=body, content_type=STATIC[name], charset="utf-8")

    async def lookup(self, request: web.Request) -> web.Response:
        try:
            answer = web.json_response(progress(self.timelines, request.match_info["id"], self.registry))
        except TimelineError as exc:  # an id nobody has (404) or one mistyped (400)
            answer = web.json_response({"error": str(exc)},
                                       status=404 if "no such complaint" in str(exc) else 400)
        self.counted(answer.status)
        return answer
