"""Delivering one complaint to its agency's endpoint: signed webhook or Open311 service
request, tried until the endpoint takes it or refuses it for good. A disposition's copy goes
to the unit's own endpoint when the agency configured one (delivery.destination). Runs in the
agency's lane (services.runtime.lane_runtime), so a retry waits only for this agency's next
complaints (a unit's endpoint shares its agency's lane)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import ValidationError

from schemas import AgencyComplaint
from schemas.bridge import BridgeUndelivered, Open311Request
from schemas.events import ValidationErrorItem
from services.bridge.config import BridgeConfig, Endpoint, Open311Agency, Target
from services.bridge.delivery import NotSent, Verdict, backoff_s, destination
from services.web.rate_limit import TokenBucket
from services.bridge.http import ANSWER_KEPT, Answer, call
from services.bridge.metrics import BridgeMetrics
from services.bridge.open311 import (
    find_filed, parse_filed, query_params, service_request_form, state_key,
)
from services.bridge.shared import SharedMemory
from services.bridge.signing import signed_headers
from services.runtime.dead_letter import validation_items
from services.runtime.health import Health
from services.runtime.lane_runtime import Abandoned, Outgoing
from services.runtime.stage import Record, reject
from services.runtime.topics import BRIDGE_UNDELIVERED, OPEN311_REQUESTS

STAGE = "bridge"


class EndpointGone(RuntimeError):
    """An agency's endpoint answered 410 Gone: it is disabled until an operator acts."""


class NotSettled(RuntimeError):
    """An operator's bounded delivery gave up while the endpoint still failed."""


@dataclass(frozen=True)
class Skipped:
    """An operator skipped the complaint (`lapor bridge skip`): it goes no further."""

Attempt = Callable[[], Awaitable[Answer]]
Send = Callable[[Sequence[Outgoing]], Awaitable[None]]


async def _keep_in_memory(_: Sequence[Outgoing]) -> None:
    """No topic to write to (a test of the decisions alone): the state is kept in memory."""


@dataclass(frozen=True)
class GaveUp:
    """The complaint waited longer than the agency's `give_up_after_s`: its last answer."""

    last: Answer


