"""The agency's side of the bridge, as the tests run it: real HTTP servers on loopback.

`WebhookReceiver` is written the way the README tells an agency to write one: it verifies each
call with the PyPI `standardwebhooks` library (Standard Webhooks, written by others, not by
us) and its own copy of the secret, which refuses a stale timestamp too, and keeps each
idempotency key once. `post_status` signs an agency's status with the same library. `GeoReportServer` is a small GeoReport v2 server as real ones answer:
integer ids, tokens that resolve only after a few lookups, updates filtered by the poll's
`start_date`/`end_date` (FixMyStreet), its own api_key and status changes the test makes."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


async def until(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Wait for a condition the agency's side sees (a delivery, a call), failing by name."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def whsec(name: str) -> str:
    """An agency's Standard Webhooks secret in the tests: `whsec_` and the base64 of its key."""
    return "whsec_" + base64.b64encode(f"test-key-of-{name}".encode().ljust(24, b".")).decode()


@dataclass
class WebhookReceiver:
    secret: str  # whsec_...
    mode: str = "up"  # up | down (503) | gone (410) | slow (answers after `delay_s`)
    delay_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)  # first arrival of each key
    calls: list[tuple[float, str]] = field(default_factory=list)  # (time, event id) of each call
    bodies: list[bytes] = field(default_factory=list)  # every body, repeats included
    refuse: set[str] = field(default_factory=set)  # event ids answered 422, for good
    bad_signatures: int = 0
    pings: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/lapor", self._handle)
        self._runner, base = await _serve(app)
        self.url = base + "/lapor"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.headers.get("X-Lapor-Event-Id", "")
        self.calls.append((time.monotonic(), event_id))
        self.bodies.append(body)
        if self.mode == "down":
            return web.Response(status=503, text="maintenance")
        if self.mode == "gone":
            return web.Response(status=410, text="this endpoint was retired")
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        try:
            Webhook(self.secret).verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        if request.headers.get("webhook-id") != event_id:
            self.bad_signatures += 1
            return web.Response(status=400, text="webhook-id is not the event id")
        if event_id in self.refuse:
            return web.Response(status=422, text="unknown program code")
        if request.headers.get("X-Lapor-Event") == "ping":
            self.pings += 1
            return web.Response(status=204)
        if event_id not in {r["event_id"] for r in self.received}:
            self.received.append(json.loads(body))
        return web.json_response({"ok": True})

    def ids(self) -> list[str]:
        return [r["event_id"] for r in self.received]


