"""How the faust runtime takes its batches (services/runtime/faust_batches.py), on a real faust
app, topic channel and consumer that never connect: the events are put on the channel's
queue as faust's conductor puts fetched records there. The whole path on a broker runs in
every service's integration tests and the crash tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import faust
import pytest
from faust.events import Event
from faust.types.tuples import ConsumerMessage

from services.runtime.faust_batches import take_batches

SOURCE = "complaints.submitted.v1"


class Source:
    """A faust topic channel, its stream, and records put on it as the conductor delivers them."""

    def __init__(self) -> None:
        self.app = faust.App("faust-batches-test", broker="kafka://127.0.0.1:1")
        topic = self.app.topic(SOURCE, key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw")
        self.channel = topic.clone(is_iterator=True)
        self.stream = self.app.stream(self.channel)
        self.app.topics.acking_topics.add(SOURCE)
        self.app.flow_control.resume()
        self.offset = 0

    def deliver(self, n: int = 1, *, generation: int | None = None) -> list[ConsumerMessage]:
        messages = []
        for _ in range(n):
            gen = self.app.consumer_generation_id if generation is None else generation
            message = ConsumerMessage(SOURCE, 0, self.offset, 0.0, 0, {}, b"k", b"v", None,
                                      generation_id=gen)
            message.incref()  # the conductor's reference for this channel
            self.channel.queue.put_nowait(Event(self.app, b"k", b"v", {}, message))
            messages.append(message)
            self.offset += 1
        return messages

    def batches(self, max_: int = 500, within: float = 30.0,
                idle: float = 0.01) -> AsyncGenerator[list[Any], None]:
        return take_batches(self.stream, max_, within, idle)


@pytest.fixture
def source() -> Iterator[Source]:
    yield Source()


def offsets(batch: list[Any]) -> list[int]:
    return [e.message.offset for e in batch]


async def test_what_is_queued_comes_in_order_in_batches_of_at_most_max(source: Source) -> None:
    source.deliver(7)
    seen = []
    async for batch in source.batches(max_=3):
        seen.append(offsets(batch))
        if batch[-1].message.offset == 6:
            break
    assert seen == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_lone_record_waits_for_the_idle_gap_not_the_window(source: Source) -> None:
    source.deliver(1)
    batches = source.batches(within=30.0, idle=0.01)
    # The window is 30 s: only the idle gap can close this batch within the 5 s allowed.
    assert offsets(await asyncio.wait_for(anext(batches), 5)) == [0]


async def test_records_arriving_within_the_gap_join_the_batch(source: Source) -> None:
    source.deliver(1)

    async def trickle() -> None:
        for _ in range(4):
            await asyncio.sleep(0.005)
            source.deliver(1)

    feeding = asyncio.ensure_future(trickle())
    batch = await asyncio.wait_for(anext(source.batches(within=30.0, idle=0.2)), 5)
    await feeding
    assert offsets(batch) == [0, 1, 2, 3, 4]


async def test_the_window_closes_a_batch_that_keeps_growing(source: Source) -> None:
    stop = asyncio.Event()

    async def stream_forever() -> None:
        while not stop.is_set():
            source.deliver(1)
            await asyncio.sleep(0.002)

    feeding = asyncio.ensure_future(stream_forever())
    try:
        # A gap of 10 s never comes; only the 0.1 s window can close the batch within 5 s.
        batch = await asyncio.wait_for(anext(source.batches(within=0.1, idle=10.0)), 5)
    finally:
        stop.set()
        await feeding
    assert len(batch) > 1 and offsets(batch) == list(range(len(batch)))


async def test_records_are_acked_only_once_their_batch_is_handled(source: Source) -> None:
    messages = source.deliver(2)
    batches = source.batches()
    await anext(batches)
    # Being handled: tracked by the consumer (its offsets not committable yet), not acked.
    assert all(m in source.app.consumer.unacked and not m.acked for m in messages)
    later = source.deliver(1)
    assert offsets(await anext(batches)) == [2]  # asking for the next batch ends this one
    assert all(m.acked and m not in source.app.consumer.unacked for m in messages)
    assert not later[0].acked


async def test_a_batch_whose_handling_raised_stays_unacked(source: Source) -> None:
    # The agent leaves the loop when handling raised (faust_runtime crashes the worker): the
    # batch must not be acked, or the consumer would commit past records whose outputs were
    # never sent (the fault campaign lost a router batch so, on a broker node's restart).
    messages = source.deliver(2)
    batches = source.batches()
    await anext(batches)
    await batches.aclose()
    assert all(not m.acked and m in source.app.consumer.unacked for m in messages)


async def test_records_from_before_a_rebalance_are_dropped_and_acked(source: Source) -> None:
    stale = source.deliver(2, generation=source.app.consumer_generation_id - 1)
    source.deliver(1)
    batch = await asyncio.wait_for(anext(source.batches()), 5)
    assert offsets(batch) == [2]
    # Acked (nothing waits on them), never tracked: the new owner reads them from the commit.
    assert all(m.acked and m not in source.app.consumer.unacked for m in stale)


async def test_while_faust_holds_the_flow_nothing_joins_a_batch(source: Source) -> None:
    source.app.flow_control.suspend()  # as during a rebalance
    held = source.deliver(1)
    taking = asyncio.ensure_future(anext(source.batches()))
    await asyncio.sleep(0.05)
    assert held[0].acked and not taking.done()  # dropped, and the batch still waits
    source.app.flow_control.resume()
    source.deliver(1)
    assert offsets(await asyncio.wait_for(taking, 5)) == [1]
