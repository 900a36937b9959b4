"""Batches of faust events, read straight from the agent's channel, that close when the
input goes quiet.

faust's `Stream.take_events(max, within)` has two costs this avoids:
- It yields every `within` seconds counted from the end of the previous batch, whatever
  arrives, so at low load a lone complaint waits up to the whole window at every stage.
  Here the window opens at a batch's first event, and the batch also closes as soon as no
  event has come for `idle` seconds: a lone complaint waits about `idle`; under load the
  records keep coming and the batch fills up to `max_` or `within`, as before.
- It moves each record through the stream's generic per-event path (a turn of the event
  loop, a processor, tracing), ~70 µs a record and half of a stage's time. Here the events are
  taken from the channel's queue directly, with the bookkeeping that path does for them,
  and nothing else: stale events (from before a rebalance, or while faust holds the flow)
  are acked and dropped, every other one is tracked as unacked by the consumer, and each is
  acked (so its offset may be committed) only after the batch was handled without raising.
  A batch whose handling raised stays unacked: the consumer commits no further than it, and
  its records are read again (the agent crashes the worker: `faust_runtime`). Acking it
  would commit past records whose outputs were never sent: a loss.

faust is touched here, in `faust_runtime` and in `faust_patches` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import faust
from faust.types import ChannelT, EventT


class _Intake:
    """The per-event part of faust's `Stream.__aiter__` (0.15.3) that a batch needs."""

    def __init__(self, stream: faust.StreamT[Any]) -> None:
        if not isinstance(stream, faust.Stream):
            raise TypeError(f"a batching agent needs faust's Stream, not {type(stream).__name__}")
        self.stream = stream
        self.app = stream.app
        channel = stream.channel
        if not isinstance(channel, ChannelT):
            raise TypeError(f"a batching agent reads a topic, not {type(channel).__name__}")
        self.channel = channel
        self.queue = channel.queue
        self.unacked = self.app.consumer.unacked
        self.acking_topics = self.app.topics.acking_topics

    def admit(self, event: Any) -> bool:
        """Whether `event` joins the batch; one that may not (stale) is acked at once."""
        if not isinstance(event, EventT):
            raise TypeError(f"a topic's channel delivered {type(event).__name__}, not an event")
        message = event.message
        if (not self.app.flow_control.is_active()
                or message.generation_id != self.app.consumer_generation_id):
            # Fetched before the last rebalance, or while faust held the flow: it is read
            # again by whoever owns its partition now, from the committed offset.
            self.release(event)
            return False
        if message.topic in self.acking_topics and not message.tracked:
            message.tracked = True  # the consumer commits no further than its oldest unacked
            self.unacked.add(message)
            self.stream._on_message_in(message.tp, message.offset, message)
        self.stream._on_stream_event_in(message.tp, message.offset, self.stream, event)
        return True

    def release(self, event: EventT[Any]) -> None:
        """Ack: when this was the message's last reference, its offset may be committed."""
        message = event.message
        last = event.ack()
        self.stream._on_stream_event_out(message.tp, message.offset, self.stream, event)
        if last:
            self.stream._on_message_out(message.tp, message.offset, message)

    async def first(self) -> EventT[Any] | None:
        """The next admitted event, waiting for it as long as it takes; None once the
        channel has ended (the worker is stopping)."""
        while True:
            if self.queue.empty():
                try:
                    event = await self.channel.__anext__()
                except StopAsyncIteration:
                    # A graceful stop (SIGTERM) ends the channel. Raised through the async
                    # generator below it would become "RuntimeError: async generator raised
                    # StopAsyncIteration" and faust would log the agent as crashed.
                    return None
            else:
                event = self.queue.get_nowait()
            if self.admit(event):
                return event

    def ready(self, batch: list[EventT[Any]], max_: int) -> None:
        """Move what is already queued into `batch`, up to `max_`."""
        queue = self.queue
        while len(batch) < max_ and not queue.empty():
            event = queue.get_nowait()
            if self.admit(event):
                batch.append(event)


async def take_batches(stream: faust.StreamT[Any], max_: int, within: float,
                       idle: float) -> AsyncGenerator[list[EventT[Any]], None]:
    """Batches of up to `max_` events, each closed `within` seconds after its first event or
    once nothing has come for `idle` seconds. An event is acked once its batch is handled
    (the consumer of the batch asked for the next one); never when its handling raised."""
    loop = asyncio.get_running_loop()
    intake = _Intake(stream)
    stream.enable_acks = False  # this stream is never iterated; its events are acked here
    while not stream.should_stop:
        first = await intake.first()
        if first is None:
            return
        batch = [first]
        deadline = loop.time() + within
        while True:
            intake.ready(batch, max_)
            left = deadline - loop.time()
            if len(batch) >= max_ or left <= 0:
                break
            await asyncio.sleep(min(idle, left))
            if intake.queue.empty():
                break  # nothing came for `idle`: take what there is
        yield batch  # an exception thrown in here leaves the batch unacked, and ends the batches
        for event in batch:
            intake.release(event)
