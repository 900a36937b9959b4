"""Ticks: the SLA monitor's only clock. One tick goes to every partition of sla.ticks.v1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from schemas import Tick
from services.runtime.settings import Settings
from services.runtime.topics import TICKS
from services.runtime.kafka_client import aiokafka_options


async def publish_tick(producer: AIOKafkaProducer, topic: str, as_of: datetime) -> int:
    partitions = sorted(await producer.partitions_for(topic))
    value = Tick(as_of=as_of).to_bytes()
    for p in partitions:
        await producer.send_and_wait(topic, value=value, partition=p)
    return len(partitions)


def accelerated_clock(start: datetime, speed: float) -> Callable[[], datetime]:
    """Event time that runs `speed` times faster than the wall clock from `start` (demo)."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=(time.monotonic() - origin) * speed)


async def run_ticker(settings: Settings, clock: Callable[[], datetime] | None = None,
                     count: int | None = None, lag_s: float = 0.0) -> None:
    """Publish a tick every settings.tick_interval_s. Live use reads the machine clock here,
    the only place that does; `lag_s` holds ticks back so that late events are in first."""
    now = clock or (lambda: datetime.now(UTC))
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        sent = 0
        while count is None or sent < count:
            await publish_tick(producer, settings.topic(TICKS), now() - timedelta(seconds=lag_s))
            sent += 1
            await asyncio.sleep(settings.tick_interval_s)
    finally:
        await producer.stop()
