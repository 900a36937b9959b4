"""Following topics from their beginning with no consumer group: every worker of a view
that must see all of them (the desk) reads everything itself, so any of them can answer
any page. A pattern names the topics, so per-agency topics made later are read too (within
the metadata refresh)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer

from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topic_read import TopicRecord, partitions_of

METADATA_MAX_AGE_MS = 5_000  # a topic made later is followed this soon


def follow_pattern(settings: Settings, exact: Sequence[str], families: Sequence[str]) -> str:
    """One subscription regex: the exact contract topics and the per-agency templates, under
    the deployment's prefix."""
    prefix = re.escape(settings.topic_prefix)
    names = [re.escape(t) for t in exact] + [
        re.escape(head) + r"[a-z0-9][a-z0-9-]*" + re.escape(tail)
        for head, tail in (f.split("{agency_id}") for f in families)]
    return f"^{prefix}(?:{'|'.join(names)})$"


async def follow(settings: Settings, pattern: str, on_record: Callable[[TopicRecord], None],
                 stopping: asyncio.Event) -> None:
    """Call `on_record` for every record of the matching topics, oldest first per partition,
    until `stopping` is set. `on_record` must not raise (it is the view's, and pure)."""
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                metadata_max_age_ms=METADATA_MAX_AGE_MS)
    consumer.subscribe(pattern=pattern)
    await consumer.start()
    strip = len(settings.topic_prefix)
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batches.items():
                for r in records:
                    on_record(TopicRecord(tp.topic[strip:], tp.partition, r.offset, r.timestamp,
                                          r.key, r.value))
    finally:
        await consumer.stop()


async def follow_assigned(settings: Settings, topics: Sequence[str],
                          on_record: Callable[[TopicRecord], None], caught_up: asyncio.Event,
                          stopping: asyncio.Event) -> None:
    """Call `on_record` for every record of these (existing, contract) topics from their
    beginning, every partition assigned to this consumer (no group), until `stopping` is set;
    `caught_up` is set once it has read up to the end offsets found at start. For a stage's
    own shared memory that each of its workers keeps whole (the bridge's), read once: no
    second pass over history after a read to the end."""
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [tp for name in topics for tp in await partitions_of(consumer, settings.topic(name))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        strip = len(settings.topic_prefix)
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batches.items():
                for r in records:
                    on_record(TopicRecord(tp.topic[strip:], tp.partition, r.offset, r.timestamp,
                                          r.key, r.value))
            if not caught_up.is_set():  # positions, not offsets: compaction leaves gaps
                if all([await consumer.position(tp) >= ends[tp] for tp in parts]):
                    caught_up.set()
    finally:
        await consumer.stop()
