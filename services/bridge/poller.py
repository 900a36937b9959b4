"""Reading an Open311 agency's status changes back: every `poll_interval_s`, resolve the
tokens of requests the server had not numbered yet, then read the open requests' statuses
(GET requests.json) or the updates since the last poll (servicerequestupdates.json), and
pass each change on as the agency's status. A request whose status ends the agency's part
(resolved, not our authority) is forgotten: its state record gets a tombstone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from schemas import Status
from schemas.bridge import Open311Request
from services.bridge.config import BridgeConfig, Open311Agency
from services.bridge.http import call
from services.bridge.metrics import BridgeMetrics
from services.bridge.open311 import (
    Open311Error, ServerUpdate, apply_update, parse_requests, parse_token, parse_updates, query_params,
    state_key,
)
from services.runtime.health import Health
from services.runtime.lane_runtime import Outgoing
from services.runtime.topics import OPEN311_REQUESTS, agency_status_topic_name

IDS_PER_CALL = 50  # service_request_id=a,b,c... kept to a URL any server takes
ENDS = frozenset({Status.resolved, Status.not_our_authority, Status.closed})


@dataclass
class Poller:
    agency_id: str
    agency: Open311Agency
    config: BridgeConfig
    session: aiohttp.ClientSession
    states: dict[str, Open311Request]
    send: Callable[[Sequence[Outgoing]], Awaitable[None]]
    metrics: BridgeMetrics
    health: Health
    log: Any
    # Whether this worker is the agency's poller now: with several bridge workers, the one
    # holding partition 0 of the agency's topic polls, so each request is polled once.
    polls: Callable[[], bool] = lambda: True
    last_poll: datetime | None = None

    async def run(self) -> None:
        """Poll until cancelled. A poll that fails, whatever the cause (an unusable answer, a
        status that cannot be sent, a nesting too deep to parse), is logged, counted and
        shown in health until a poll succeeds; the next one tries again."""
        part = f"poller:{self.agency_id}"
        polling = False
        while True:
            await asyncio.sleep(self.agency.poll_interval_s)
            if self.polls() != polling:
                polling = not polling
                self.metrics.polling.labels(self.agency_id).set(int(polling))
                self.log.info("open311_polling" if polling else "open311_polling_elsewhere",
                              agency_id=self.agency_id)
                # Taken over: read from the oldest last update applied (or filing) among the
                # requests (the other worker's last poll is not known here; what it applied
                # is in the shared states).
                self.last_poll = None
                self.health.recovered(part)
            if not polling:
                continue
            try:
                await self.poll_once(datetime.now(UTC))
            except Exception as exc:
                self.metrics.polls_failed.labels(self.agency_id).inc()
                self.health.failed(part, exc)
                detail = str(exc)[:300] if isinstance(exc, (ValueError, Open311Error)) else ""
                self.log.warning("open311_poll_failed", agency_id=self.agency_id,
                                 error=type(exc).__name__, detail=detail)
            else:
                if self.health.recovered(part):
                    self.log.info("open311_poll_recovered", agency_id=self.agency_id)

    def _params(self, **more: str) -> dict[str, str]:
        return query_params(self.agency, self.config.secrets[self.agency_id].decode(), **more)

    def _url(self, path: str) -> str:
        return self.agency.endpoint.rstrip("/") + "/" + path

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        answer = await call(self.session, "GET", self._url(path), self.agency.timeout_s,
                            params=params)
        if answer.status != 200:
            raise Open311Error(f"GET {path}: {answer.status or answer.error}")
        return answer.json()

    def mine(self) -> list[Open311Request]:
        return [s for s in self.states.values() if s.agency_id == self.agency_id]

    async def poll_once(self, now: datetime) -> int:
        """One poll; returns the number of statuses passed on."""
        out: list[Outgoing] = []
        for state in self.mine():
            if state.service_request_id is None and state.token:
                request_id = parse_token(await self._get(f"tokens/{state.token}.json", self._params()))
                if request_id is not None:
                    resolved = state.model_copy(update={"service_request_id": request_id})
                    out.append(self._kept(resolved))
        await self._send(out)
        by_request = {s.service_request_id: s for s in self.mine() if s.service_request_id}
        if not by_request:
            return 0
        updates = await self._updates(list(by_request), now)
        out, passed = [], 0
        for update in updates:
            known = by_request.get(update.service_request_id)
            if known is None:
                continue  # a request filed by someone else, or one already forgotten
            applied = apply_update(self.agency, known, update, now)
            if applied is None:
                continue
            by_request[update.service_request_id] = applied.state
            if applied.status is not None:
                passed += 1
                self.metrics.statuses_in.labels(self.agency_id, "open311").inc()
                out.append(Outgoing(agency_status_topic_name(self.agency_id),
                                    applied.status.complaint_id.encode(), applied.status.to_bytes()))
                self.log.info("open311_status", agency_id=self.agency_id,
                              complaint_id=applied.status.complaint_id,
                              status=applied.status.status.value, event_id=applied.status.event_id)
            if applied.status is not None and applied.status.status in ENDS:
                out.append(Outgoing(OPEN311_REQUESTS,
                                    state_key(self.agency_id, known.complaint_id).encode(), None))
            else:
                out.append(self._kept(applied.state))
        await self._send(out)
        self.last_poll = now
        return passed

    async def _updates(self, request_ids: list[str], now: datetime) -> list[ServerUpdate]:
        if self.agency.updates == "servicerequestupdates":
            since = self.last_poll or min(_since(s) for s in self.mine() if s.service_request_id)
            params = self._params(start_date=(since - timedelta(minutes=5)).isoformat(),
                                  end_date=now.isoformat())
            return parse_updates(await self._get("servicerequestupdates.json", params))
        updates: list[ServerUpdate] = []
        for i in range(0, len(request_ids), IDS_PER_CALL):
            ids = ",".join(request_ids[i:i + IDS_PER_CALL])
            updates += parse_requests(await self._get("requests.json",
                                                      self._params(service_request_id=ids)))
        return updates

    def _kept(self, state: Open311Request) -> Outgoing:
        key = state_key(state.agency_id, state.complaint_id)
        return Outgoing(OPEN311_REQUESTS, key.encode(), state.to_bytes())

    async def _send(self, out: list[Outgoing]) -> None:
        """Send, then remember: the in-memory states follow the topic, never lead it."""
        if not out:
            return
        await self.send(out)
        for item in out:
            if item.topic != OPEN311_REQUESTS or item.key is None:
                continue
            key = item.key.decode()
            if item.value is None:
                self.states.pop(key, None)
            else:
                self.states[key] = Open311Request.model_validate_json(item.value)


def _since(state: Open311Request) -> datetime:
    """From when a request's updates may be unseen: after its last update applied, else its
    filing. (A takeover reads from the oldest of these among the requests with an id: an
    intent or a token-only state has no updates, and would stretch the window for nothing.)"""
    return state.last_update_at or state.filed_at