@dataclass
class Outbound:
    config: BridgeConfig
    session: aiohttp.ClientSession
    metrics: BridgeMetrics
    states: dict[str, Open311Request]  # the Open311 requests filed, by state_key
    log: Any
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.time
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    max_tries: int | None = None  # None: until it settles (the worker); an operator's command stops
    gives_up: bool = True  # after give_up_after_s (the worker); an operator's redelivery does not
    health: Health = field(default_factory=Health)  # the worker's: a disabled endpoint shows there
    send: Send = _keep_in_memory  # how an Open311 intent is written before its POST (the lanes')
    control: SharedMemory = field(default_factory=SharedMemory)  # operators' skips and enables
    holds: Callable[[str], bool] = lambda lane: True  # the lane's record is still this worker's
    clears_undelivered: bool = False  # an operator's redelivery: a delivery ends the mark
    _wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # A redelivery's complaints (state_key) that one of its records did not get in: another
    # record of the same complaint taken (the delivery, or a disposition's copy by a unit's
    # endpoint), before it or after, must not end the mark the one not taken keeps.
    _not_taken: set[str] = field(default_factory=set)
    # ... and, per complaint, the event ids of its records that got in (the original delivery,
    # a copy): a mark ends only if the record it names is one of them.
    _taken: dict[str, set[str]] = field(default_factory=dict)

    def wake(self, agency_id: str) -> None:
        """Cut short the agency's lane's wait (an operator's command came, or a rebalance)."""
        self._wakeups.setdefault(agency_id, asyncio.Event()).set()

    async def _pause(self, agency_id: str, seconds: float) -> None:
        """Wait `seconds`, or less if woken since the try began (the caller clears it then)."""
        woken = self._wakeups.setdefault(agency_id, asyncio.Event())
        waits = {asyncio.ensure_future(self.sleep(seconds)), asyncio.ensure_future(woken.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()

    async def deliver(self, agency_id: str, record: Record) -> list[Outgoing]:
        try:
            complaint = AgencyComplaint.model_validate_json(record.value or b"")
        except ValidationError as exc:
            self.log.warning("rejected", agency_id=agency_id, reason="not_an_agency_complaint",
                             topic=record.topic, partition=record.partition, offset=record.offset)
            return _dead(record, "not_an_agency_complaint", validation_items(exc))
        where = destination(self.config, agency_id, complaint)
        try:
            if isinstance(where, NotSent):
                self.metrics.not_sent.labels(agency_id).inc()
                self.log.info("delivery_not_sent", reason=where.value, **_ids(agency_id, complaint),
                              event_id=complaint.event_id)
                return []
            if isinstance(where, Target):
                return await self._webhook(where, record, complaint)
            return await self._open311(agency_id, where, record, complaint)
        except NotSettled:  # an operator's redelivery: this record is not in
            self._not_taken.add(state_key(complaint.agency_id, complaint.complaint_id))
            raise

    async def _webhook(self, target: Target, record: Record,
                       complaint: AgencyComplaint) -> list[Outgoing]:
        """POST to an agency's own endpoint or a unit's, signed with that target's keys."""
        body, endpoint = record.value or b"", target.settings

        def attempt() -> Awaitable[Answer]:
            # Signed afresh on each try: the timestamp must be recent when it arrives.
            headers = signed_headers(target.keys, target.secret, int(self.clock()), body,
                                     complaint.event_id)
            return call(self.session, "POST", endpoint.endpoint, endpoint.timeout_s, data=body,
                        headers=headers)

        answer = await self._until_settled(target.agency_id, endpoint, record, complaint, attempt,
                                           target.name)
        if isinstance(answer, (GaveUp, Skipped)):
            return self._undelivered(record, complaint, answer, unit_id=target.unit_id)
        if answer.status is not None and answer.verdict() is Verdict.delivered:
            return self._delivered(complaint)
        return self._undelivered(record, complaint, answer, unit_id=target.unit_id)

    async def _open311(self, agency_id: str, agency: Open311Agency, record: Record,
                       complaint: AgencyComplaint) -> list[Outgoing]:
        key = state_key(agency_id, complaint.complaint_id)
        known = self.states.get(key)
        if known is not None and not known.posting:  # filed already (a repeat, or a copy again)
            self.log.info("open311_already_filed", agency_id=agency_id,
                          complaint_id=complaint.complaint_id)
            return []
        form = service_request_form(complaint, agency, self.config.secrets[agency_id].decode())
        url = agency.endpoint.rstrip("/") + "/requests.json"

        # Whether a POST for it may have been filed without our knowing (an intent found, or
        # a POST that got no answer): then a later refusal must not end the intent.
        uncertain = known is not None

        async def attempt() -> Answer:
            nonlocal uncertain
            current = self.states.get(key)
            if current is not None and current.posting:
                # An earlier POST's outcome is unknown: the server may have filed it.
                looked = await self._look_up(agency_id, agency, complaint, current.filed_at)
                if looked.status != 200 or looked.too_large:
                    return looked if looked.verdict() is Verdict.retry else Answer(None, "", "lookup failed")
                try:
                    found = find_filed(looked.json(), complaint.complaint_id)
                except (ValueError, RecursionError):  # not a list of requests: unknown still
                    return Answer(None, "", "lookup answer unreadable")
                if found is not None:
                    self.log.info("open311_found_filed", agency_id=agency_id,
                                  complaint_id=complaint.complaint_id, service_request_id=found)
                    return Answer(200, json.dumps([{"service_request_id": found}]))
            else:
                intent = Open311Request(agency_id=agency_id, complaint_id=complaint.complaint_id,
                                        filed_at=datetime.fromtimestamp(self.clock(), UTC), posting=True)
                try:  # written before the POST, so that no outcome is ever unknown to us
                    await self.send([Outgoing(OPEN311_REQUESTS, key.encode(), intent.to_bytes())])
                except Exception as exc:  # no POST without it: tried again like a failed call
                    return Answer(None, "", f"intent not written: {type(exc).__name__}")
                self.states[key] = intent
            if not self.holds(agency_id):  # revoked during the lookup or the intent's write:
                raise Abandoned(agency_id)  # the new owner looks it up; no POST from here
            posted = await call(self.session, "POST", url, agency.timeout_s, data=form)
            uncertain = uncertain or posted.status is None
            return posted

        answer = await self._until_settled(agency_id, agency, record, complaint, attempt)
        if isinstance(answer, (GaveUp, Skipped)):  # the intent stays: a redelivery looks it up first
            return self._undelivered(record, complaint, answer)
        if answer.status is None or answer.verdict() is not Verdict.delivered:
            refused = self._undelivered(record, complaint, answer)
            if uncertain:  # an earlier POST may have been filed: keep the intent to look it up
                return refused
            self.states.pop(key, None)  # refused, and nothing was ever filed: the intent ends
            return [Outgoing(OPEN311_REQUESTS, key.encode(), None), *refused]
        try:
            filed = parse_filed(answer.json())
        except (ValueError, RecursionError) as exc:
            item = ValidationErrorItem(loc="answer", msg=f"{exc}: {answer.text[:ANSWER_KEPT]}")
            return self._undelivered(record, complaint, answer, "open311_bad_answer", [item])
        state = Open311Request(agency_id=agency_id, complaint_id=complaint.complaint_id,
                               service_request_id=filed.service_request_id, token=filed.token,
                               filed_at=datetime.fromtimestamp(self.clock(), UTC))
        self.states[key] = state
        self.log.info("open311_filed", agency_id=agency_id, complaint_id=complaint.complaint_id,
                      service_request_id=filed.service_request_id)
        return [Outgoing(OPEN311_REQUESTS, key.encode(), state.to_bytes()), *self._delivered(complaint)]

    def _delivered(self, complaint: AgencyComplaint) -> list[Outgoing]:
        """Nothing to send. An operator's redelivery remembers the complaint: its desk mark
        may end once every record is done (`ended_marks`)."""
        if self.clears_undelivered:
            key = state_key(complaint.agency_id, complaint.complaint_id)
            self._taken.setdefault(key, set()).add(complaint.event_id)
        return []

    def ended_marks(self, standing: Mapping[str, str]) -> list[Outgoing]:
        """A redelivery's last word: a tombstone for each desk mark (`standing`: key -> the
        event id the mark names, as bridge.undelivered.v1 stood before) whose record it got in,
        when no record of that complaint was refused or left unsettled. Not before the last
        record (the complaint taken now, a later copy of it refused, keeps its mark), and not
        for another record taken (a unit's endpoint taking its copy puts nothing into the
        agency's own system, whose refusal the mark may be)."""
        return [Outgoing(BRIDGE_UNDELIVERED, key.encode(), None) for key, event_id in sorted(standing.items())
                if key not in self._not_taken and event_id in self._taken.get(key, ())]

    def _undelivered(self, record: Record, complaint: AgencyComplaint,
                     outcome: Answer | GaveUp | Skipped, dead_reason: str | None = None,
                     dead_items: list[ValidationErrorItem] | None = None,
                     unit_id: str | None = None) -> list[Outgoing]:
        """Dead-lettered with the reason, and marked for the agency's desk and the operations
        page (bridge.undelivered.v1): its staff work it there instead. An answer the bridge
        could not read is marked as a refusal (the agency's system may hold it: its staff say).
        `unit_id`: the unit whose own endpoint did not take it (None: the agency's)."""
        if isinstance(outcome, Skipped):
            reason, answer = "bridge_skipped", None
            items = [ValidationErrorItem(loc="answer", msg="skipped by an operator (lapor bridge skip)")]
            self.metrics.skipped.labels(complaint.agency_id).inc()
        else:
            answer = outcome.last if isinstance(outcome, GaveUp) else outcome
            reason = "bridge_gave_up" if isinstance(outcome, GaveUp) else "bridge_refused"
            items = [_answer_item(answer)]
        mark = BridgeUndelivered(agency_id=complaint.agency_id, complaint_id=complaint.complaint_id,
                                 event_id=complaint.event_id, reason=reason,
                                 at=datetime.fromtimestamp(self.clock(), UTC),
                                 http_status=answer.status if answer is not None else None,
                                 unit_id=unit_id)
        if self.clears_undelivered:  # a redelivery's (the worker ends no mark: it keeps none)
            self._not_taken.add(state_key(complaint.agency_id, complaint.complaint_id))
        key = state_key(complaint.agency_id, complaint.complaint_id).encode()
        return [*_dead(record, dead_reason or reason, dead_items or items),
                Outgoing(BRIDGE_UNDELIVERED, key, mark.to_bytes())]

    async def _look_up(self, agency_id: str, agency: Open311Agency, complaint: AgencyComplaint,
                       since: datetime) -> Answer:
        """GET requests.json for the requests made since the first POST (less 5 minutes of
        the server's clock skew) up to now (plus as much)."""
        skew = timedelta(minutes=5)
        now = datetime.fromtimestamp(self.clock(), UTC)
        params = query_params(agency, self.config.secrets[agency_id].decode(),
                              start_date=(since - skew).isoformat(), end_date=(now + skew).isoformat())
        url = agency.endpoint.rstrip("/") + "/requests.json"
        return await call(self.session, "GET", url, agency.timeout_s, params=params)

    async def _until_settled(self, agency_id: str, agency: Endpoint, record: Record,
                             complaint: AgencyComplaint, attempt: Attempt,
                             target: str | None = None) -> Answer | GaveUp | Skipped:
        """Try until the endpoint takes the complaint or refuses it for good, or until the
        complaint has waited `give_up_after_s` since it reached the agency's topic (after one
        try at least: a bridge that was down itself gives every complaint its chance); waits
        between tries grow (with jitter) up to the cap, every try within the rate limit. Before
        each try: a complaint an operator skipped goes no further, and a record whose partition
        went to another worker is abandoned (that worker delivers it). `agency`: the endpoint's
        settings (a unit's own, for its endpoint); `target`: its name (Target.name), whose
        rate bucket it uses (the agency id when None)."""
        target = target or agency_id
        ids = _ids(agency_id, complaint)
        bucket = self.buckets.setdefault(target, TokenBucket(agency.rate_per_s, agency.burst))
        failures = 0
        while True:
            while (wait := bucket.wait(time.monotonic())) > 0:
                await self.sleep(wait)
            # From here on a command or a revocation wakes the next pause (one that comes
            # during the call below must not be lost), and an enable counts if it comes after.
            self._wakeups.setdefault(agency_id, asyncio.Event()).clear()
            enable_mark = self.control.enable_mark(agency_id)
            if self.control.skipped(agency_id, complaint.complaint_id):
                self.metrics.retrying.labels(agency_id).set(0)
                self.log.warning("delivery_skipped", **ids, event_id=complaint.event_id)
                return Skipped()
            if not self.holds(agency_id):
                raise Abandoned(agency_id)
            answer = await attempt()
            outcome = answer.verdict()
            if outcome is Verdict.gone and target != agency_id:
                # A unit's endpoint gone holds nothing: the agency's lane (its own deliveries,
                # its other units') goes on, and each copy for that unit is marked for the
                # desk (refused, 410) until the agency's file names another endpoint.
                outcome = Verdict.refused
            if outcome is Verdict.gone:
                if self.max_tries is not None:  # an operator's redelivery: say so, hold nothing
                    raise NotSettled(f"{target}: the endpoint answered 410 Gone")
                await self._hold_while_gone(agency_id, complaint, enable_mark, target)
                continue  # enabled again (or skipped, or no longer ours): see above
            if outcome is not Verdict.retry:
                self.metrics.retrying.labels(agency_id).set(0)
                counter = self.metrics.delivered if outcome is Verdict.delivered else self.metrics.refused
                counter.labels(agency_id).inc()
                self.log.info(f"delivery_{outcome.value}", **ids, event_id=complaint.event_id,
                              http_status=answer.status, tries=failures + 1)
                return answer
            failures += 1
            waited_s = self.clock() - record.timestamp
            if self.gives_up and waited_s >= agency.give_up_after_s:
                self.metrics.retrying.labels(agency_id).set(0)
                self.metrics.gave_up.labels(agency_id).inc()
                self.log.warning("delivery_gave_up", **ids, event_id=complaint.event_id,
                                 http_status=answer.status, error=answer.error, tries=failures,
                                 waited_s=round(waited_s))
                return GaveUp(answer)
            if self.max_tries is not None and failures >= self.max_tries:
                raise NotSettled(f"{target}: {answer.status or answer.error} after {failures} tries")
            self.metrics.failed_tries.labels(agency_id).inc()
            self.metrics.retrying.labels(agency_id).set(1)
            wait = backoff_s(failures, self.config.file.retry_base_s, self.config.file.retry_cap_s)
            self.log.warning("delivery_retry", **ids, http_status=answer.status,
                             error=answer.error, tries=failures, wait_s=round(wait, 2))
            await self._pause(agency_id, wait)

    async def _hold_while_gone(self, agency_id: str, complaint: AgencyComplaint, mark: int,
                               target: str) -> None:
        """410 Gone: the agency's own endpoint (`target`) is disabled. Its complaint
        is held (not done, not dead-lettered) and so are the ones behind it on its agency's
        lane, until an operator enables the agency again (`lapor bridge enable`, once the agency
        says it is back), skips the complaint, or restarts the bridge; no call goes there
        meanwhile, and health and `lapor_bridge_disabled` say so. `mark`: the enables as they
        stood before the call that was answered 410 (an enable that came during it counts)."""
        self.metrics.retrying.labels(agency_id).set(0)
        self.metrics.disabled.labels(agency_id).set(1)
        self.health.failed(f"endpoint:{target}", EndpointGone(target))
        self.log.error("endpoint_gone", **_ids(agency_id, complaint), http_status=410)
        while (self.control.enable_mark(agency_id) == mark and self.holds(agency_id)
               and not self.control.skipped(agency_id, complaint.complaint_id)):
            await self._pause(agency_id, 3600.0)
            self._wakeups[agency_id].clear()
        self.metrics.disabled.labels(agency_id).set(0)
        self.health.recovered(f"endpoint:{target}")
        if self.control.enable_mark(agency_id) != mark:
            self.log.info("endpoint_enabled", agency_id=agency_id)


def _ids(agency_id: str, complaint: AgencyComplaint) -> dict[str, str | None]:
    """What a delivery's log lines name: ids only, and the unit of a disposition's copy."""
    ids: dict[str, str | None] = {"agency_id": agency_id, "complaint_id": complaint.complaint_id}
    if complaint.disposition is not None:
        ids["unit_id"] = complaint.disposition.unit_id
    return ids


def _answer_item(answer: Answer) -> ValidationErrorItem:
    if answer.status is None:
        return ValidationErrorItem(loc="answer", msg=f"no answer: {answer.error}")
    larger = f" ({answer.error}; its first characters)" if answer.too_large else ""
    return ValidationErrorItem(loc="answer",
                               msg=f"HTTP {answer.status}{larger}: {answer.text[:ANSWER_KEPT]}")


def _dead(record: Record, reason: str, errors: list[ValidationErrorItem]) -> list[Outgoing]:
    outcome = reject(STAGE, record, reason, errors)
    return [Outgoing(o.topic, o.key, o.value) for o in outcome.outputs]
