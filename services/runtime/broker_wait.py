"""Waiting for the Kafka cluster at start-up: a worker started while the brokers are down (a
cluster restart, a node replaced) waits with bounded backoff instead of exiting at once, so
no outside supervisor is needed to bring a deployment back in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka.admin import AIOKafkaAdminClient

from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.kafka_client import aiokafka_options

FIRST_DELAY_S, MAX_DELAY_S = 0.5, 10.0


class BrokerUnavailableError(RuntimeError):
    """The cluster did not answer within LAPOR_BROKER_WAIT_S."""


async def cluster_answers(settings: Settings) -> None:
    """One metadata round trip to the cluster; raises when it cannot be had."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings),
                                request_timeout_ms=5000, client_id="lapor-broker-wait")
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


async def wait_for_broker(settings: Settings,
                          probe: Callable[[Settings], Awaitable[None]] = cluster_answers,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                          clock: Callable[[], float] = time.monotonic) -> int:
    """Probe until the cluster answers; returns the number of tries. Waits 0.5 s, then twice
    as long each time up to 10 s, and gives up after `settings.broker_wait_s`."""
    log = get_logger(bootstrap=settings.bootstrap_servers)
    deadline, delay, tries = clock() + settings.broker_wait_s, FIRST_DELAY_S, 0
    while True:
        tries += 1
        try:
            await probe(settings)
        except Exception as exc:  # any failure to connect counts: the cluster is not there yet
            left = deadline - clock()
            if left <= 0:
                log.error("broker_unreachable_giving_up", tries=tries, error=type(exc).__name__,
                          waited_s=settings.broker_wait_s)
                raise BrokerUnavailableError(
                    f"no answer from {settings.bootstrap_servers} within "
                    f"{settings.broker_wait_s:.0f} s ({tries} tries; LAPOR_BROKER_WAIT_S)") from exc
            pause = min(delay, left)
            log.warning("waiting_for_broker", tries=tries, error=type(exc).__name__,
                        retry_in_s=round(pause, 1))
            await sleep(pause)
            delay = min(delay * 2, MAX_DELAY_S)
            continue
        if tries > 1:
            log.info("broker_reachable", tries=tries)
        return tries
