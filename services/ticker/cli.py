"""`lapor ticker` and `lapor tick`: the ticker's own commands, registered with the `lapor` CLI
through the `lapor.commands` entry point (the CLI never imports a service)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import Tick
from services.runtime.settings import Settings
from services.runtime.topics import TICKS
from services.runtime.kafka_client import aiokafka_options
from services.ticker.ticker import accelerated_clock, publish_tick, run_ticker


def _ticker(args: argparse.Namespace, settings: Settings) -> int:
    if args.interval is not None:
        settings = settings.model_copy(update={"tick_interval_s": args.interval})
    clock = None
    if args.speed != 1.0 or args.start:
        start = datetime.fromisoformat(args.start) if args.start else datetime.now(UTC)
        clock = accelerated_clock(start, args.speed)
    asyncio.run(run_ticker(settings, clock, args.count, args.lag))
    return 0


def _tick(args: argparse.Namespace, settings: Settings) -> int:
    as_of = Tick.model_validate({"as_of": args.as_of}).as_of

    async def once() -> int:
        producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
        await producer.start()
        try:
            return await publish_tick(producer, settings.topic(TICKS), as_of)
        finally:
            await producer.stop()

    print(f"tick {as_of.isoformat()} sent to {asyncio.run(once())} partitions")
    return 0


def register(sub: Any) -> None:
    tk = sub.add_parser("ticker", help="publish SLA ticks to every partition, every few seconds")
    tk.add_argument("--interval", type=float, default=None, help="seconds between ticks")
    tk.add_argument("--speed", type=float, default=1.0, help="event-time speed-up (demo)")
    tk.add_argument("--start", default=None, help="event time of the first tick (RFC 3339)")
    tk.add_argument("--count", type=int, default=None, help="stop after this many ticks")
    tk.add_argument("--lag", type=float, default=0.0, help="hold ticks back by seconds")
    tk.set_defaults(handler=_ticker)

    t1 = sub.add_parser("tick", help="publish one tick")
    t1.add_argument("as_of", help="RFC 3339 time with offset")
    t1.set_defaults(handler=_tick)