async def post_status(bridge: str, agency_id: str, status: dict[str, Any], secret: str,
                      timestamp: int | None = None, raw: bytes | None = None) -> tuple[int, dict[str, Any], bytes, dict[str, str]]:
    """An agency posting a status to the bridge, signed with the `standardwebhooks` library
    under a fresh message id (a retry of the same message would reuse it)."""
    body = raw if raw is not None else json.dumps(status).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    msg_id = f"msg_{uuid.uuid4().hex}"
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    headers = {"Content-Type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(stamp), "webhook-signature": signature}
    return await repost(bridge, agency_id, body, headers)


async def repost(bridge: str, agency_id: str, body: bytes,
                 headers: dict[str, str]) -> tuple[int, dict[str, Any], bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{bridge}/agencies/{agency_id}/statuses", data=body,
                                headers=headers) as answer:
            return answer.status, await answer.json(), body, headers


@dataclass
class ServiceRequest:
    id: str
    form: dict[str, str]
    status: str = "open"
    notes: str | None = None
    updated: str = ""
    requested: str = field(default_factory=lambda: _now())


@dataclass
class GeoReportServer:
    api_key: str
    services: tuple[str, ...] = ("JALAN", "UMUM")
    tokens: bool = False  # answer a POST with a token; the id comes later (tokens/<t>.json)
    token_lookups_unresolved: int = 2  # a token's first lookups answer no id yet, as a queue would
    slow_posts: int = 0  # the first POSTs are filed, then answered only after `slow_s`
    slow_s: float = 0.0
    lookups_blind: bool = False  # GET requests.json by date answers nothing (an index behind)
    refuse_posts_after: int | None = None  # POSTs after this many are refused (400 duplicate)
    post_delay_s: float = 0.0  # each POST is in transit this long before the server files it
    on_filed: Callable[[ServiceRequest], None] | None = None  # after filing, before answering
    requests: dict[str, ServiceRequest] = field(default_factory=dict)
    forms: list[dict[str, str]] = field(default_factory=list)  # every POST, as received
    updates: list[dict[str, str]] = field(default_factory=list)  # servicerequestupdates.json
    token_lookups: dict[str, int] = field(default_factory=dict)
    polled: list[str] = field(default_factory=list)  # service_request_id of every GET by ids
    update_windows: list[datetime] = field(default_factory=list)  # start_date of each updates GET
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> GeoReportServer:
        app = web.Application()
        app.router.add_get("/georeport/v2/services.json", self._services)
        app.router.add_post("/georeport/v2/requests.json", self._create)
        app.router.add_get("/georeport/v2/requests.json", self._list)
        app.router.add_get("/georeport/v2/tokens/{token}.json", self._token)
        app.router.add_get("/georeport/v2/servicerequestupdates.json", self._updates)
        self._runner, base = await _serve(app)
        self.url = base + "/georeport/v2/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _services(self, _: web.Request) -> web.Response:
        return web.json_response([{"service_code": c, "service_name": c, "type": "realtime",
                                   "metadata": False} for c in self.services])

    async def _create(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        await asyncio.sleep(self.post_delay_s)
        self.forms.append(form)
        if form.get("api_key") != self.api_key:
            return web.json_response([{"code": 403, "description": "invalid api_key"}], status=403)
        if form.get("service_code") not in self.services:
            return web.json_response([{"code": 400, "description": "unknown service_code"}], status=400)
        if self.refuse_posts_after is not None and len(self.requests) >= self.refuse_posts_after:
            return web.json_response([{"code": 400, "description": "duplicate"}], status=400)
        # Ids are integers, as real servers (FixMyStreet, SeeClickFix) answer them.
        made = ServiceRequest(str(len(self.requests) + 1001), form, updated=_now())
        self.requests[made.id] = made
        if self.on_filed is not None:
            self.on_filed(made)
        if self.slow_posts > 0:  # filed, but the caller gives up waiting for the answer
            self.slow_posts -= 1
            await asyncio.sleep(self.slow_s)
        if self.tokens:
            return web.json_response([{"token": f"T{made.id}", "service_notice": "diterima"}])
        return web.json_response([{"service_request_id": int(made.id), "service_notice": "diterima"}])

    async def _token(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        made = self.requests.get(token.removeprefix("T"))
        lookups = self.token_lookups[token] = self.token_lookups.get(token, 0) + 1
        resolved = made is not None and lookups > self.token_lookups_unresolved
        return web.json_response([{"token": token,
                                   "service_request_id": int(made.id) if made and resolved else None}])

    async def _updates(self, request: web.Request) -> web.Response:
        """FixMyStreet's updates between start_date and end_date (both required here)."""
        if request.query.get("api_key") != self.api_key:
            return web.json_response([{"code": 403, "description": "invalid api_key"}], status=403)
        try:
            start = datetime.fromisoformat(request.query["start_date"])
            end = datetime.fromisoformat(request.query["end_date"])
            self.update_windows.append(start)
        except (KeyError, ValueError):
            return web.json_response([{"code": 400, "description": "start_date and end_date"}], status=400)
        return web.json_response({"service_request_updates": [
            {**u, "service_request_id": int(u["service_request_id"])} for u in self.updates
            if start <= datetime.fromisoformat(u["updated_datetime"]) <= end]})

    def update(self, request_id: str, status: str, description: str | None = None) -> None:
        """An update as FixMyStreet's extension reports it (extended states, upper case)."""
        self.updates.append({"update_id": f"U{len(self.updates) + 1}", "service_request_id": request_id,
                             "status": status, "description": description or "",
                             "updated_datetime": _now()})

    async def _list(self, request: web.Request) -> web.Response:
        if request.query.get("api_key") != self.api_key:
            return web.json_response([{"code": 403, "description": "invalid api_key"}], status=403)
        if "service_request_id" in request.query:
            self.polled.append(request.query["service_request_id"])
            wanted = request.query["service_request_id"].split(",")
            chosen = [r for r in self.requests.values() if r.id in wanted]
        elif self.lookups_blind:
            chosen = []
        else:  # the requests made between start_date and end_date (GeoReport v2: both optional)
            start = request.query.get("start_date")
            end = request.query.get("end_date")
            chosen = [r for r in self.requests.values()
                      if (start is None or datetime.fromisoformat(start) <= datetime.fromisoformat(r.requested))
                      and (end is None or datetime.fromisoformat(r.requested) <= datetime.fromisoformat(end))]
        return web.json_response([
            {"service_request_id": int(r.id), "status": r.status, "status_notes": r.notes,
             "service_code": r.form.get("service_code"), "description": r.form.get("description"),
             "requested_datetime": r.requested, "updated_datetime": r.updated}
            for r in chosen])

    def change(self, request_id: str, status: str, notes: str | None = None) -> None:
        made = self.requests[request_id]
        made.status, made.notes, made.updated = status, notes, _now()


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
