"""A real worker started on changelogs that hold given table contents: the seconds to
"Worker ready" (used by bench/year.py --restart)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.sla_recovery import wait_for
from services.runtime.admin import create_topics
from services.tools.access import provision
from services.runtime.memory import partition_for
from services.runtime.settings import Settings
from services.runtime.topics import TopicSpec, catalogue
from services.runtime.kafka_client import aiokafka_options
from tests.workers import WorkerProcess


def partition_of_key(store: str, key: str, value: Any, partitions: int) -> int:
    """Where the worker keeps a table key: its source record's partition. Complaint keys
    follow the complaint id's hash; the per-partition keys name their partition."""
    if isinstance(value, dict) and isinstance(value.get("partition"), int):
        return int(value["partition"])
    head = key.removeprefix("pending:").removeprefix("expiry:").removeprefix("accepted:").removeprefix("rules:")
    for sep in (":", "|"):
        first = head.split(sep)[0]
        if first.isdigit() and first != head:
            return int(first)
    if key.isdigit():
        return int(key)
    return partition_for(head.encode(), partitions)


async def _write(settings: Settings, service: str, stores: dict[str, dict[str, Any]]) -> int:
    specs = [*catalogue(settings), *(TopicSpec(f"lapor-{service}-{store}-changelog", "table key",
                                               settings.partitions, settings.replication_factor,
                                               cleanup_policy="compact") for store in stores)]
    await create_topics(settings, specs)
    await provision(settings, [])  # the worker's principal
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all",
                                linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    written = 0
    try:
        for store, table in stores.items():
            topic = settings.topic(f"lapor-{service}-{store}-changelog")
            for key, value in table.items():
                p = partition_of_key(store, key, value, settings.partitions)
                await producer.send(topic, json.dumps(value).encode(), key=json.dumps(key).encode(), partition=p)
                written += 1
        await producer.flush()
    finally:
        await producer.stop()
    return written


def time_to_ready(base: Settings, service: str, stores: dict[str, dict[str, Any]]) -> float:
    settings = base.model_copy(update={"topic_prefix": f"yr{uuid.uuid4().hex[:6]}.", "web_enabled": False})
    asyncio.run(_write(settings, service, stores))
    logs = Path(tempfile.mkdtemp())
    worker = WorkerProcess(service, settings, logs / f"{service}.log")
    try:
        return wait_for(logs / f"{service}.log", "Worker ready", 1800)
    finally:
        worker.stop()
