"""Small helpers for tests that talk to the real broker with aiokafka."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.runtime.admin import create_topics
from services.runtime.settings import Settings
from services.runtime.topics import catalogue
from services.tools.access import as_principal, provision
from services.runtime.kafka_client import aiokafka_options


def isolated(settings: Settings) -> Settings:
    """The same settings with a fresh topic prefix, so tests never see each other's data."""
    return settings.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:8]}."})


async def create_contract_topics(settings: Settings, agencies: list[str] | None = None) -> None:
    """The contract topics of the settings' prefix, with its principals and their ACLs
    (services, channels, national admin, and `agencies`): what `lapor access provision`
    makes. On a plain development broker, the topics only."""
    if settings.kafka_security == "PLAINTEXT":
        await create_topics(settings, catalogue(settings))
        return
    await provision(settings, agencies or [])


__all__ = ["as_principal", "consume", "create_contract_topics", "isolated", "produce"]



async def produce(settings: Settings, topic: str, records: list[tuple[bytes | None, bytes]],
                  partition: int | None = None, timestamp_s: float | None = None) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.topic(topic), value=value, key=key, partition=partition,
                                         timestamp_ms=int(timestamp_s * 1000) if timestamp_s else None)
    finally:
        await producer.stop()


async def consume(settings: Settings, topic: str | list[str], expected: int | None = None,
                  timeout_s: float = 30.0, quiet_s: float = 3.0,
                  full_name: bool = False) -> list[ConsumerRecord[bytes, bytes]]:
    """Read a topic (or several) from the beginning until `expected` records arrived (then
    `quiet_s` more to catch extras), or until timeout/quiet when `expected` is None."""
    topics = [topic] if isinstance(topic, str) else topic
    names = topics if full_name else [settings.topic(t) for t in topics]
    consumer = AIOKafkaConsumer(
        *names, **aiokafka_options(settings), auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                out.extend(records)
                last_new = time.monotonic()
            if expected is not None and len(out) >= expected and time.monotonic() - last_new > quiet_s:
                break
            if expected is None and out and time.monotonic() - last_new > quiet_s:
                break
        return out
    finally:
        await consumer.stop()
