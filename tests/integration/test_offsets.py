"""The start-up guard commits a start offset for every source partition without one."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from services.runtime.faust_patches import ensure_committed_offsets
from services.runtime.settings import Settings
from services.runtime.kafka_client import aiokafka_options
from tests.kafka_helpers import create_contract_topics, isolated, produce


async def test_partitions_without_a_commit_get_their_start_offset(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    await produce(settings, "complaints.submitted.v1", [(b"k", b"{}")])
    group, topic = f"{settings.topic_prefix}g", settings.topic("complaints.submitted.v1")
    assert await ensure_committed_offsets(settings, group, [topic]) == settings.partitions
    assert await ensure_committed_offsets(settings, group, [topic]) == 0  # idempotent
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    assert sorted((tp.partition, meta.offset) for tp, meta in offsets.items()) == [
        (p, 0) for p in range(settings.partitions)]
