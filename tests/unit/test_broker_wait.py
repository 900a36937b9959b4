"""Waiting for the cluster at start-up: bounded backoff, then a clear error."""

from __future__ import annotations

import pytest

from services.runtime.broker_wait import BrokerUnavailableError, wait_for_broker
from services.runtime.settings import Settings


class FakeTime:
    def __init__(self) -> None:
        self.now, self.pauses = 0.0, []  # type: ignore[var-annotated]

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def failing_until(answers_at_try: int):  # type: ignore[no-untyped-def]
    tries = 0

    async def probe(_: Settings) -> None:
        nonlocal tries
        tries += 1
        if tries < answers_at_try:
            raise ConnectionRefusedError("no broker yet")

    return probe


async def test_waits_with_doubling_pauses_until_the_cluster_answers() -> None:
    t = FakeTime()
    tries = await wait_for_broker(Settings(broker_wait_s=300), failing_until(8), t.sleep, t.clock)
    assert tries == 8
    assert t.pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]  # capped at 10 s


async def test_an_answering_cluster_costs_no_wait() -> None:
    t = FakeTime()
    assert await wait_for_broker(Settings(), failing_until(1), t.sleep, t.clock) == 1
    assert t.pauses == []


async def test_gives_up_after_the_limit_with_a_clear_error() -> None:
    t = FakeTime()
    with pytest.raises(BrokerUnavailableError, match="within 12 s"):
        await wait_for_broker(Settings(broker_wait_s=12), failing_until(10**6), t.sleep, t.clock)
    assert sum(t.pauses) == pytest.approx(12)  # never waits past the limit
