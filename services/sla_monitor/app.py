"""The SLA monitor worker: accepted, routed, status and tick events in (co-partitioned by
complaint id); escalations, compliance statistics and auto-close statuses out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from schemas import AcceptedComplaint, RoutedEvent, StatusEvent, Tick, WireModel
from services.common.calendar import load_calendar
from services.common.dead_letter import dead_letter, validation_items
from services.common.faust_app import make_app, raw_topic
from services.common.logging import configure_logging, get_logger
from services.common.registry import load_registry
from services.common.settings import Settings
from services.common.sla_policy import load_policy
from services.sla_monitor.processor import Result, SlaProcessor, apply_writes

ACCEPTED, ROUTED, STATUS, TICKS = ("complaints.accepted.v1", "complaints.routed.v1",
                                   "complaints.status.v1", "sla.ticks.v1")
OUTPUTS = ("sla.escalations.v1", "sla.compliance.v1", "complaints.status.v1", "complaints.rejected.v1")


def create_app(settings: Settings) -> faust.App:
    configure_logging("sla_monitor", settings.log_level)
    app = make_app("sla_monitor", settings)
    tables = {name: app.Table(name, default=None, partitions=settings.partitions)
              for name in ("clocks", "due", "marks", "stats", "overdue")}
    processor = SlaProcessor(tables, load_calendar(settings.calendar_file),  # type: ignore[arg-type]
                             load_policy(settings.sla_policy_file), load_registry(settings))
    out = {name: raw_topic(app, settings, name) for name in OUTPUTS}

    async def commit(res: Result) -> None:
        # Produced events are acknowledged before the state that records them is written.
        # All of a tick's outputs are sent first and their acks awaited together: the
        # producer keeps one batch in flight per partition, so order per complaint holds.
        acks = [await out[o.topic].send(key=o.key.encode(), value=o.event.to_bytes())
                for o in res.outputs]
        await asyncio.gather(*acks)
        for o in res.outputs:
            if o.topic == "sla.escalations.v1":
                esc: Any = o.event
                get_logger(complaint_id=o.key, event_id=esc.escalation_id).info(
                    "escalation", clock=esc.clock.value, kind=esc.kind.value, escalation_level=esc.level)
        apply_writes(tables, res)  # type: ignore[arg-type]

    async def reject(msg: Any, model: type[WireModel], exc: ValidationError) -> None:
        errors = validation_items(exc)
        letter = dead_letter(topic=msg.topic, partition=msg.partition, offset=msg.offset,
                             timestamp_s=msg.timestamp, key=msg.key, raw=msg.value,
                             reason=f"invalid_{model.schema_name}", errors=errors,
                             rejected_by="sla_monitor")
        await (await out["complaints.rejected.v1"].send(key=msg.key, value=letter.to_bytes()))

    def parse(model: type[WireModel], msg: Any) -> Any:
        return model.model_validate_json(msg.value or b"")

    # The four agents share the tables; one complaint's read-compute-send-write must not
    # interleave with another agent's at an await, so handling is serialised per worker.
    lock = asyncio.Lock()

    async def handle(model: type[WireModel], event: Any) -> None:
        async with lock:
            await handle_one(model, event)

    async def handle_one(model: type[WireModel], event: Any) -> None:
        msg = event.message
        try:
            parsed = parse(model, msg)
        except ValidationError as exc:
            await reject(msg, model, exc)
            return
        p = msg.partition
        record_time = datetime.fromtimestamp(msg.timestamp, UTC)
        if isinstance(parsed, AcceptedComplaint):
            res = processor.accepted(p, parsed)
        elif isinstance(parsed, RoutedEvent):
            res = processor.routed(p, parsed)
        elif isinstance(parsed, StatusEvent):
            res = processor.status(p, parsed, record_time)
        else:
            res = processor.tick(p, parsed.as_of)
        await commit(res)
        get_logger(topic=msg.topic, partition=p, offset=msg.offset).debug(
            "handled", outcome=res.note, outputs=len(res.outputs))

    def agent(topic: str, model: type[WireModel]) -> None:
        @app.agent(raw_topic(app, settings, topic), name=f"sla-{topic}")
        async def consume(stream: faust.StreamT[Any]) -> None:
            async for event in stream.events():
                await handle(model, event)

    agent(ACCEPTED, AcceptedComplaint)
    agent(ROUTED, RoutedEvent)
    agent(STATUS, StatusEvent)
    agent(TICKS, Tick)
    return app
