"""Publishing a version that the router and the SLA monitor take in order with the ticks (the
calendar and SLA rules, an agency's units): shared by `lapor rules publish` and `lapor units
publish`.

Each reader keeps the first record of a version (and never an older one), and compaction keeps
a key's last record. So a publication writes its record, reads the topic back, and goes on only
if its record is the one every reader keeps; otherwise (another operator published at the same
moment) it writes that one again, for compaction to keep it, and announces nothing. Once in
force, the version is announced on every partition of sla.ticks.v1 at that partition's latest
tick: it moves no clock, and readers meet it in order with the ticks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer

from schemas import Tick
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topic_read import TopicRecord, read_to_end
from services.runtime.topics import TICKS


async def latest_ticks(settings: Settings) -> dict[int, datetime]:
    """The as_of of the last record on each ticks partition (an announcement repeats it)."""
    return {r.partition: Tick.model_validate_json(r.value).as_of
            for r in await read_to_end(settings, TICKS, last_only=True) if r.value}


async def publish_version(settings: Settings, topic: str, key: bytes, ours: bytes,
                          kept_of: Callable[[list[TopicRecord]], TopicRecord | None],
                          announcement: Callable[[datetime], Tick], ticks: dict[int, datetime],
                          published_at: datetime) -> TopicRecord | None:
    """Write `ours` on `topic` and announce it, unless the record every reader keeps
    (`kept_of` the topic read back) is another: that one is written again and returned, and
    nothing is announced. `ours` is unique to this publication (its own moment), so a
    producer's retry that wrote it twice still finds it its own (compared by content)."""
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), ours, key=key)
        kept = kept_of(await read_to_end(settings, topic))
        if kept is not None and kept.value != ours:
            await producer.send_and_wait(settings.topic(topic), kept.value, key=kept.key)
            return kept
        name = settings.topic(TICKS)
        for p in sorted(await producer.partitions_for(name)):
            as_of = ticks.get(p, published_at)  # moves no clock: readers skip it as time
            await producer.send_and_wait(name, announcement(as_of).to_bytes(), partition=p)
        return None
    finally:
        await producer.stop()
