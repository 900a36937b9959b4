"""Reading a topic as it is now (to its end offsets), with no consumer group: for operator
commands that look (rules, what-if, redelivery) and for a stage loading its own compacted
state at start (the bridge's Open311 requests); never for a service's inputs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.runtime.settings import Settings
from services.runtime.kafka_client import aiokafka_options


@dataclass(frozen=True)
class TopicRecord:
    topic: str  # contract name (no deployment prefix)
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


async def partitions_of(consumer: AIOKafkaConsumer, name: str) -> list[TopicPartition]:
    parts = consumer.partitions_for_topic(name)
    if not parts:
        await consumer._client.force_metadata_update()  # a topic created moments ago
        parts = consumer.partitions_for_topic(name) or set()
    return [TopicPartition(name, p) for p in sorted(parts)]


async def read_to_end(settings: Settings, topic: str, last_only: bool = False,
                      progress: Callable[[int], object] | None = None) -> list[TopicRecord]:
    """Every record of `topic` up to its end offsets now (or the last of each partition),
    in offset order per partition. `progress` is called with the count read so far."""
    async def starts(consumer: AIOKafkaConsumer, parts: list[TopicPartition],
                     ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        first = await consumer.beginning_offsets(parts)
        return {tp: max(first[tp], ends[tp] - 1) if last_only else first[tp] for tp in parts}

    return await _read(settings, topic, starts, progress)


async def read_since(settings: Settings, topic: str, since_ms: int) -> list[TopicRecord]:
    """Every record of `topic` written at or after `since_ms` (Kafka record time) up to its
    end offsets now, in offset order per partition (an operator's redelivery)."""
    async def starts(consumer: AIOKafkaConsumer, parts: list[TopicPartition],
                     ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        found = await consumer.offsets_for_times({tp: since_ms for tp in parts})
        return {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in parts}

    return await _read(settings, topic, starts)


async def partitions_holding_records(settings: Settings,
                                     partitions: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of these partitions (full topic names) hold any record now: end past beginning."""
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, p in partitions]
        ends, begins = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
        return {(tp.topic, tp.partition) for tp in tps if ends[tp] > begins[tp]}
    finally:
        await consumer.stop()


Starts = Callable[[AIOKafkaConsumer, list[TopicPartition], dict[TopicPartition, int]],
                  Awaitable[dict[TopicPartition, int]]]


async def _read(settings: Settings, topic: str, starts: Starts,
                progress: Callable[[int], object] | None = None) -> list[TopicRecord]:
    """Each partition from its start offset up to its end offset now."""
    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = await partitions_of(consumer, name)
        if not parts:
            return []
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        begin = await starts(consumer, parts, ends)
        for tp in parts:
            consumer.seek(tp, begin[tp])
        out: list[TopicRecord] = []
        todo = {tp for tp in parts if ends[tp] > begin[tp]}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                out += [TopicRecord(topic, tp.partition, r.offset, r.timestamp, r.key, r.value)
                        for r in records if r.offset < ends[tp]]
            for tp in list(todo):  # (positions, not offsets: compaction leaves gaps)
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
            if progress is not None:
                progress(len(out))
        return out
    finally:
        await consumer.stop()
