"""Start-up guard for faust's consumer group: every source partition gets a committed offset.

Why: after table recovery faust seeks every partition to its committed offset. For a
partition that has none, aiokafka leaves the fetch position where the prefetch left it and
drops the prefetched records, so a fresh worker can silently skip a few dozen messages (seen
here with faust-streaming 0.15.3 / aiokafka 0.14.0 on the first start after a crash). With a
committed offset the same seek only re-reads messages, which deterministic event ids make
harmless. So before a worker starts, a partition without a commit gets its log-start offset.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from services.common.logging import get_logger


async def ensure_committed_offsets(bootstrap: str, group_id: str, topics: list[str]) -> int:
    """Commit the beginning offset for each partition of `topics` that has no commit in
    `group_id`; returns how many were committed. A group that is already running (and so
    refuses an outside commit) is left alone."""
    # The consumer's own metadata only covers assigned topics: ask the admin client.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described
           if d.get("error_code", 0) == 0 for p in d["partitions"]]
    if not tps:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        missing = [tp for tp in tps if await consumer.committed(tp) is None]
        if not missing:
            return 0
        begins = await consumer.beginning_offsets(missing)
        await consumer.commit({tp: OffsetAndMetadata(begins[tp], "") for tp in missing})
        return len(missing)
    except KafkaError as exc:
        get_logger(group=group_id).warning("initial_offsets_not_committed", error=type(exc).__name__)
        return 0
    finally:
        await consumer.stop()
