"""Sending a batch's records as one Kafka record batch per partition.

aiokafka's `send` costs, per record, a coroutine, a partitioner call, an accumulator append
and a future whose resolution is one more loop callback: at three or four outputs per input
that was a fifth of a stage's time (py-spy, bench/pipeline.py --py-spy). Here the records are
grouped by partition into the producer's own `BatchBuilder`s, in the order given, and each
builder is queued with `send_batch`: one future per partition batch.

A keyed record's partition is the producer's default partitioner's (murmur2, as the Java
client and `send` place it), so a key lands where it always has; a record may also name its
partition (changelogs do). Per partition, records go out in the order given, and aiokafka
keeps one batch in flight per partition, so per-key order holds. The producer's `flush`
waits for these batches as for any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

# (topic, key, value, partition or None for the key's)
Outgoing = tuple[str, bytes | None, bytes | None, int | None]

_partitioner = DefaultPartitioner()

# The producers' batch size: a stage's batch for one partition fits one record batch, rather
# than 16 KiB batches (the default) that each wait for the one before to be acked.
PRODUCER_BATCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SentBatch:
    """One partition batch handed to the producer; `future` resolves when it is acked."""

    topic: str
    partition: int
    count: int
    future: asyncio.Future[Any]

    def last_offset(self) -> int:
        """The offset of the batch's last record (the future gives the first)."""
        return int(self.future.result().offset) + self.count - 1


async def send_batched(producer: AIOKafkaProducer, records: Iterable[Outgoing]) -> list[SentBatch]:
    """Queue `records` on `producer`, one record batch per partition (more when a batch fills
    up), and return the queued batches; awaiting their futures awaits every ack."""
    records = list(records)
    partitions = await _partitions(producer, {topic for topic, _, _, p in records if p is None})
    open_batches: dict[tuple[str, int], tuple[Any, int]] = {}
    sent: list[SentBatch] = []
    limit = producer._max_request_size  # what `send` refuses a record over, refused here too

    for topic, key, value, partition in records:
        if len(key or b"") + len(value or b"") > limit:
            raise MessageSizeTooLargeError(f"a record for {topic} exceeds max_request_size")
        if partition is None:
            known = partitions[topic]
            partition = _partitioner(key, known, known)
        builder, count = open_batches.get((topic, partition)) or (producer.create_batch(), 0)
        if builder.append(key=key, value=value, timestamp=None) is None:  # full: queue it
            sent.append(await _queue(producer, builder, topic, partition, count))
            builder, count = producer.create_batch(), 0
            builder.append(key=key, value=value, timestamp=None)  # a batch's first always fits
        open_batches[(topic, partition)] = (builder, count + 1)

    for (topic, partition), (builder, count) in open_batches.items():
        sent.append(await _queue(producer, builder, topic, partition, count))
    return sent


async def _partitions(producer: AIOKafkaProducer, topics: set[str]) -> dict[str, list[int]]:
    """Each topic's partitions; those the producer has no metadata for yet (a topic's first
    use since start, e.g. an agency's) are asked for together: one metadata round trip for
    the batch, not one after another, each holding up the whole batch."""
    cluster = producer.client.cluster
    known = {topic: cluster.partitions_for_topic(topic) for topic in topics}
    missing = sorted(topic for topic, parts in known.items() if parts is None)
    if missing:
        fetched = await asyncio.gather(*(producer.partitions_for(topic) for topic in missing))
        known.update(zip(missing, fetched))
    return {topic: sorted(parts) for topic, parts in known.items()}


async def _queue(producer: AIOKafkaProducer, builder: Any, topic: str, partition: int,
                 count: int) -> SentBatch:
    future = await producer.send_batch(builder, topic, partition=partition)
    return SentBatch(topic, partition, count, future)
