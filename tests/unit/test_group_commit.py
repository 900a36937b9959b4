"""A commit while the group rebalances: refused by aiokafka, and no reason to stop a worker.
The consumer here is a real aiokafka consumer that has subscribed but holds no assignment,
which is its state between a revocation and the next assignment (no broker is needed for
that state: aiokafka refuses before it sends anything)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import IllegalStateError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from services.runtime.group_commit import commit_held

TP = TopicPartition("agency-status.pln.v1", 0)


class Notes:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


async def test_a_commit_while_partitions_move_is_skipped_and_noted() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", group_id="g")
    consumer.subscribe(topics=[TP.topic])
    with pytest.raises(IllegalStateError, match="No partitions assigned"):  # what crashed the gate
        await consumer.commit({TP: OffsetAndMetadata(5, "")})
    notes = Notes()

    assert await commit_held(consumer, {TP: OffsetAndMetadata(5, "")}, notes) == {}
    assert notes.lines == [("commit_skipped_rebalance", {"partitions": 1, "error": "not_held"})]
    notes.lines.clear()

    # Held when the worker looked, gone by the commit (the rebalance began in between).
    consumer.assignment = lambda: {TP}
    assert await commit_held(consumer, {TP: OffsetAndMetadata(5, "")}, notes) == {}
    assert notes.lines == [("commit_skipped_rebalance", {"partitions": 1, "error": "IllegalStateError"})]
    await consumer.stop()
