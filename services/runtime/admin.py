"""Topic administration against any Kafka cluster (a thin wrapper over aiokafka's admin)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from services.runtime.settings import Settings
from services.runtime.topics import TopicSpec
from services.runtime.kafka_client import aiokafka_options


T = TypeVar("T")
RETRY_FOR_S = 120.0  # a broker node's restart or a leader election, with room to spare


async def retry_retriable(call: Callable[[], Awaitable[T]], log: Any, what: str,
                          for_s: float = RETRY_FOR_S) -> T:
    """`call`'s result, calling it again after a retriable Kafka error (a node not ready, a
    leader moving) with growing pauses for up to `for_s` seconds; past that, or on any other
    error, the error. A worker in the middle of a batch would otherwise stop on a node's
    restart that the cluster rides out."""
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + for_s, 0.2
    while True:
        try:
            return await call()
        except KafkaError as exc:
            if not exc.retriable or loop.time() + pause > deadline:
                raise
            log.warning("kafka_retry", what=what, error=type(exc).__name__, pause_s=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


class TopicMismatchError(RuntimeError):
    """A topic exists with another partition count than the catalogue's."""


@dataclass
class CreateReport:
    created: list[str]
    unchanged: list[str]

    def summary(self) -> str:
        if not self.created:
            return f"all {len(self.unchanged)} topics already exist; nothing changed"
        return f"created {len(self.created)} topics, {len(self.unchanged)} already existed"


def _admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**aiokafka_options(settings),
                               client_id="lapor-admin", request_timeout_ms=30000)


async def existing_partitions(settings: Settings, names: list[str]) -> dict[str, int]:
    admin = _admin(settings)
    await admin.start()
    try:
        return await _partitions(admin, names)
    finally:
        await admin.close()


async def _partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    present = set(await admin.list_topics())
    wanted = [n for n in names if n in present]
    if not wanted:
        return {}
    described = await admin.describe_topics(wanted)
    return {d["topic"]: len(d["partitions"]) for d in described if d.get("error_code", 0) == 0}


class TopicCreationError(RuntimeError):
    """The broker refused a topic (its per-topic error in the CreateTopics answer)."""


async def create_topics(settings: Settings, specs: list[TopicSpec]) -> CreateReport:
    """Create missing topics; refuse a topic that exists with another partition count."""
    admin = _admin(settings)
    await admin.start()
    try:
        names = {settings.topic(s.name): s for s in specs}
        have = await _partitions(admin, list(names))
        mismatched = [
            f"{n} has {have[n]} partitions, the catalogue wants {s.partitions}"
            for n, s in names.items() if n in have and have[n] != s.partitions
        ]
        if mismatched:
            raise TopicMismatchError(
                "refusing to continue, topics exist with another partition count: "
                + "; ".join(mismatched)
                + ". Co-partitioned topics must match; migrate them or set LAPOR_PARTITIONS."
            )
        missing = [
            NewTopic(n, s.partitions, s.replication_factor, topic_configs=s.configs())
            for n, s in names.items() if n not in have
        ]
        created: list[str] = []
        if missing:
            try:
                response = await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                response = None  # another process created it between our look and our create
            # The broker answers per topic (an RF above the live brokers, say): not raised.
            failed = [f"{e[0]}: error {e[1]}" for e in getattr(response, "topic_errors", [])
                      if e[1] not in (0, TopicAlreadyExistsError.errno)]
            if failed:
                raise TopicCreationError("the broker refused to create " + "; ".join(failed))
            created = [t.name for t in missing]
        return CreateReport(created=created, unchanged=sorted(have))
    finally:
        await admin.close()


async def describe_configs(settings: Settings, name: str) -> dict[str, str]:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = _admin(settings)
    await admin.start()
    try:
        res = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        out: dict[str, str] = {}
        for response in res:
            for resource in response.resources:
                for entry in resource[4]:
                    out[entry[0]] = entry[1]
        return out
    finally:
        await admin.close()
