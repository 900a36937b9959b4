"""Committing a consumer group's offsets while partitions may be moving.

A rebalance can begin while a batch is being handled: a worker joined or left, or a topic
that the group's pattern matches was created (an agency provisioned while the stage runs).
aiokafka then has no assignment (`IllegalStateError`) or a newer generation
(`CommitFailedError`), and the commit is refused. That is no fault of the batch: its outputs
were sent under deterministic ids, and whoever holds the partition next starts from the last
committed offset and repeats them (at-least-once). So the worker goes on; before this, the
status gate exited on it whenever an agency was provisioned under load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata, TopicPartition


async def commit_held(consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, OffsetAndMetadata],
                      log: Any) -> dict[TopicPartition, OffsetAndMetadata]:
    """Commit the offsets of the partitions this member still holds; what it committed.
    A commit refused because the group is rebalancing commits nothing and is logged."""
    held = consumer.assignment()  # empty while the group rebalances
    mine = {tp: o for tp, o in offsets.items() if tp in held}
    if len(mine) < len(offsets):
        log.warning("commit_skipped_rebalance", partitions=len(offsets) - len(mine), error="not_held")
    if not mine:
        return {}
    try:
        await consumer.commit(mine)
    except (IllegalStateError, CommitFailedError) as exc:
        log.warning("commit_skipped_rebalance", partitions=len(mine), error=type(exc).__name__)
        return {}
    return mine
