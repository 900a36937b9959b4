"""How a worker process that is not a faust app runs: JSON logging, the wait for the cluster,
then its `serve` until SIGTERM or SIGINT sets the event it was given (it then stops cleanly:
commits what is done, closes its clients)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from services.runtime.broker_wait import wait_for_broker
from services.runtime.logging import configure_logging
from services.runtime.settings import Settings

Serve = Callable[[asyncio.Event], Awaitable[None]]


def run_until_signalled(service: str, settings: Settings, serve: Serve) -> None:
    configure_logging(service, settings.log_level)
    asyncio.run(wait_for_broker(settings))
    asyncio.run(_until_signalled(serve))


async def _until_signalled(serve: Serve) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await serve(stopping)
