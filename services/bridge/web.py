"""The bridge's two HTTP sides: the inbound endpoint agencies post their statuses to
(`POST /agencies/<agency_id>/statuses`, signed like the deliveries), and the worker's own
/metrics/ and /health/ on its web port (never exposed to agencies)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from schemas.bridge import BridgeSeenCall
from services.bridge.config import BridgeConfig
from services.bridge.inbound import Accepted, SeenSignatures, accept_status
from services.bridge.metrics import BridgeMetrics
from services.runtime.health import Health
from services.runtime.lane_runtime import Outgoing
from services.runtime.topics import BRIDGE_SEEN_CALLS, agency_status_topic_name

BODY_MAX = 64 * 1024  # a status is small; anything larger is refused before it is read


def inbound_app(config: BridgeConfig, send: Callable[[Sequence[Outgoing]], Awaitable[None]],
                metrics: BridgeMetrics, log: Any, seen: SeenSignatures) -> web.Application:
    """`seen` is the worker's replay cache, shared with every bridge worker through
    bridge.seen-calls.v1: a call's entries go there once its status is written (never
    before: an entry for a status that was not written would refuse the agency's retry)."""

    async def statuses(request: web.Request) -> web.Response:
        agency_id = request.match_info["agency_id"]
        label = metrics.agency_label(agency_id)
        body = await request.read()
        now = time.time()
        result = accept_status(config, agency_id, request.headers, body, now, seen)
        if not isinstance(result, Accepted):
            code = result.reason.split(":")[0]
            metrics.refused_in.labels(label, code).inc()
            log.warning("status_refused", agency_id=label, reason=code, http_status=result.status)
            return web.json_response({"error": result.reason}, status=result.status)
        status = result.status
        try:
            await send([Outgoing(agency_status_topic_name(agency_id), status.complaint_id.encode(),
                                 status.to_bytes())])
        except Exception as exc:  # not passed on: the agency's retry (same id) must pass
            seen.forget(*result.replay_keys)
            log.error("status_not_passed_on", agency_id=agency_id, error=type(exc).__name__)
            return web.json_response({"error": "unavailable, try again"}, status=503)
        seen_call = BridgeSeenCall(agency_id=agency_id, seen_at=datetime.fromtimestamp(now, UTC)).to_bytes()
        try:  # the status is out: a replay elsewhere is at worst a repeat the judge drops
            await send([Outgoing(BRIDGE_SEEN_CALLS, key.encode(), seen_call) for key in result.replay_keys])
        except Exception as exc:
            log.error("seen_call_not_shared", agency_id=agency_id, error=type(exc).__name__)
        metrics.statuses_in.labels(agency_id, "webhook").inc()
        log.info("status_passed_on", agency_id=agency_id, complaint_id=status.complaint_id,
                 status=status.status.value, event_id=status.event_id)
        return web.json_response({"accepted": status.event_id}, status=202)

    app = web.Application(client_max_size=BODY_MAX)
    app.router.add_post("/agencies/{agency_id}/statuses", statuses)
    return app


def metrics_app(metrics: BridgeMetrics, refresh: Callable[[], None],
                health: Health) -> web.Application:
    def refresh_all() -> None:
        refresh()
        metrics.failing.clear()
        for part in health.failing:
            metrics.failing.labels(part).set(1)

    async def exposition(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(refresh_all),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_page(_: web.Request) -> web.Response:
        """503 while a lane, a poller or the reporter cannot make progress, naming it."""
        if health.ok():
            return web.json_response({"status": "ok", "service": "bridge"})
        return web.json_response({"status": "failing", "service": "bridge",
                                  "failing": dict(sorted(health.failing.items()))}, status=503)

    app = web.Application()
    app.router.add_get("/metrics/", exposition)
    app.router.add_get("/health/", health_page)
    return app
