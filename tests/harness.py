"""The same test bodies on two runtimes (the FastStream way): `memory` runs the services'
real stages on the in-memory runtime (no broker, fast), `broker` runs them as worker
processes on the real Kafka broker. A body publishes, reads topics and reads the log notes
through a Harness, and never knows which one it has."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol

import pytest

from services.intake.compose import build as build_intake
from services.router.compose import build as build_router
from services.runtime.memory import MemoryTopics, MemoryWorker, run_until_idle
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.runtime.topics import TICKS, agency_of_status_topic, channel_of_reporter_status_topic
from services.tools.access_plan import agency_user, channel_user
from services.tools.broker_security import as_principal
from services.sla_monitor.compose import build as build_sla
from services.status_gate.compose import build as build_status_gate
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.workers import running

Records = list[tuple[bytes | None, bytes | None]]
BUILDERS: dict[str, Callable[[Settings], Stage]] = {
    "intake": build_intake, "router": build_router, "sla_monitor": build_sla,
    "status_gate": build_status_gate}


class Harness(Protocol):
    settings: Settings

    async def publish(self, topic: str, records: Records, timestamp_s: float | None = None) -> None: ...

    async def tick(self, as_of: str) -> None: ...

    async def live_keys(self, store: str) -> set[str]: ...

    async def read(self, topic: str, expected: int | None = None,
                   timeout_s: float = 60) -> list[tuple[bytes | None, bytes]]: ...

    def log_text(self) -> str: ...

    async def state_text(self) -> str: ...


class MemoryHarness:
    def __init__(self, settings: Settings, services: list[str]):
        self.settings = settings
        self.topics = MemoryTopics(settings.partitions)
        self.workers = [MemoryWorker(BUILDERS[s](settings), self.topics, settings.batch_max)
                        for s in services]

    async def publish(self, topic: str, records: Records, timestamp_s: float | None = None) -> None:
        for key, value in records:
            self.topics.publish(topic, key, value, timestamp=timestamp_s)

    async def tick(self, as_of: str) -> None:
        for p in range(self.settings.partitions):
            self.topics.publish(TICKS, None, json.dumps({"as_of": as_of}).encode(), partition=p)

    async def live_keys(self, store: str) -> set[str]:
        """The keys a store holds now."""
        run_until_idle(self.workers)
        return {k for w in self.workers for k in w.stores.get(store, {})}

    async def read(self, topic: str, expected: int | None = None,
                   timeout_s: float = 60) -> list[tuple[bytes | None, bytes]]:
        run_until_idle(self.workers)
        return [(r.key, r.value or b"") for r in self.topics.read(topic)]

    def log_text(self) -> str:
        """What the faust runtime would log: every note, with its fields."""
        return "\n".join(json.dumps({"event": n.event, **n.fields}, default=str)
                         for w in self.workers for res in w.results for _, n in res.notes)

    async def state_text(self) -> str:
        """Everything the services' stores hold."""
        run_until_idle(self.workers)
        return json.dumps([w.stores for w in self.workers], ensure_ascii=False)


class BrokerHarness:
    def __init__(self, settings: Settings, logs: list[Path], services: list[str]):
        self.settings, self._logs, self._services = settings, logs, services

    async def publish(self, topic: str, records: Records, timestamp_s: float | None = None) -> None:
        await produce(self._writer(topic), topic, records, timestamp_s=timestamp_s)  # type: ignore[arg-type]

    def _writer(self, topic: str) -> Settings:
        """Who writes `topic`: an agency's statuses come from that agency's principal, a
        reporter's from their channel's (so the test goes through the ACLs as deployed); other
        inputs from the operator's."""
        agency = agency_of_status_topic(topic)
        if agency is not None:
            return as_principal(self.settings, agency_user(self.settings, agency))
        channel = channel_of_reporter_status_topic(topic)
        if channel is not None:
            return as_principal(self.settings, channel_user(self.settings, channel.value))
        return self.settings

    async def tick(self, as_of: str) -> None:
        for p in range(self.settings.partitions):
            await produce(self.settings, TICKS, [(None, json.dumps({"as_of": as_of}).encode())], partition=p)

    async def live_keys(self, store: str) -> set[str]:
        """The keys a store's changelog holds now (the last record per key, not a tombstone):
        what a restarted worker would recover."""
        names = [f"lapor-{svc}-{store}-changelog" for svc in self._services
                 if store in {s.value for s in BUILDERS[svc](self.settings).stores}]
        last: dict[str, bytes | None] = {}
        for r in await consume(self.settings, names, timeout_s=10, quiet_s=2):
            last[json.loads(r.key)] = r.value
        return {k for k, v in last.items() if v is not None}

    async def read(self, topic: str, expected: int | None = None,
                   timeout_s: float = 60) -> list[tuple[bytes | None, bytes]]:
        records = await consume(self.settings, topic, expected=expected, timeout_s=timeout_s)
        return [(r.key, r.value) for r in records]

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self._logs if p.exists())

    async def state_text(self) -> str:
        """Everything the services' changelog topics hold (what a restarted worker recovers)."""
        names = [f"lapor-{svc}-{store.value}-changelog" for svc in self._services
                 for store in BUILDERS[svc](self.settings).stores]
        records = await consume(self.settings, names, timeout_s=10, quiet_s=2)
        return "\n".join(f"{r.key!r} {r.value!r}" for r in records)


@asynccontextmanager
async def harness(request: pytest.FixtureRequest, runtime: str, services: list[str],
                  tmp_path: Path, agencies: tuple[str, ...] = (),
                  **settings_update: object) -> AsyncIterator[Harness]:
    """`services` running on `runtime` ("memory" or "broker"), on fresh topics; on the
    broker, `agencies` are provisioned (their principals and status topics)."""
    if runtime == "memory":
        yield MemoryHarness(Settings(partitions=2, **settings_update), services)  # type: ignore[arg-type]
        return
    base: Settings = request.getfixturevalue("broker_settings")
    settings = isolated(base).model_copy(update=settings_update)
    await create_contract_topics(settings, list(agencies))
    async with AsyncExitStack() as stack:
        workers = [stack.enter_context(running(s, settings, tmp_path)) for s in services]
        yield BrokerHarness(settings, [w.log_path for w in workers], services)
