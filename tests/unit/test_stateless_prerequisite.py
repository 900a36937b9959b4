"""A stateless worker with a prerequisite (the disposition stage's units) polls nothing
before the prerequisite has been read to its end, says so on /health/, and stops when the
prerequisite fails. The Kafka client is a stand-in here: what is checked is the order."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from services.runtime import stateless_runtime
from services.runtime.settings import Settings
from services.runtime.stage import Outcome, Stage
from services.runtime.stateless_runtime import StatelessWorker


class FakeConsumer:
    started: list[FakeConsumer] = []

    def __init__(self, **_: Any) -> None:
        self.polls = 0

    def subscribe(self, pattern: str) -> None:
        del pattern

    async def start(self) -> None:
        FakeConsumer.started.append(self)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        self.polls += 1
        await asyncio.sleep(0.01)
        return {}

    async def stop(self) -> None:
        pass


class FakeProducer:
    def __init__(self, **_: Any) -> None:
        pass

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class Prerequisite:
    """Reads until told it caught up (or fails when told to)."""

    def __init__(self) -> None:
        self.caught_up = asyncio.Event()
        self.fail = asyncio.Event()
        self.reading = asyncio.Event()  # the positive marker: the worker started to read it

    async def run(self, stopping: asyncio.Event) -> None:
        self.reading.set()
        while not stopping.is_set():
            if self.fail.is_set():
                raise ConnectionError("units topic gone")
            await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def fake_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeConsumer.started = []
    monkeypatch.setattr(stateless_runtime, "AIOKafkaConsumer", FakeConsumer)
    monkeypatch.setattr(stateless_runtime, "AIOKafkaProducer", FakeProducer)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(prerequisite: Prerequisite, port: int) -> StatelessWorker:
    stage = Stage("disposition", (), (), lambda r, s: Outcome(), input_families=("agency.{agency_id}.complaints.v1",))
    return StatelessWorker(stage, Settings(web_port=port, kafka_security="PLAINTEXT"),
                           prerequisite=prerequisite)


async def until(condition: Callable[[], bool], serving: asyncio.Task[None],
                bound_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + bound_s
    while not condition():
        if serving.done():
            serving.result()  # its error, if it failed
            raise AssertionError("the worker ended")
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def health(port: int) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/health/") as answer:
            return answer.status, (await answer.json())["status"]


async def test_nothing_is_polled_before_the_prerequisite_is_read_to_its_end() -> None:
    port, prerequisite, stopping = free_port(), Prerequisite(), asyncio.Event()
    serving = asyncio.create_task(worker(prerequisite, port).serve(stopping))
    # The positive marker: the site answers while the prerequisite is being read ...
    await until(lambda: _answers(port), serving)
    assert await health(port) == (503, "starting")
    assert FakeConsumer.started == []  # ... and no consumer started meanwhile
    prerequisite.caught_up.set()
    await until(lambda: bool(FakeConsumer.started) and FakeConsumer.started[0].polls > 0, serving)
    assert await health(port) == (200, "ok")
    stopping.set()
    await asyncio.wait_for(serving, 10)


async def test_a_prerequisite_that_fails_before_or_after_its_end_stops_the_worker() -> None:
    before, stopping = Prerequisite(), asyncio.Event()
    before.fail.set()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(worker(before, free_port()).serve(stopping), 10)
    assert FakeConsumer.started == []

    after = Prerequisite()
    after.caught_up.set()
    serving = asyncio.create_task(worker(after, free_port()).serve(stopping))
    await until(lambda: bool(FakeConsumer.started) and FakeConsumer.started[0].polls > 0, serving)
    after.fail.set()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(serving, 10)


async def test_stopped_while_reading_the_prerequisite_it_ends_without_polling() -> None:
    stopping, prerequisite = asyncio.Event(), Prerequisite()
    serving = asyncio.create_task(worker(prerequisite, free_port()).serve(stopping))
    await asyncio.wait_for(prerequisite.reading.wait(), 10)  # it is reading the prerequisite
    stopping.set()
    await asyncio.wait_for(serving, 10)
    assert FakeConsumer.started == []


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
