"""Batched sends on the broker: keys land where aiokafka's `send` puts them, order holds per
partition, a named partition is kept, full batches spill into more, offsets are right."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from services.runtime.admin import create_topics
from services.runtime.batch_send import send_batched
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topics import TopicSpec
from tests.kafka_helpers import consume, isolated


async def _topic(settings: Settings, partitions: int = 4) -> str:
    await create_topics(settings, [TopicSpec("batch.v1", "test", partitions, 1)])
    return settings.topic("batch.v1")


async def test_keys_order_and_offsets_match_the_producer(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    topic = await _topic(settings)
    # 600 records of 4 KiB over 30 keys: more than one 16 KiB producer batch per partition.
    records = [(f"key-{i % 30}".encode(), f"{i:06d}".encode() + b"x" * 4096) for i in range(600)]
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", max_batch_size=16384)
    await producer.start()
    try:
        sent = await send_batched(producer, [(topic, k, v, None) for k, v in records])
        await asyncio.gather(*(b.future for b in sent))
        # where `send` puts the same keys, for comparison
        expected_partition = {}
        for key in sorted({k for k, _ in records}):
            ack = await producer.send(topic, key=key, value=b"probe")
            expected_partition[key] = (await ack).partition
    finally:
        await producer.stop()
    assert len(sent) > 4  # the 16 KiB batches filled up and spilled into more
    assert sum(b.count for b in sent) == 600
    got = [r for r in await consume(settings, "batch.v1", expected=600 + 30) if r.value != b"probe"]
    assert len(got) == 600
    assert all(r.partition == expected_partition[r.key] for r in got)
    assert len({r.partition for r in got}) == 4
    for key in expected_partition:  # per key, the order given
        values = [r.value[:6] for r in sorted(got, key=lambda r: r.offset) if r.key == key]
        assert values == sorted(values)
    # each partition's last batch ends at that partition's last record
    for partition in range(4):
        offsets = [r.offset for r in got if r.partition == partition]
        assert max(b.last_offset() for b in sent if b.partition == partition) == max(offsets)


async def test_a_named_partition_is_kept(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    topic = await _topic(settings, partitions=2)
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        sent = await send_batched(producer, [(topic, b"same", b"a", 0), (topic, b"same", b"b", 1),
                                             (topic, None, b"keyless", 1)])
        await asyncio.gather(*(b.future for b in sent))
        with pytest.raises(MessageSizeTooLargeError):
            await send_batched(producer, [(topic, b"k", b"x" * (1024 * 1024 + 1), None)])
    finally:
        await producer.stop()
    got = await consume(settings, "batch.v1", expected=3)
    assert sorted((r.partition, r.value) for r in got) == [
        (0, b"a"), (1, b"b"), (1, b"keyless")]


async def test_topics_first_used_in_one_batch_are_all_delivered(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    names = [f"first-use-{i}.v1" for i in range(20)]
    await create_topics(settings, [TopicSpec(n, "test", 2, 1) for n in names])
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:  # the producer knows none of them yet: their metadata is asked for together
        sent = await send_batched(producer, [(settings.topic(n), n.encode(), b"v", None) for n in names])
        await asyncio.gather(*(b.future for b in sent))
    finally:
        await producer.stop()
    got = await consume(settings, names, expected=20)
    assert sorted(r.key for r in got) == sorted(n.encode() for n in names)
