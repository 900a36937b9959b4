"""The router worker: accepted complaints and status events in; agency topics, routed
decisions and triage out. Decisions live in the pure modules; this file only wires them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from schemas import AcceptedComplaint, StatusEvent
from services.common.admin import create_topics
from services.common.calendar import load_calendar
from services.common.dead_letter import dead_letter, validation_items
from services.common.faust_app import make_app, raw_topic
from services.common.logging import configure_logging, get_logger
from services.common.registry import load_registry
from services.common.settings import Settings
from services.common.sla_policy import load_policy
from services.common.topics import agency_topic
from services.router.deliver import agency_message, routed_event
from services.router.engine import Router
from services.router.holdings import Delivery, Holding, first_route, on_status
from services.router.redact import for_agency
from services.router.rules import load_rules

ACCEPTED, STATUS = "complaints.accepted.v1", "complaints.status.v1"
ROUTED, TRIAGE, REJECTED = "complaints.routed.v1", "complaints.triage.v1", "complaints.rejected.v1"


def create_app(settings: Settings) -> faust.App:
    configure_logging("router", settings.log_level)
    app = make_app("router", settings)
    registry = load_registry(settings)
    router = Router(load_rules(registry, settings.routes_file), registry)
    calendar, policy = load_calendar(settings.calendar_file), load_policy(settings.sla_policy_file)
    routed_topic, triage_topic = raw_topic(app, settings, ROUTED), raw_topic(app, settings, TRIAGE)
    rejected_topic = raw_topic(app, settings, REJECTED)
    # complaint_id -> Holding.to_dict() + the complaint itself (needed to deliver on re-route).
    holdings = app.Table("holdings", default=None, partitions=settings.partitions)
    agency_topics: dict[str, Any] = {}

    async def agency_topic_for(agency_id: str) -> Any:
        # Agency topics are created on first use (or up front by `lapor topics create --agencies`).
        if agency_id not in agency_topics:
            spec = agency_topic(settings, agency_id)
            await create_topics(settings, [spec])
            agency_topics[agency_id] = raw_topic(app, settings, spec.name)
        return agency_topics[agency_id]

    async def deliver(c: AcceptedComplaint, deliveries: list[Delivery]) -> None:
        # Every send is acknowledged before the table changes: a crash repeats events (same
        # ids) rather than losing them. A complaint's sends go out together and their acks are
        # awaited together; the producer keeps one batch in flight per partition, so the order
        # of one complaint's events on a topic holds.
        key = c.complaint_id.encode()
        acks, sent = [], []
        for d in deliveries:
            if d.agency_id is None:
                acks.append(await triage_topic.send(key=key, value=for_agency(c).to_bytes()))
            else:
                topic = await agency_topic_for(d.agency_id)
                message = agency_message(c, d, registry, calendar, policy)
                acks.append(await topic.send(key=key, value=message.to_bytes()))
            event = routed_event(c.complaint_id, d, registry)
            acks.append(await routed_topic.send(key=key, value=event.to_bytes()))
            sent.append((d, event))
        await asyncio.gather(*acks)
        for d, event in sent:
            get_logger(complaint_id=c.complaint_id, event_id=event.event_id).info(
                "routed", agency_id=d.agency_id, role=d.role.value, rule_id=d.rule_id, attempt=d.attempt)

    async def reject(msg: Any, reason: str, exc: ValidationError | None) -> None:
        errors = validation_items(exc) if exc else []
        letter = dead_letter(topic=msg.topic, partition=msg.partition, offset=msg.offset,
                             timestamp_s=msg.timestamp, key=msg.key, raw=msg.value, reason=reason,
                             errors=errors, rejected_by="router")
        await (await rejected_topic.send(key=msg.key, value=letter.to_bytes()))
        get_logger(topic=msg.topic, offset=msg.offset).warning("rejected", reason=reason)

    # Both agents share the holdings table; serialise so that one complaint's
    # read-deliver-write never interleaves with the other agent's at an await.
    lock = asyncio.Lock()

    @app.agent(raw_topic(app, settings, ACCEPTED))
    async def on_accepted(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            async with lock:
                await accepted_one(event)

    async def accepted_one(event: Any) -> None:
        msg = event.message
        try:
            c = AcceptedComplaint.model_validate_json(msg.value or b"")
        except ValidationError as exc:
            await reject(msg, "invalid_accepted", exc)
            return
        if holdings.get(c.complaint_id) is not None:
            get_logger(complaint_id=c.complaint_id).info("duplicate_accepted")
            return
        holding, deliveries = first_route(c, router)
        await deliver(c, deliveries)
        holdings[c.complaint_id] = {**holding.to_dict(), "complaint": c.model_dump(mode="json")}

    @app.agent(raw_topic(app, settings, STATUS))
    async def on_status_event(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            async with lock:
                await status_one(event)

    async def status_one(event: Any) -> None:
        msg = event.message
        try:
            s = StatusEvent.model_validate_json(msg.value or b"")
        except ValidationError as exc:
            await reject(msg, "invalid_status", exc)
            return
        log = get_logger(complaint_id=s.complaint_id, event_id=s.event_id)
        stored = holdings.get(s.complaint_id)
        if stored is None:
            log.warning("status_for_unknown_complaint", status=s.status.value)
            return
        at = min(s.at, datetime.fromtimestamp(msg.timestamp, UTC).astimezone(s.at.tzinfo))
        outcome = on_status(Holding.from_dict(stored), s, at, router, registry, settings.max_refusals)
        log.info("status", status=s.status.value, agency_id=s.agency_id, outcome=outcome.note)
        if not outcome.deliveries:
            return
        c = AcceptedComplaint.model_validate(stored["complaint"])
        await deliver(c, outcome.deliveries)
        holdings[s.complaint_id] = {**outcome.holding.to_dict(), "complaint": stored["complaint"]}

    return app
